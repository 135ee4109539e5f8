"""The pending-call gauge against the truth: Temporal's own pending CallAgent activities.

Stigma's count (its runs' callbacks) misses the calls it does not hold. The callers' count
(``zigflow_pending_agent_calls``, from the search attributes each Zigflow run keeps) is
compared here with what Temporal itself says is pending, while the orchestrator is down
for longer than the callers' heartbeat timeout (the callers time out and retry), while
stigma-api is down too, across an outage of Temporal itself (visibility unreadable), and
while Temporal refuses every completion the orchestrator sends (the agents have ended, the
callers still wait). ``stigmactl pending`` is held to the same truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from agent_contract import STATUS_QUERY, ExecutionStatus, Phase
from stigmactl.cli import amain as stigmactl
from tests.grpc_proxy import GrpcProxy
from tests.observability_support import Observed, total
from tests.reliability_support import agent_runs, pending_call
from tests.support import eventually, history_events, start_dsl

CALLS = 3
# How the orchestrator answers a caller's activity (by workflow and activity id).
COMPLETIONS_BY_ID = (
    "RespondActivityTaskCompletedById",
    "RespondActivityTaskFailedById",
    "RespondActivityTaskCanceledById",
)
# The gauge's read interval in the observed stack is 0.5 s; a reading may be that old,
# and the scrape and the truth are read a moment apart.
AGE_TOLERANCE = 3.0
# A reading refreshed every 0.5 s is this old only once its reads have stopped.
STALE_AFTER = 3.0


async def _stigmactl_pending(env: dict[str, str]) -> tuple[int, float, str]:
    """``stigmactl pending`` as an operator runs it: exit code, seconds, stderr."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from stigmactl.cli import run; run()",
        "pending",
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    return (process.returncode or 0), time.monotonic() - started, stderr.decode()


@dataclass(frozen=True)
class Truth:
    count: int
    oldest_age: float
    attempts: list[int]


async def _truth(callers: list[WorkflowHandle[Any, Any]]) -> Truth:
    """What Temporal says: the callers' pending CallAgent activities, and the oldest one's
    age from its first attempt (the ActivityTaskScheduled event)."""
    now = datetime.now(UTC)
    ages: list[float] = []
    attempts: list[int] = []
    for caller in callers:
        pending = await pending_call(caller)
        if pending is None:
            continue
        attempts.append(pending.attempt)
        (scheduled,) = await history_events(caller, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        ages.append((now - scheduled.event_time.ToDatetime(tzinfo=UTC)).total_seconds())
    return Truth(len(ages), max(ages, default=0.0), attempts)


async def _gauge(observed: Observed) -> tuple[float, float]:
    samples = await observed.metrics("zigflow-worker")
    return (
        total(samples, "zigflow_pending_agent_calls"),
        total(samples, "zigflow_oldest_pending_agent_call_age_seconds"),
    )


LAST_SEEN: dict[str, object] = {}


async def _matches(observed: Observed, callers: list[WorkflowHandle[Any, Any]]) -> bool:
    count, age = await _gauge(observed)
    truth = await _truth(callers)
    LAST_SEEN.update(gauge=(count, age), truth=truth)
    return count == truth.count and abs(age - truth.oldest_age) <= AGE_TOLERANCE


async def _wait(check: Callable[[], Awaitable[bool]], *, within: float) -> None:
    """``eventually``, failing with the last gauge and truth seen."""
    try:
        await eventually(check, within=within)
    except AssertionError as err:
        raise AssertionError(f"{err}; last seen (count, age) and truth: {LAST_SEEN}") from None


async def test_the_callers_gauge_matches_temporals_pending_calls_through_outages(
    observed: Observed,
) -> None:
    stack = observed.stack
    callers = [
        await start_dsl(
            stack.client,
            "pending-truth-call",  # a 4 s caller heartbeat
            {"input": f"truth {i}", "parameters": {"steps": "1", "delay_ms": "600000"}},
        )
        for i in range(CALLS)
    ]
    try:
        # Counted once past the 20 s grace (zigflow.pending_calls.VISIBLE_AFTER).
        started = time.monotonic()

        async def all_counted() -> bool:
            truth = await _truth(callers)
            LAST_SEEN.update(truth=truth)
            if truth.count != CALLS:
                for caller in callers:
                    description = await caller.describe()
                    assert description.status is not None
                    assert description.status.name == "RUNNING", (caller.id, description.status)
                return False
            return await _matches(observed, callers)

        await _wait(all_counted, within=60)
        counted_after = time.monotonic() - started

        # The orchestrator goes down for longer than the callers' heartbeat timeout: every
        # call times out and retries, and Stigma's own count loses them.
        await stack.kill_service("stigma-orchestrator")

        async def retried() -> bool:
            truth = await _truth(callers)
            LAST_SEEN.update(truth=truth)
            return truth.count == CALLS and min(truth.attempts) >= 2

        await _wait(retried, within=60)
        await _wait(lambda: _matches(observed, callers), within=10)
        count, age = await _gauge(observed)
        assert count == CALLS
        assert age >= counted_after  # from the first attempt, not the retried one

        # stigma-api goes down too: the callers' count does not depend on Stigma at all.
        await stack.kill_service("stigma-api")
        await _wait(lambda: _matches(observed, callers), within=10)
        assert (await _gauge(observed))[0] == CALLS

        # Temporal down, so visibility is unreadable: the gauge keeps its last reading and its
        # last-read time stands still (PendingCallsGaugeStale), never a confident 0; stigmactl
        # says it cannot read, within seconds, and exits non-zero.
        await stack.temporal.stop()
        try:

            async def stale() -> bool:
                samples = await observed.metrics("zigflow-worker")
                read_at = total(samples, "zigflow_pending_agent_calls_last_read_timestamp_seconds")
                LAST_SEEN.update(gauge=await _gauge(observed), read_at=read_at)
                return time.time() - read_at > STALE_AFTER

            await _wait(stale, within=30)
            assert (await _gauge(observed))[0] == CALLS
            code, took, said = await _stigmactl_pending(stack.env_for("zigflow-worker"))
            assert code != 0, said
            assert "cannot connect to Temporal" in said
            assert took < 10, took
        finally:
            await stack.temporal.start()
        await _wait(lambda: _matches(observed, callers), within=60)
    finally:
        for name in ("stigma-api", "stigma-orchestrator"):
            if not stack.services[name].running:
                await stack.start_service(name)
        for caller in callers:
            await caller.terminate("test over")
            for agent in await agent_runs(stack.client, caller.id):
                with contextlib.suppress(RPCError):  # one that has closed already
                    await stack.client.get_workflow_handle(agent).terminate("test over")

    # A closed run no longer counts (the query lists running workflows only).
    async def none() -> bool:
        return (await _gauge(observed))[0] == 0

    await eventually(none, within=10)


async def _stigmactl_read(observed: Observed) -> tuple[int, list[dict[str, Any]], str]:
    """``stigmactl pending --json``: exit code, rows, stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = await stigmactl(["pending", "--json"], client=observed.stack.client, out=out, stderr=err)
    rows: list[dict[str, Any]] = json.loads(out.getvalue()) if out.getvalue() else []
    return code, rows, err.getvalue()


async def _stigmactl_rows(observed: Observed) -> list[dict[str, Any]]:
    code, rows, said = await _stigmactl_read(observed)
    assert code == 0, said
    return rows


async def _agents_ended(observed: Observed, callers: list[WorkflowHandle[Any, Any]]) -> bool:
    """Every caller's agent (not a redelivery) has ended its work: its run has closed, or
    stays open only to retry its delivery (its phase is terminal)."""
    client = observed.stack.client
    for caller in callers:
        runs = [run for run in await agent_runs(client, caller.id) if run.count("/") == 2]
        if not runs:
            return False
        for run in runs:
            handle = client.get_workflow_handle(run)
            description = await handle.describe()
            if description.status is not None and description.status.name != "RUNNING":
                continue
            status = await handle.query(STATUS_QUERY, result_type=ExecutionStatus)
            if not Phase(status.phase).terminal:
                return False
    return True


@pytest.mark.timeout(300)
async def test_calls_whose_delivery_temporal_refuses_still_count(observed: Observed) -> None:
    """Temporal refuses every completion the orchestrator sends: the agents have ended but
    their callers still wait. The callers' gauge and ``stigmactl pending`` both count them,
    and every caller gets its agent's output once completions go through."""
    stack = observed.stack
    orchestrator = stack.services["stigma-orchestrator"]
    direct = orchestrator.env["TEMPORAL_ADDRESS"]
    async with GrpcProxy(direct) as proxy:
        proxy.refused.update(COMPLETIONS_BY_ID)
        await stack.stop_service("stigma-orchestrator")
        orchestrator.env["TEMPORAL_ADDRESS"] = proxy.address
        callers: list[WorkflowHandle[Any, Any]] = []
        try:
            await stack.start_service("stigma-orchestrator")
            callers = [
                await start_dsl(
                    stack.client,
                    "pending-truth-call",
                    {"input": f"refused {i}", "parameters": {"steps": "1", "delay_ms": "1000"}},
                )
                for i in range(CALLS)
            ]
            ids = {caller.id for caller in callers}

            rows: list[dict[str, Any]] = []

            async def counted_while_refused() -> bool:
                if not await _agents_ended(observed, callers):
                    return False
                truth = await _truth(callers)
                code, found, said = await _stigmactl_read(observed)
                rows[:] = [row for row in found if row["caller_workflow_id"] in ids]
                listed = sorted(row["attempt"] for row in rows)
                LAST_SEEN.update(stigmactl=(code, listed, said), refusals=dict(proxy.refusals))
                # A run is unreadable (exit 3) while a delivery attempt holds its workflow
                # task open; it waits on a timer between attempts, and is read then.
                return (
                    code == 0
                    and truth.count == CALLS
                    and await _matches(observed, callers)
                    and listed == sorted(truth.attempts)
                )

            await _wait(counted_while_refused, within=90)
            assert proxy.refusals, "the orchestrator never tried to complete a caller"
            assert all(row["age_seconds"] >= 20 for row in rows), rows

            proxy.refused.clear()
            for i, caller in enumerate(callers):
                result = await asyncio.wait_for(caller.result(), timeout=120)
                assert result["output"] == f"refused {i}", result
        finally:
            await stack.stop_service("stigma-orchestrator")
            orchestrator.env["TEMPORAL_ADDRESS"] = direct
            await stack.start_service("stigma-orchestrator")
            for caller in callers:
                with contextlib.suppress(RPCError):  # one that has completed
                    await caller.terminate("test over")

    async def none_left() -> bool:
        rows = await _stigmactl_rows(observed)
        return (await _gauge(observed))[0] == 0 and not [
            row for row in rows if row["caller_workflow_id"] in ids
        ]

    await eventually(none_left, within=10)
