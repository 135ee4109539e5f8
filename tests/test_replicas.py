"""Two instances of every service, one of each killed with SIGKILL and another restarted
with SIGTERM while 300 calls of mixed length and outcome run: every call ends exactly once
with its right outcome, one agent run per logical call, nothing left pending.

The zigflow-worker reaches both stigma-api instances through client-side load balancing
(round robin over the healthy ones); the workers of each kind share their task queue.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

from agent_contract import AGENT_FAILED_ERROR, AGENT_WORKFLOW
from devstack import SERVICES, LocalStack
from tests.reliability_support import own_stack
from tests.support import eventually, start_dsl

CALLS = 300
REPLICAS = 2


@pytest.fixture(scope="module")
async def replicated(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with own_stack(
        tmp_path_factory.mktemp("replicas"),
        replicas=dict.fromkeys(SERVICES, REPLICAS),
        service_env={
            "stigma-orchestrator": {
                "STIGMA_ORCHESTRATOR_STEP_HEARTBEAT": "PT2S",
                "STIGMA_ORCHESTRATOR_KEEPER_HEARTBEAT": "PT2S",
                "STIGMA_ORCHESTRATOR_STICKY_QUEUE_TIMEOUT": "PT2S",
                "STIGMA_ORCHESTRATOR_GRACEFUL_SHUTDOWN": "PT5S",
            },
            "ai-worker": {"AI_WORKER_GRACEFUL_SHUTDOWN": "PT5S"},
            # The default slots (own_stack's single slot serialises 300 StartAgent calls).
            "zigflow-worker": {
                "ZIGFLOW_GRACEFUL_SHUTDOWN": "PT5S",
                "ZIGFLOW_MAX_CONCURRENT_ACTIVITIES": "100",
            },
            "stigma-api": {"STIGMA_API_GRACEFUL_SHUTDOWN": "PT5S"},
        },
    ) as stack:
        yield stack


def _kind(n: int) -> str:
    if n % 10 == 0:
        return "failed"
    if n % 10 == 5:
        return "cancelled"
    return "completed"


def _parameters(n: int) -> dict[str, str]:
    kind = _kind(n)
    if kind == "failed":
        return {"steps": "2", "delay_ms": "500", "fail_at_step": "2"}
    if kind == "cancelled":  # long enough to be cancelled while it runs
        return {"steps": "2", "delay_ms": "60000"}
    steps, delay = [("1", "500"), ("2", "3000"), ("3", "5000"), ("1", "15000")][n % 4]
    return {"steps": steps, "delay_ms": delay}


def _outcome_matches(n: int, outcome: Any) -> bool:
    kind = _kind(n)
    if kind == "completed":
        return isinstance(outcome, dict) and outcome.get("output") == f"replica {n}"
    if not isinstance(outcome, WorkflowFailureError):
        return False
    cause = outcome.cause
    if kind == "cancelled":
        return isinstance(cause, CancelledError) or (
            isinstance(cause, ActivityError) and isinstance(cause.cause, CancelledError)
        )
    return (
        isinstance(cause, ActivityError)
        and isinstance(cause.cause, ApplicationError)
        and cause.cause.type == AGENT_FAILED_ERROR
        and "scripted failure at step 2" in cause.cause.message
    )


def _described(outcome: Any) -> str:
    """An outcome with its chain of causes (a failure's repr names none)."""
    parts = [repr(outcome)]
    cause = getattr(outcome, "cause", None)
    while cause is not None:
        parts.append(f"{type(cause).__name__}({cause}; type={getattr(cause, 'type', None)})")
        cause = getattr(cause, "cause", None)
    return " <- ".join(parts)


async def _count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def test_a_draining_stigma_api_tells_balancing_clients_before_it_stops(
    replicated: LocalStack,
) -> None:
    """What the zigflow-worker's channel watches to pick replicas: SERVING, then on SIGTERM
    NOT_SERVING while the server still finishes what it has (calls stop coming first)."""
    address = f"127.0.0.1:{replicated.stigma_ports['stigma-api-2']}"
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        stopping = asyncio.create_task(replicated.stop_service("stigma-api-2"))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert await stopping == 0
    await replicated.start_service("stigma-api-2")


@pytest.mark.timeout(900)
async def test_300_calls_survive_a_kill_and_a_rolling_restart_of_every_service(
    replicated: LocalStack,
) -> None:
    stack, client = replicated, replicated.client
    tag = uuid.uuid4().hex[:8]
    started = time.monotonic()
    callers = await asyncio.gather(
        *(
            start_dsl(
                client,
                "replica-call",
                {"input": f"replica {n}", "parameters": _parameters(n)},
                workflow_id=f"replica-{tag}-{n:03d}",
            )
            for n in range(CALLS)
        )
    )
    agents = f"WorkflowType = '{AGENT_WORKFLOW}' AND WorkflowId STARTS_WITH 'agent-replica-{tag}-'"

    async def a_third_running() -> bool:
        return await _count(client, agents) >= CALLS // 3

    await eventually(a_third_running, within=180)
    # The calls to cancel are cancelled while their agents run (each has its agent run).
    cancelled = [caller for n, caller in enumerate(callers) if _kind(n) == "cancelled"]
    ids = " OR ".join(f"WorkflowId STARTS_WITH 'agent-{caller.id}/'" for caller in cancelled)

    async def all_to_cancel_running() -> bool:
        return await _count(client, f"{agents} AND ({ids})") == len(cancelled)

    await eventually(all_to_cancel_running, within=180)
    await asyncio.gather(*(caller.cancel() for caller in cancelled))
    in_flight = await _count(
        client, f"WorkflowId STARTS_WITH 'replica-{tag}-' AND ExecutionStatus = 'Running'"
    )

    # One instance of each service crashes (SIGKILL) and comes back ...
    for name in SERVICES:
        await stack.kill_service(f"{name}-2")
    for name in SERVICES:
        await stack.start_service(f"{name}-2")
    # ... then the other is restarted the way a rolling deploy does it (SIGTERM: drain).
    exits = {}
    for name in SERVICES:
        exits[name] = await stack.stop_service(name)
        await stack.start_service(name)
    disrupted = time.monotonic() - started

    outcomes = await asyncio.gather(
        *(asyncio.wait_for(caller.result(), 600) for caller in callers), return_exceptions=True
    )
    took = time.monotonic() - started

    wrong = [(n, _described(o)) for n, o in enumerate(outcomes) if not _outcome_matches(n, o)]
    runs = Counter(
        [
            execution.id.removeprefix("agent-").split("/")[0]
            async for execution in client.list_workflows(agents)
        ]
    )
    doubled = {caller_id: count for caller_id, count in runs.items() if count != 1}
    kinds = Counter(_kind(n) for n in range(CALLS))
    print(
        f"\nreplica ledger: {CALLS} calls ({dict(kinds)}), {REPLICAS} instances of each service;"
        f" {in_flight} in flight at the first kill; kills and rolling restart done at"
        f" {disrupted:.0f} s, all ended at {took:.0f} s;"
        f" wrong outcomes {len(wrong)}, agent runs {sum(runs.values())} for {len(runs)} calls,"
        f" doubled {len(doubled)}; SIGTERM exit codes {exits}; first wrong: {wrong[:3]}"
    )
    assert not wrong, f"{len(wrong)} wrong, first: {wrong[:3]}"
    assert set(runs) == {caller.id for caller in callers}
    assert not doubled
    for caller in cancelled:
        assert (await caller.describe()).status == WorkflowExecutionStatus.CANCELED
    # Every SIGTERM drained and exited by itself, within the 15 s before devstack kills.
    assert exits == dict.fromkeys(SERVICES, 0), exits

    async def nothing_left() -> bool:
        running = "ExecutionStatus = 'Running'"
        return (
            await _count(client, f"WorkflowId STARTS_WITH 'replica-{tag}-' AND {running}") == 0
            and await _count(client, f"{agents} AND {running}") == 0
        )

    await eventually(nothing_left, within=30)
    # The work spread over both instances of every service: each one's log names this run.
    logs = stack.config.state_dir / "logs"
    idle = [
        instance
        for instance in stack.instances
        if f"replica-{tag}-" not in (logs / f"{instance}.log").read_text()
    ]
    assert not idle, f"instances that did none of the work: {idle}"
