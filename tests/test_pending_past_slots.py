"""More pending calls than the orchestrator has activity slots (docs/adr/0020).

Revision-4 runs hold no activity while their caller waits: the shard's keeper beats every
caller from one activity on its own queue. With 2 orchestrator slots, 40 calls of 15 s
agents under a 6 s caller heartbeat timeout all stay pending together, are beaten (or they
would time out), and each completes on its first attempt, once, with its own output.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from agent_contract import KEEP_CALLER_ALIVE_ACTIVITY, PENDING_CALLBACKS_QUERY
from devstack import LocalStack
from tests.grpc_proxy import GrpcProxy
from tests.observability_support import scrape, total
from tests.reliability_support import agent_runs, own_stack
from tests.support import eventually, history_events, start_dsl

CALLS = 40
SLOTS = 2


@pytest.fixture(scope="module")
async def narrow(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with own_stack(
        tmp_path_factory.mktemp("pending-past-slots"),
        service_env={
            "stigma-orchestrator": {"STIGMA_ORCHESTRATOR_MAX_CONCURRENT_ACTIVITIES": str(SLOTS)},
            "zigflow-worker": {"ZIGFLOW_MAX_CONCURRENT_ACTIVITIES": "100"},
        },
    ) as stack:
        yield stack


async def _heartbeats(stack: LocalStack) -> float:
    target = stack.metrics_targets()["stigma-orchestrator"]
    return total(await scrape(target), "stigma_caller_heartbeats_total", result="ok")


@asynccontextmanager
async def _orchestrator_behind_a_proxy(stack: LocalStack, **env: str) -> AsyncIterator[GrpcProxy]:
    """The orchestrator restarted with its Temporal connection through a GrpcProxy (and
    ``env``), and restarted direct, as it was, afterwards."""
    orchestrator = stack.services["stigma-orchestrator"]
    was = dict(orchestrator.env)
    async with GrpcProxy(was["TEMPORAL_ADDRESS"]) as proxy:
        await stack.stop_service("stigma-orchestrator")
        orchestrator.env.update(env, TEMPORAL_ADDRESS=proxy.address)
        try:
            await stack.start_service("stigma-orchestrator")
            yield proxy
        finally:
            await stack.stop_service("stigma-orchestrator")
            orchestrator.env.clear()
            orchestrator.env.update(was)
            await stack.start_service("stigma-orchestrator")


async def _start_calls(
    client: Client, prefix: str, count: int, agent_ms: int
) -> list[WorkflowHandle[Any, Any]]:
    """``count`` calls at once of a one-step agent of ``agent_ms``, under a 6 s caller
    heartbeat timeout (beaten every 2 s from 1 s in); inputs ``"{prefix} {n}"``."""
    parameters = {"steps": "1", "delay_ms": str(agent_ms)}
    return list(
        await asyncio.gather(
            *(
                start_dsl(
                    client, "reliability-fast", {"input": f"{prefix} {n}", "parameters": parameters}
                )
                for n in range(count)
            )
        )
    )


async def _on_its_first_attempt(caller: WorkflowHandle[Any, Any]) -> None:
    """The caller's CallAgent never retried: no heartbeat timeout, no StigmaBusy."""
    (started,) = await history_events(caller, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    assert started.activity_task_started_event_attributes.attempt == 1, caller.id


async def test_more_pending_calls_than_orchestrator_slots_each_complete_once(
    narrow: LocalStack,
) -> None:
    client: Client = narrow.client
    beats_before = await _heartbeats(narrow)
    callers = await _start_calls(client, "pending", CALLS, 15_000)

    async def all_published() -> bool:
        return (await client.count_workflows(PENDING_CALLBACKS_QUERY)).count == CALLS

    # Every call waits at once, past its first beat: 20 times the orchestrator's slots.
    await eventually(all_published, within=30)
    results: list[dict[str, Any]] = await asyncio.gather(*(c.result() for c in callers))
    beats = await _heartbeats(narrow) - beats_before

    assert [r["output"] for r in results] == [f"pending {n}" for n in range(CALLS)]
    # Kept alive by the keeper (a 15 s agent outlives a 6 s heartbeat timeout), every
    # third of the timeout (1.7 to 2 s) from its first beat (2 s in) to the end: 6 to 9
    # beats each, not one per sweep or per listing.
    assert 5 * CALLS <= beats <= 9 * CALLS, f"{beats} beats for {CALLS} calls"
    for caller in callers:
        await _on_its_first_attempt(caller)
        (run,) = await agent_runs(client, caller.id)  # one agent run per call
        agent = client.get_workflow_handle(run)
        scheduled = await history_events(agent, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        names = {e.activity_task_scheduled_event_attributes.activity_type.name for e in scheduled}
        assert KEEP_CALLER_ALIVE_ACTIVITY not in names

    async def none_pending() -> bool:
        return (await client.count_workflows(PENDING_CALLBACKS_QUERY)).count == 0

    await eventually(none_pending, within=30)


async def test_callers_stay_beaten_while_the_server_refuses_the_keepers_listings(
    narrow: LocalStack,
) -> None:
    """A saturated or refusing server fails the keeper's listing (its RPC times out after
    10 s): the keeper keeps beating the callers it knows, and lists again next sweep. A
    keeper that failed its activity instead left every caller unbeaten (6 s timeout)."""
    client: Client = narrow.client
    async with _orchestrator_behind_a_proxy(narrow) as proxy:
        beats_before = await _heartbeats(narrow)
        callers = await _start_calls(client, "refused", 3, 30_000)

        async def all_beaten() -> bool:
            return await _heartbeats(narrow) >= beats_before + len(callers)

        await eventually(all_beaten, within=30)
        proxy.refused.add("ListWorkflowExecutions")

        async def refused_past_a_listing_timeout() -> bool:
            return proxy.refusals.get("ListWorkflowExecutions", 0) > 0

        await eventually(refused_past_a_listing_timeout, within=10)
        for n, caller in enumerate(callers):
            result = await asyncio.wait_for(caller.result(), timeout=90)
            assert result["output"] == f"refused {n}", result
            await _on_its_first_attempt(caller)  # beaten through the refusals
        assert "ListWorkflowExecutions" in proxy.refused  # refused to the end


BEAT_DELAY = 2.0
# Beats a keeper may always have in flight, lowered from 64 so that 40 callers need
# ten times more than it: the same shortfall as 64 against 2,500 callers at 0.5 s a beat.
BEATS_FLOOR = 4
BEAT_LIMIT = "stigma_keeper_beat_limit"


async def test_callers_stay_beaten_while_every_beat_takes_seconds(narrow: LocalStack) -> None:
    """A saturated server answers each beat seconds late. 40 callers of a 6 s heartbeat
    timeout need about 22 beats a second; at 2 s a beat that is 43 in flight at once. A
    keeper held at its floor of 4 beat each caller every 20 s or so, and they timed out;
    the keeper lets out as many as its callers need at the latency it sees."""
    client: Client = narrow.client
    async with _orchestrator_behind_a_proxy(
        narrow, STIGMA_ORCHESTRATOR_KEEPER_BEATS_IN_FLIGHT_MIN=str(BEATS_FLOOR)
    ) as proxy:
        proxy.delays["RecordActivityTaskHeartbeatById"] = BEAT_DELAY
        callers = await _start_calls(client, "slow", CALLS, 20_000)

        async def far_above_the_floor() -> bool:
            samples = await scrape(narrow.metrics_targets()["stigma-orchestrator"])
            limits = [v for (name, _), v in samples.items() if name == BEAT_LIMIT]
            return max(limits, default=0) >= 8 * BEATS_FLOOR

        await eventually(far_above_the_floor, within=30)
        results: list[dict[str, Any]] = await asyncio.wait_for(
            asyncio.gather(*(c.result() for c in callers)), timeout=90
        )
        assert [r["output"] for r in results] == [f"slow {n}" for n in range(CALLS)]
        for caller in callers:
            await _on_its_first_attempt(caller)  # beaten in time despite the slow server
