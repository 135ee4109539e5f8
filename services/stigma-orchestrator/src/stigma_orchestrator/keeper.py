"""The caller keeper: one long activity per shard beats every pending caller of the shard.

Revision-4 runs hold no activity while a caller waits (docs/adr/0020). Once a caller has
waited past its first beat, its run publishes it (ids only, never the token) in its memo,
with the progress the caller is shown, and its keeper bucket as a search attribute. The
keeper of that bucket's shard:

- lists its shard's runs with waiting callers every sweep (one paged visibility call);
- checks each new caller once (a pending CallAgent at the signed attempt, docs/adr/0013),
  then heartbeats it every third of its heartbeat timeout, jittered, with the progress,
  as many beats in flight as the callers need at the latency seen (beat_pacing);
- signals the run when a caller asks to cancel, or is gone while the agent runs;
- fails the callers of runs Temporal closed without delivering (terminated, timed out).

A pending call then costs its beats and nothing else: no activity slot, no self-heartbeat,
no query. A killed orchestrator's keeper activity times out and resumes on another one,
which starts with a sweep and beats every listed caller at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import random
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import (
    AsyncActivityCancelledError,
    AsyncActivityHandle,
    Client,
    WorkflowExecution,
)
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from agent_contract import (
    CALLER_BUCKETS,
    CALLER_KEEPER_WORKFLOW,
    CALLER_PROGRESS_MEMO,
    CALLER_REPORT_SIGNAL,
    KEEP_CALLERS_ACTIVITY,
    KEEPER_TASK_QUEUE,
    KEPT_CALLERS_MEMO,
    KEPT_CALLERS_QUERY,
    NEW_KEPT_CALLERS_QUERY,
    ORPHANED_CALLERS_QUERY,
    CallerProgress,
    CallerReport,
    CallerVerdict,
    KeeperShard,
    KeptCaller,
    Phase,
    keeper_workflow_id,
)
from service_kit import log_context
from stigma_orchestrator.beat_pacing import CEILING, FLOOR, BeatPacer
from stigma_orchestrator.callbacks import fail_orphaned, running_step
from stigma_orchestrator.callers import CallerGone, CallerRefused, Callers
from stigma_orchestrator.metrics import OrchestratorMetrics
from stigma_orchestrator.visibility import KEPT_SINCE, PENDING_CALLBACKS

logger = logging.getLogger(__name__)

# Temporal answers these when an activity or workflow no longer exists.
_GONE = frozenset({RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT})
# How far back a keeper that starts looks for runs closed without delivering: a caller
# whose run closed longer ago has timed out and retried by now (its heartbeat timeout).
ORPHAN_LOOKBACK = timedelta(minutes=15)
# Overlap between two sweeps: what a run writes reaches visibility a little late.
VISIBILITY_LAG = timedelta(seconds=30)
# Each sweep lists only the callers published since the last one; the whole shard is
# listed this often (and by a keeper that starts), to let go of callers whose run no
# longer publishes them and to refresh the progress the callers are shown.
FULL_LISTING = timedelta(seconds=30)
# How often a keeper with every beat slot taken looks whether the beats in flight stall.
STALL_CHECK = 0.5
LIST_PAGE = 1000
RPC_TIMEOUT = timedelta(seconds=10)
# A keeper activity returns after this and its workflow continues as new: its history
# stays a handful of events, and a changed setting reaches it within the hour.
KEEPER_TERM = timedelta(hours=1)
# Retried for ever: the shard's callers depend on it.
KEEPER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=5)
)


@dataclass
class _Kept:
    """One caller this keeper beats."""

    caller: KeptCaller
    execution_id: str
    due: float
    progress: CallerProgress
    handle: AsyncActivityHandle | None = None
    beats: int = 0
    cancel_reported: bool = False
    partial: dict[str, Any] = field(default_factory=dict)
    partial_at_step: int = -1


@dataclass
class _Shard:
    """What a keeper activity knows: rebuilt from visibility by every attempt."""

    lo: int
    hi: int
    label: str
    kept: dict[str, _Kept] = field(default_factory=dict)
    # Callers found gone or refused: never beaten again while their run still lists them.
    dropped: set[str] = field(default_factory=set)
    orphans_handled: set[str] = field(default_factory=set)
    orphans_since: datetime = field(default_factory=lambda: datetime.now(UTC) - ORPHAN_LOOKBACK)
    listed_since: datetime | None = None
    """Start of the last sweep, less the lag (None: list the whole shard next)."""
    full_listing_due: float = 0.0
    schedule: list[tuple[float, int, _Kept]] = field(default_factory=list)
    """The next beat of each caller not being beaten, earliest first (a heap; entries of
    callers let go since, or rescheduled, are skipped when they come up)."""
    beating: dict[asyncio.Task[None], float] = field(default_factory=dict)
    """The beats in flight, and when each started."""
    pacer: BeatPacer = field(default_factory=BeatPacer)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a beat ends or a caller is taken on: the next beat may be due sooner."""
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def plan(self, kept: _Kept, due: float) -> None:
        kept.due = due
        heapq.heappush(self.schedule, (due, next(self._order), kept))
        self.changed.set()

    def next_due_at(self) -> float | None:
        """When the earliest planned beat is due (None: no caller waits for one)."""
        while self.schedule:
            due, _, kept = self.schedule[0]
            if self.kept.get(kept.caller.fingerprint) is kept and kept.due == due:
                return due
            heapq.heappop(self.schedule)  # let go of, or planned again since
        return None

    def next_due(self, now: float) -> _Kept | None:
        """The caller whose beat is due now, if any, taken off the schedule."""
        due = self.next_due_at()
        if due is None or due > now:
            return None
        return heapq.heappop(self.schedule)[2]


class CallerKeeper:
    """The ``keep_callers`` activity (see the module's docstring)."""

    def __init__(
        self,
        client: Client,
        *,
        sweep: timedelta,
        progress_every: int,
        beats_in_flight: tuple[int, int] = (FLOOR, CEILING),
        metrics: OrchestratorMetrics | None = None,
    ) -> None:
        self._client = client
        # Listing, describing and signalling every sweep would drown the call's trace
        # (docs/adr/0017): the keeper's own RPCs go through an untraced client.
        self._untraced = Client(
            client.service_client, namespace=client.namespace, data_converter=client.data_converter
        )
        self._callers = Callers(client)
        self._sweep = sweep.total_seconds()
        self._progress_every = max(progress_every, 1)
        self._metrics = metrics
        self._beats_in_flight = beats_in_flight

    @activity.defn(name=KEEP_CALLERS_ACTIVITY)
    async def keep_callers(self, shard: KeeperShard) -> None:
        lo, hi = shard.buckets(CALLER_BUCKETS)
        floor, ceiling = self._beats_in_flight
        state = _Shard(
            lo=lo,
            hi=hi,
            label=f"{shard.index}/{shard.count}",
            pacer=BeatPacer(floor=floor, ceiling=ceiling),
        )
        loop = asyncio.get_running_loop()
        ends = loop.time() + KEEPER_TERM.total_seconds()
        timeout = activity.info().heartbeat_timeout
        own_beat = timeout.total_seconds() / 3 if timeout else self._sweep
        with log_context(keeper_shard=f"{shard.index}/{shard.count}"):
            logger.info("keeping the callers of buckets [%d, %d)", lo, hi)
            sweep: asyncio.Task[None] | None = None
            try:
                while loop.time() < ends:
                    # The sweep (listings) runs beside the beats, never before them: on a
                    # slow or refusing server a listing takes up to its RPC timeout (10 s),
                    # longer than a short caller timeout. A sweep still running is left to
                    # finish; the next one starts after it.
                    if sweep is None or sweep.done():
                        sweep = asyncio.create_task(self._sweep_once(state, shard))
                    await self._beat_until(state, loop.time() + self._sweep, own_beat)
            finally:
                if sweep is not None:
                    sweep.cancel()
                for beat in state.beating:
                    beat.cancel()
                self._gauge(shard, 0)

    async def _sweep_once(self, state: _Shard, shard: KeeperShard) -> None:
        loop = asyncio.get_running_loop()
        swept_at = datetime.now(UTC)
        if loop.time() >= state.full_listing_due:
            state.listed_since = None
            state.full_listing_due = loop.time() + FULL_LISTING.total_seconds()
        try:
            await self._list(state)
            await self._fail_orphans(state)
        except RPCError as err:
            # The callers already known are still beaten from memory; the next sweep lists
            # from the same point. (Failing the activity here made its next attempt
            # re-check the whole shard on that same server, and callers timed out.)
            self._count_rpc("list_error")
            logger.warning("could not list the shard (%s); will retry", err.status)
        else:
            state.orphans_since = state.listed_since = swept_at - VISIBILITY_LAG
        self._gauge(shard, len(state.kept))

    # -- listing ---------------------------------------------------------------------

    async def _list(self, state: _Shard) -> None:
        """Take on the callers the shard's runs publish; on a full listing, also let go of
        those they no longer do."""
        now = asyncio.get_running_loop().time()
        listed: set[str] = set()
        full = state.listed_since is None
        if state.listed_since is None:
            query = KEPT_CALLERS_QUERY.format(lo=state.lo, hi=state.hi)
        else:
            query = NEW_KEPT_CALLERS_QUERY.format(
                lo=state.lo, hi=state.hi, since=state.listed_since.isoformat()
            )
        self._count_rpc("list")
        seen = 0
        async for execution in self._untraced.list_workflows(
            query, page_size=LIST_PAGE, rpc_timeout=RPC_TIMEOUT
        ):
            seen += 1
            if seen % LIST_PAGE == 0:
                self._count_rpc("list")  # the next page
            callers, progress = await _published(execution)
            kept_since = execution.typed_search_attributes.get(KEPT_SINCE)
            for caller in callers:
                listed.add(caller.fingerprint)
                kept = state.kept.get(caller.fingerprint)
                if kept is not None:
                    kept.progress = progress
                elif caller.fingerprint not in state.dropped:
                    kept = _Kept(
                        caller=caller, execution_id=execution.id, due=0.0, progress=progress
                    )
                    state.kept[caller.fingerprint] = kept
                    state.plan(kept, now + _first_beat_in(caller, kept_since))
            activity.heartbeat()
        if full:
            for fingerprint in [fp for fp in state.kept if fp not in listed]:
                del state.kept[fingerprint]
            state.dropped &= listed
        # The demand as listed now: callers just taken on are due within half a beat, and
        # a keeper held at its floor until the next sweep would start them late.
        state.pacer.need([k.caller.beat_interval().total_seconds() for k in state.kept.values()])

    async def _fail_orphans(self, state: _Shard) -> None:
        """Fail the callers of runs that closed without their code running to the end."""
        query = ORPHANED_CALLERS_QUERY.format(
            lo=state.lo, hi=state.hi, since=state.orphans_since.isoformat()
        )
        self._count_rpc("list")
        async for execution in self._untraced.list_workflows(
            query, page_size=LIST_PAGE, rpc_timeout=RPC_TIMEOUT
        ):
            if execution.run_id in state.orphans_handled:
                continue
            callers, _ = await _published(execution)
            how = execution.status.name if execution.status is not None else "CLOSED"
            for caller in callers:
                await self._fail_orphan(caller, execution.id, how)
            state.orphans_handled.add(execution.run_id)

    async def _fail_orphan(self, caller: KeptCaller, execution_id: str, how: str) -> None:
        with log_context(execution_id=execution_id, token_fp=caller.fingerprint):
            try:
                self._count_rpc("check")
                handle = await self._callers.checked(caller)
                self._count_rpc("fail")
                if await fail_orphaned(handle, execution_id, how):
                    self._count_delivery("failed")
            except (CallerGone, CallerRefused) as err:
                logger.debug("orphaned caller not failed: %s", err)
            except RPCError as err:
                # The next keeper attempt (or sweep, once handled is forgotten) retries.
                self._count_delivery("error")
                logger.warning("could not fail an orphaned caller (%s)", err.status)

    # -- beating ---------------------------------------------------------------------

    async def _beat_until(self, state: _Shard, until: float, own_beat: float) -> None:
        """Start each caller's beat when it is due, while fewer than the pacer's limit are
        in flight; a beat that ends plans the caller's next one."""
        loop = asyncio.get_running_loop()
        shown = 0
        while (now := loop.time()) < until:
            limit = state.pacer.limit
            if len(state.beating) >= limit and _due_by(state.next_due_at(), now):
                # Every slot taken while beats are due: the oldest beat in flight says how
                # slow the server is now, before any of them ends to say so (a keeper that
                # starts on a saturated server; a stall).
                limit = state.pacer.limit_if_slower(now - min(state.beating.values()))
            if limit != shown:
                self._limit_gauge(state, shown := limit)
            while len(state.beating) < limit and (kept := state.next_due(now)) is not None:
                self._observe_lateness(now - kept.due)
                task = asyncio.create_task(self._beat_and_plan(state, kept))
                state.beating[task] = now
                task.add_done_callback(state.beating.pop)
            activity.heartbeat()
            wake = min(until, now + own_beat)
            if (due := state.next_due_at()) is not None:
                # At the limit, look again soon: the beats in flight may be stalled.
                wake = min(wake, due if len(state.beating) < limit else now + STALL_CHECK)
            state.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.changed.wait(), max(0.0, wake - loop.time()))

    async def _beat_and_plan(self, state: _Shard, kept: _Kept) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        fingerprint = kept.caller.fingerprint
        try:
            keep = await self._beat(kept)
        except Exception:
            # One caller's unexpected failure must not end the beats of the others.
            logger.exception("beat failed; will retry")
            keep = True
        finally:
            state.pacer.observe(loop.time() - started)
            state.changed.set()
        if state.kept.get(fingerprint) is not kept:
            return  # let go of while it was being beaten (a full listing no longer lists it)
        if keep:
            interval = kept.caller.beat_interval().total_seconds()
            state.plan(kept, started + interval * random.uniform(0.85, 1.0))
        else:
            del state.kept[fingerprint]
            state.dropped.add(fingerprint)

    async def _beat(self, kept: _Kept) -> bool:
        """One heartbeat to one caller; False once it is no longer to be beaten."""
        with log_context(execution_id=kept.execution_id, token_fp=kept.caller.fingerprint):
            return await self._beat_checked(kept)

    async def _beat_checked(self, kept: _Kept) -> bool:
        caller = kept.caller
        if kept.handle is None:
            self._count_rpc("check")
            try:
                kept.handle = await self._callers.checked(caller)
            except CallerRefused as err:
                logger.warning("refused to keep alive: %s", err)
                await self._report(kept, CallerVerdict.REFUSED)
                return False
            except CallerGone as err:
                return await self._gone(kept, str(err))
            except RPCError as err:
                logger.warning("could not check the caller (%s); will retry", err.status)
                return True
        details = await self._details(kept)
        self._count_rpc("heartbeat")
        try:
            await kept.handle.heartbeat(details)
            self._count_heartbeat("ok")
        except AsyncActivityCancelledError as err:
            self._count_heartbeat("cancel_requested")
            if (err.details is None or err.details.cancel_requested) and not kept.cancel_reported:
                logger.info("caller %s asked to cancel", caller.workflow_id)
                kept.cancel_reported = await self._report(kept, CallerVerdict.CANCEL_REQUESTED)
        except RPCError as err:
            if err.status not in _GONE:
                self._count_heartbeat("error")
                logger.warning("heartbeat to caller failed (%s); will retry", err.status)
                return True
            self._count_heartbeat("gone")
            return await self._gone(kept, f"attempt {caller.attempt} is gone")
        kept.beats += 1
        return True

    async def _details(self, kept: _Kept) -> dict[str, Any]:
        """The progress the caller is shown: the run's published progress, plus the partial
        output of a streaming model call, read every few beats (one describe each)."""
        if kept.progress.steps != kept.partial_at_step:
            kept.partial = {}  # a step ended since: that partial output is over
        if kept.beats % self._progress_every == 0 and not Phase(kept.progress.phase).terminal:
            self._count_rpc("progress")
            kept.partial = await running_step(self._untraced, kept.execution_id)
            kept.partial_at_step = kept.progress.steps
        return asdict(kept.progress) | kept.partial

    async def _gone(self, kept: _Kept, why: str) -> bool:
        """The caller's attempt no longer waits. Stale only if its run still holds it
        pending: a run that has just delivered (the listing lags) is its normal end."""
        if await self._still_pending(kept):
            logger.info("stop keeping the caller alive: %s", why)
            self._count_delivery("stale")  # the run will not deliver to it either
            await self._report(kept, CallerVerdict.STALE)
        return False

    async def _still_pending(self, kept: _Kept) -> bool:
        self._count_rpc("describe")
        try:
            description = await self._untraced.get_workflow_handle(kept.execution_id).describe(
                rpc_timeout=RPC_TIMEOUT
            )
        except RPCError:
            return False
        if description.status is not None and description.status.name != "RUNNING":
            return False
        if not description.typed_search_attributes.get(PENDING_CALLBACKS, 0):
            # Listed at start, never counted pending: the run answered it before its grace
            # and is closing (its memo still lists it); a signal now would only race the
            # run's last workflow task.
            return False
        callers, progress = await _published(description)
        return not Phase(progress.phase).terminal and any(
            c.fingerprint == kept.caller.fingerprint for c in callers
        )

    async def _report(self, kept: _Kept, verdict: CallerVerdict) -> bool:
        """Tell the run (its latest run: a continuation holds the caller now)."""
        self._count_rpc("signal")
        try:
            await self._untraced.get_workflow_handle(kept.execution_id).signal(
                CALLER_REPORT_SIGNAL,
                CallerReport(fingerprint=kept.caller.fingerprint, verdict=verdict),
                rpc_timeout=RPC_TIMEOUT,
            )
        except RPCError as err:
            if err.status not in _GONE:
                logger.warning("could not tell the run %s (%s)", verdict.value, err.status)
            return False
        return True

    # -- metrics ---------------------------------------------------------------------

    def _gauge(self, shard: KeeperShard, count: int) -> None:
        if self._metrics is not None:
            self._metrics.kept_callers.labels(f"{shard.index}/{shard.count}").set(count)

    def _limit_gauge(self, state: _Shard, limit: int) -> None:
        if self._metrics is not None:
            self._metrics.keeper_beat_limit.labels(state.label).set(limit)

    def _observe_lateness(self, seconds: float) -> None:
        if self._metrics is not None:
            self._metrics.keeper_beat_lateness.observe(max(seconds, 0.0))

    def _count_rpc(self, rpc: str) -> None:
        if self._metrics is not None:
            self._metrics.keeper_rpcs.labels(rpc).inc()

    def _count_delivery(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.deliveries.labels(outcome).inc()

    def _count_heartbeat(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.heartbeats.labels(result).inc()


def _due_by(due: float | None, now: float) -> bool:
    return due is not None and due <= now


def _first_beat_in(caller: KeptCaller, kept_since: datetime | None) -> float:
    """Seconds until a newly listed caller needs its first beat: half a beat after it was
    listed (stigma-api lists a caller as its attempt starts). A call answered sooner is
    never beaten nor checked; a keeper that starts late beats at once."""
    if kept_since is None:
        return 0.0
    first = kept_since + caller.beat_interval() / 2
    return max(0.0, (first - datetime.now(UTC)).total_seconds())


async def _published(execution: WorkflowExecution) -> tuple[list[KeptCaller], CallerProgress]:
    """The callers and progress a run published in its memo (none if it has not)."""
    raw: list[KeptCaller] = await execution.memo_value(
        KEPT_CALLERS_MEMO, default=[], type_hint=list[KeptCaller]
    )
    progress = await execution.memo_value(
        CALLER_PROGRESS_MEMO,
        default=CallerProgress(execution_id=execution.id, phase=Phase.RUNNING.value),
        type_hint=CallerProgress,
    )
    return list(raw), progress


@workflow.defn(name=CALLER_KEEPER_WORKFLOW)
class CallerKeeperWorkflow:
    """Runs one shard's ``keep_callers`` activity for ever: retried on any orchestrator
    after its heartbeat timeout when its process dies, continued as new every term.

    On its own unversioned queue, unlike the agent runs: it never ends, so pinned to a
    build it would outlive that build's workers (docs/adr/0019); its commands never
    change shape."""

    @workflow.run
    async def run(self, shard: KeeperShard) -> None:
        await workflow.execute_activity(
            KEEP_CALLERS_ACTIVITY,
            shard,
            task_queue=KEEPER_TASK_QUEUE,
            start_to_close_timeout=KEEPER_TERM + timedelta(minutes=5),
            heartbeat_timeout=timedelta(milliseconds=shard.heartbeat_ms),
            retry_policy=KEEPER_RETRY,
        )
        workflow.continue_as_new(shard)


async def start_keepers(client: Client, shards: int, heartbeat: timedelta) -> None:
    """Make sure a keeper runs for each shard (started once, by whichever orchestrator
    comes first; the others find it running). Retried until it succeeds: the callers of
    revision-4 runs depend on it."""
    delay = 1.0
    for index in range(shards):
        shard = KeeperShard(
            index=index, count=shards, heartbeat_ms=int(heartbeat / timedelta(milliseconds=1))
        )
        while True:
            try:
                await client.start_workflow(
                    CALLER_KEEPER_WORKFLOW,
                    shard,
                    id=keeper_workflow_id(index, shards),
                    task_queue=KEEPER_TASK_QUEUE,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                )
                break
            except RPCError as err:
                logger.warning("could not start keeper %d/%d (%s); retrying", index, shards, err)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
    logger.info("caller keepers running: %d shard(s)", shards)
