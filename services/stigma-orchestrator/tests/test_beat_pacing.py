"""The keeper's pacing: how many beats in flight, which caller's beat comes next, and the
loop that starts them (its RPCs replaced by a beat that takes a set time, the way a slow
server answers)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from agent_contract import CallerProgress, KeptCaller, Phase
from stigma_orchestrator.beat_pacing import CEILING, FLOOR, BeatPacer
from stigma_orchestrator.keeper import CallerKeeper, _Kept, _Shard
from stigma_orchestrator.settings import OrchestratorSettings


def test_an_idle_or_fast_shard_keeps_the_floor() -> None:
    pacer = BeatPacer()
    assert pacer.limit == FLOOR
    pacer.need([20.0] * 1000)  # 50 beats/s at the first guess of 50 ms: 5 in flight
    assert pacer.limit == FLOOR


def test_the_limit_carries_the_beats_due_at_the_latency_seen_twice_over() -> None:
    # The 17-minute run of docs/scaling.md: 2,500 callers beaten every 20 s, 0.5 s a beat.
    # 64 in flight carried 128 beats/s against 125 needed, and callers fell behind.
    pacer = BeatPacer()
    pacer.need([20.0] * 2500)
    for _ in range(200):
        pacer.observe(0.5)
    assert abs(pacer.latency - 0.5) < 0.01
    assert pacer.limit == 125  # 125 beats/s x 0.5 s x 2
    pacer.need([20.0] * 10_000)
    assert pacer.limit == 500


def test_the_limit_stops_at_the_ceiling_and_follows_the_latency_down() -> None:
    pacer = BeatPacer()
    pacer.need([2.0] * 10_000)
    for _ in range(200):
        pacer.observe(3.0)
    assert pacer.limit == CEILING
    for _ in range(200):
        pacer.observe(0.005)  # 5,000 beats/s x 5 ms x 2: 50
    assert pacer.limit == FLOOR


def test_the_estimate_moves_a_twentieth_of_the_way_per_beat() -> None:
    pacer = BeatPacer(latency=1.0)
    pacer.observe(2.0)
    assert abs(pacer.latency - 1.05) < 1e-9
    pacer.observe(-1.0)  # a clock that stepped back reads as 0, never negative
    assert 0 < pacer.latency < 1.05


def _kept(n: int) -> _Kept:
    caller = KeptCaller(
        namespace="default",
        workflow_id=f"caller-{n}",
        run_id="run",
        activity_id="1",
        attempt=1,
        fingerprint=f"fp-{n}",
        expires_at="2030-01-01T00:00:00+00:00",
        heartbeat_timeout_ms=6000,
    )
    progress = CallerProgress(execution_id=f"agent-{n}", phase=Phase.RUNNING.value)
    return _Kept(caller=caller, execution_id=f"agent-{n}", due=0.0, progress=progress)


async def test_the_schedule_yields_due_beats_earliest_first_and_skips_stale_entries() -> None:
    shard = _Shard(lo=0, hi=1, label="0/1")
    a, b, c = _kept(1), _kept(2), _kept(3)
    for kept, due in ((a, 5.0), (b, 1.0), (c, 3.0)):
        shard.kept[kept.caller.fingerprint] = kept
        shard.plan(kept, due)
    assert shard.changed.is_set()  # a new caller may be due before the keeper's next wake
    shard.plan(c, 10.0)  # planned again: its entry at 3.0 no longer counts
    del shard.kept[a.caller.fingerprint]  # let go of by a full listing
    assert shard.next_due_at() == 1.0
    assert shard.next_due(0.5) is None
    assert shard.next_due(6.0) is b
    assert shard.next_due(6.0) is None  # a's entry is a caller let go of, c's is stale
    assert shard.next_due_at() == 10.0
    assert shard.next_due(10.0) is c
    assert shard.next_due_at() is None


def test_beats_stalled_in_flight_raise_the_limit_before_any_of_them_ends() -> None:
    # A keeper that starts on a saturated server: 64 beats out, none back after 3 s.
    pacer = BeatPacer()
    pacer.need([2.0] * 150)  # 75 beats/s
    assert pacer.limit == FLOOR
    assert pacer.limit_if_slower(3.0) == 450  # 75 x 3 s x 2
    assert pacer.limit_if_slower(0.01) == FLOOR  # never below what the estimate gives


def test_the_bounds_come_from_the_settings_and_must_be_in_order() -> None:
    settings = OrchestratorSettings(keeper_beats_in_flight_min=4, keeper_beats_in_flight_max=8)
    assert (settings.keeper_beats_in_flight_min, settings.keeper_beats_in_flight_max) == (4, 8)
    assert OrchestratorSettings().keeper_beats_in_flight_min == FLOOR
    assert OrchestratorSettings().keeper_beats_in_flight_max == CEILING
    with pytest.raises(ValidationError, match="KEEPER_BEATS_IN_FLIGHT_MAX"):
        OrchestratorSettings(keeper_beats_in_flight_min=100, keeper_beats_in_flight_max=10)


class _TimedKeeper(CallerKeeper):
    """The keeper's loop, with each beat an answer that takes ``latency`` seconds."""

    def __init__(self, client: Client, latency: float) -> None:
        super().__init__(client, sweep=timedelta(seconds=2), progress_every=6)
        self.latency = latency
        self.started: list[tuple[float, str]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def _beat(self, kept: _Kept) -> bool:
        loop = asyncio.get_running_loop()
        self.started.append((loop.time(), kept.caller.fingerprint))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        return True


async def _keeper(latency: float) -> _TimedKeeper:
    # Never connected: the beats above make no RPC.
    return _TimedKeeper(await Client.connect("127.0.0.1:1", lazy=True), latency)


async def test_a_caller_taken_on_while_the_keeper_waits_is_beaten_when_due() -> None:
    # The keeper lists beside its beats; a caller it takes on while its loop waits for
    # the next beat must wake it (waiting out the loop put 3 s callers past their timeout).
    keeper = await _keeper(latency=0.01)
    shard = _Shard(lo=0, hi=1, label="0/1")
    loop = asyncio.get_running_loop()
    started = loop.time()
    beating = asyncio.create_task(
        ActivityEnvironment().run(keeper._beat_until, shard, started + 2.0, 10.0)
    )
    await asyncio.sleep(0.3)
    late = _kept(1)
    shard.kept[late.caller.fingerprint] = late
    due = loop.time() + 0.2
    shard.plan(late, due)
    await beating
    first = [at for at, fingerprint in keeper.started if fingerprint == "fp-1"]
    # Once, when due; the next comes 0.85-1.0 of its beat interval (2 s) later.
    assert len(first) == 1
    assert first[0] - due < 0.1, (first, due)


async def test_beats_stalled_on_the_server_let_more_out_up_to_what_the_callers_need() -> None:
    # 40 callers beaten every 2 s (20 a second) at 1 s a beat: 20 in flight, 40 with the
    # headroom, against a floor of 4. Held at 4 they would be beaten every 10 s.
    keeper = await _keeper(latency=1.0)
    shard = _Shard(lo=0, hi=1, label="0/1", pacer=BeatPacer(floor=4, ceiling=100))
    now = asyncio.get_running_loop().time()
    for n in range(40):
        kept = _kept(n)
        shard.kept[kept.caller.fingerprint] = kept
        shard.plan(kept, now)
    shard.pacer.need([2.0] * 40)
    await ActivityEnvironment().run(keeper._beat_until, shard, now + 3.5, 10.0)
    for task in shard.beating:
        task.cancel()
    beaten = {fingerprint for _, fingerprint in keeper.started}
    assert len(beaten) == 40  # every caller within 3.5 s, not 4 a second
    assert 4 < keeper.most_in_flight <= 40
