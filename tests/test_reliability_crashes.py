"""Crash safety: kill -9 a service or restart Temporal mid-run, and nothing is lost or doubled.

These tests kill and restart processes, so they run on a stack of their own (the shared
session stack stays whole). Timeouts are shortened through settings, not code: a step's
and a keep-alive loop's heartbeat timeouts and the orchestrator's sticky-queue timeout are
2 s here, the callers' heartbeat timeout 20 s.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from agent_contract import (
    AGENT_FAILED_ERROR,
    AGENT_WORKFLOW,
    RUNNING_AGENTS_QUERY,
    STIGMA_UNAVAILABLE_ERROR,
)
from devstack import LocalStack
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from stigmactl.cli import amain as stigmactl
from tests.reliability_support import (
    agent_of,
    agent_runs,
    own_stack,
    pending_call,
    running_step,
    status_of,
)
from tests.support import eventually, history_events, start_dsl, unique

STEP_HEARTBEAT = 2.0


@pytest.fixture(scope="module")
async def crash_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with own_stack(
        tmp_path_factory.mktemp("crash-stack"),
        service_env={
            "stigma-orchestrator": {
                "STIGMA_ORCHESTRATOR_STEP_HEARTBEAT": f"PT{STEP_HEARTBEAT:g}S",
                "STIGMA_ORCHESTRATOR_KEEPER_HEARTBEAT": "PT2S",
                "STIGMA_ORCHESTRATOR_STICKY_QUEUE_TIMEOUT": "PT2S",
            }
        },
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
async def crash_stigma(
    crash_stack: LocalStack,
) -> AsyncIterator[agent_pb2_grpc.AgentServiceStub]:
    async with crash_stack.stigma_channel() as channel:
        yield agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]


async def _step_running(client: Client, caller_id: str) -> Any:
    agent = await agent_of(client, caller_id)

    async def started() -> bool:
        return await running_step(agent) is not None

    await eventually(started)
    return agent


async def test_orchestrator_killed_mid_agent_delivers_the_callback_once(
    crash_stack: LocalStack,
) -> None:
    client = crash_stack.client
    caller = await start_dsl(
        client,
        "reliability-call",
        {"input": "survive", "parameters": {"steps": "3", "delay_ms": "1500"}},
    )
    agent = await _step_running(client, caller.id)

    await crash_stack.kill_service("stigma-orchestrator")
    await crash_stack.start_service("stigma-orchestrator")
    result: dict[str, Any] = await caller.result()

    assert result["output"] == "survive"
    assert result["usage"]["steps"] == 3
    assert await agent_runs(client, caller.id) == [agent.id]
    # Delivered exactly once, to the first and only attempt of the call.
    (started,) = await history_events(caller, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    assert started.activity_task_started_event_attributes.attempt == 1
    assert len(await history_events(caller, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)) == 1
    status = await status_of(agent)
    assert [(cb.attempt, cb.state) for cb in status.callbacks] == [(1, "delivered")]


async def test_ai_worker_killed_mid_step_retries_the_step_after_its_heartbeat_timeout(
    crash_stack: LocalStack,
) -> None:
    client = crash_stack.client
    caller = await start_dsl(
        client,
        "reliability-call",
        {"input": "again", "parameters": {"steps": "1", "delay_ms": "4000"}},
    )
    agent = await _step_running(client, caller.id)

    killed_at = datetime.now(UTC)
    await crash_stack.kill_service("ai-worker")
    await crash_stack.start_service("ai-worker")
    ready_at = datetime.now(UTC)
    retried: list[PendingActivityInfo] = []

    async def second_attempt_running() -> bool:
        step = await running_step(agent)
        if step is not None and step.attempt == 2:
            retried.append(step)
        return bool(retried)

    await eventually(second_attempt_running)
    result: dict[str, Any] = await caller.result()

    assert result["output"] == "again"
    (step,) = retried
    assert step.last_failure.timeout_failure_info.timeout_type == (
        TimeoutType.TIMEOUT_TYPE_HEARTBEAT
    )
    # Retried once the heartbeat timeout (then a 1 s backoff) had passed, and promptly.
    # The last beat Temporal saw may precede the kill by up to 2 s (1 s beats, 1 s throttle).
    heartbeat, backoff = timedelta(seconds=STEP_HEARTBEAT), timedelta(seconds=1)
    retried_at = step.last_started_time.ToDatetime(tzinfo=UTC)
    assert retried_at >= killed_at + heartbeat + backoff - timedelta(seconds=2)
    assert retried_at <= max(ready_at, killed_at + heartbeat + backoff) + timedelta(seconds=3)
    (started,) = [
        event
        for event in await history_events(agent, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
        if event.activity_task_started_event_attributes.attempt > 1
    ]
    assert started.activity_task_started_event_attributes.attempt == 2
    status = await status_of(agent)
    assert [cb.state for cb in status.callbacks] == ["delivered"]


async def test_stigma_api_down_calls_are_retried_with_backoff_until_it_is_up(
    crash_stack: LocalStack,
) -> None:
    client = crash_stack.client
    await crash_stack.stop_service("stigma-api")
    try:
        caller = await start_dsl(client, "reliability-call", {"input": "patience"})

        async def retried_twice() -> bool:
            pending = await pending_call(caller)
            return pending is not None and pending.attempt >= 3

        await eventually(retried_twice, within=30)
        pending = await pending_call(caller)
        assert pending is not None
        failure = pending.last_failure.application_failure_info
        assert failure.type == STIGMA_UNAVAILABLE_ERROR
        assert not failure.non_retryable
    finally:
        await crash_stack.start_service("stigma-api")
    result: dict[str, Any] = await caller.result()

    assert result["output"] == "patience"
    assert len(await agent_runs(client, caller.id)) == 1
    (started,) = await history_events(caller, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    # Backoff, not a hot loop: 1 s, 2 s, 4 s ... between attempts.
    assert 3 <= started.activity_task_started_event_attributes.attempt <= 6


async def _running_agents(client: Client) -> int:
    counted = await client.count_workflows(RUNNING_AGENTS_QUERY)
    return counted.count


async def test_admission_limit_answers_resource_exhausted_but_admits_replays(
    crash_stack: LocalStack, crash_stigma: agent_pb2_grpc.AgentServiceStub
) -> None:
    client = crash_stack.client

    async def idle() -> bool:
        return await _running_agents(client) == 0

    await eventually(idle)
    api = crash_stack.services["stigma-api"]
    limits = {"STIGMA_API_MAX_RUNNING_EXECUTIONS": "2", "STIGMA_API_ADMISSION_REFRESH": "PT0S"}
    await crash_stack.stop_service("stigma-api")
    api.env.update(limits)
    await crash_stack.start_service("stigma-api")
    spec = agent_pb2.AgentSpec(
        input="hold", model="scripted:echo", parameters={"delay_ms": "120000"}
    )
    request_ids = [unique("admit") for _ in range(3)]
    try:
        for request_id in request_ids[:2]:
            await crash_stigma.StartAgent(
                agent_pb2.StartAgentRequest(request_id=request_id, spec=spec)
            )

        async def both_visible() -> bool:
            return await _running_agents(client) == 2

        # The limit counts through visibility, which lags a little (ADR 0007): a soft limit.
        await eventually(both_visible)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await crash_stigma.StartAgent(
                agent_pb2.StartAgentRequest(request_id=request_ids[2], spec=spec)
            )
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "STIGMA_API_MAX_RUNNING_EXECUTIONS" in (caught.value.details() or "")
        # A replay of an admitted request is not a new execution: never refused.
        replay = await crash_stigma.StartAgent(
            agent_pb2.StartAgentRequest(request_id=request_ids[0], spec=spec)
        )
        assert replay.already_running
        # Room again once one ends.
        await crash_stigma.CancelExecution(
            agent_pb2.CancelExecutionRequest(execution_id=f"agent-{request_ids[0]}")
        )

        async def admitted() -> bool:
            try:
                await crash_stigma.StartAgent(
                    agent_pb2.StartAgentRequest(request_id=request_ids[2], spec=spec)
                )
            except grpc.aio.AioRpcError as err:
                if err.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise
                return False
            return True

        await eventually(admitted, every=0.3)
    finally:
        for request_id in request_ids:
            await _cancel_quietly(crash_stigma, f"agent-{request_id}")
        await crash_stack.stop_service("stigma-api")
        for key in limits:
            api.env.pop(key)
        await crash_stack.start_service("stigma-api")


async def _cancel_quietly(stub: agent_pb2_grpc.AgentServiceStub, execution_id: str) -> None:
    try:
        await stub.CancelExecution(agent_pb2.CancelExecutionRequest(execution_id=execution_id))
    except grpc.aio.AioRpcError as err:
        if err.code() != grpc.StatusCode.NOT_FOUND:
            raise


async def test_temporal_restart_with_20_calls_in_flight_completes_them_all(
    crash_stack: LocalStack,
) -> None:
    client = crash_stack.client
    tag = uuid.uuid4().hex[:8]
    callers = await asyncio.gather(
        *(
            start_dsl(
                client,
                "reliability-call",
                {"input": f"restart {n}", "parameters": {"steps": "2", "delay_ms": "2500"}},
                workflow_id=f"restart-{tag}-{n:02d}",
            )
            for n in range(20)
        )
    )

    async def all_running() -> bool:
        counted = await client.count_workflows(
            f"WorkflowType = '{AGENT_WORKFLOW}' AND WorkflowId STARTS_WITH 'agent-restart-{tag}-'"
        )
        return counted.count == 20

    await eventually(all_running)
    await crash_stack.temporal.stop()
    await crash_stack.temporal.start()
    results = await asyncio.gather(*(caller.result() for caller in callers))

    assert [r["output"] for r in results] == [f"restart {n}" for n in range(20)]
    for caller in callers:
        assert len(await agent_runs(client, caller.id)) == 1


async def test_soak_300_calls_with_failures_and_an_orchestrator_crash(
    crash_stack: LocalStack,
) -> None:
    client = crash_stack.client
    tag = uuid.uuid4().hex[:8]
    calls = 300

    def failing(n: int) -> bool:
        return n % 10 == 0

    def parameters(n: int) -> dict[str, str]:
        shape = {"steps": "2", "delay_ms": "1000"}
        return {**shape, "fail_at_step": "2"} if failing(n) else shape

    callers = await asyncio.gather(
        *(
            start_dsl(
                client,
                "reliability-call",
                {"input": f"soak {n}", "parameters": parameters(n)},
                workflow_id=f"soak-{tag}-{n:03d}",
            )
            for n in range(calls)
        )
    )
    agents_query = (
        f"WorkflowType = '{AGENT_WORKFLOW}' AND WorkflowId STARTS_WITH 'agent-soak-{tag}-'"
    )

    async def halfway() -> bool:
        return (await client.count_workflows(agents_query)).count >= calls // 2

    await eventually(halfway, within=120)
    await crash_stack.kill_service("stigma-orchestrator")
    await crash_stack.start_service("stigma-orchestrator")
    outcomes = await asyncio.gather(
        *(caller.result() for caller in callers), return_exceptions=True
    )

    lost, wrong = [], []
    for n, outcome in enumerate(outcomes):
        if failing(n):
            if not (
                isinstance(outcome, WorkflowFailureError)
                and isinstance(outcome.cause, ActivityError)
                and isinstance(outcome.cause.cause, ApplicationError)
                and outcome.cause.cause.type == AGENT_FAILED_ERROR
                and "scripted failure at step 2" in outcome.cause.cause.message
            ):
                wrong.append((n, outcome))
        elif isinstance(outcome, BaseException):
            lost.append((n, outcome))
        elif outcome["output"] != f"soak {n}":
            wrong.append((n, outcome))
    assert not lost, f"{len(lost)} lost, first: {lost[:3]}"
    assert not wrong, f"{len(wrong)} wrong, first: {wrong[:3]}"
    # The ledger: exactly one agent run per logical call, none missing, none doubled.
    runs = Counter(
        [
            execution.id.removeprefix("agent-").split("/")[0]
            async for execution in client.list_workflows(agents_query)
        ]
    )
    assert set(runs) == {caller.id for caller in callers}
    doubled = {caller_id: count for caller_id, count in runs.items() if count != 1}
    assert not doubled


async def test_stigmactl_pending_says_it_cannot_read_the_runs_while_the_orchestrator_is_down(
    crash_stack: LocalStack,
) -> None:
    client = crash_stack.client
    caller = await start_dsl(
        client,
        "reliability-call",
        {"input": "counted", "parameters": {"steps": "2", "delay_ms": "20000"}},
    )
    agent = await agent_of(client, caller.id)

    async def listed() -> bool:
        out = io.StringIO()
        code = await stigmactl(["pending", "--json"], client=client, out=out)
        rows = json.loads(out.getvalue())
        return code == 0 and any(row["caller_workflow_id"] == caller.id for row in rows)

    await eventually(listed, within=60)  # listed from the caller's first beat on
    await crash_stack.stop_service("stigma-orchestrator")
    try:
        out, err = io.StringIO(), io.StringIO()
        started = time.monotonic()
        code = await stigmactl(["pending"], client=client, out=out, stderr=err)
        took = time.monotonic() - started
    finally:
        await crash_stack.start_service("stigma-orchestrator")

    # Never a confident "0 pending": it says the list is incomplete, names the run, exits 3,
    # and answers in seconds (every query at once, under one 3 s deadline).
    assert code == 3, (out.getvalue(), err.getvalue())
    assert "INCOMPLETE" in err.getvalue()
    assert agent.id in err.getvalue()
    assert took < 10, took
    result: dict[str, Any] = await caller.result()
    assert result["output"] == "counted"
