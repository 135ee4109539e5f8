"""Liveness and cancellation, on the shared stack (nothing is killed here).

A terminated agent fails its caller quickly with a clear error; cancelling the caller
stops the agent's running AI step; a Stigma-side cancellation is an AgentCancelled the
caller can catch; a timed-out CallAgent attempt re-attaches to the same agent run; an
over-large output fails with a named error instead of a Temporal blob-size error.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from agent_contract import (
    AGENT_CANCELLED_ERROR,
    AGENT_FAILED_ERROR,
    AGENT_OUTPUT_TOO_LARGE_ERROR,
    PENDING_CALLBACKS_QUERY,
    REDELIVER_WORKFLOW,
    Phase,
)
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from tests.reliability_support import (
    agent_of,
    agent_runs,
    pending_call,
    running_step,
    status_of,
)
from tests.support import eventually, history_events, start_dsl

# reliability-fast.yaml: the caller's heartbeat timeout, and the orchestrator's beat (a third).
FAST_HEARTBEAT = 6.0
BEAT = FAST_HEARTBEAT / 3
LONG_AGENT = {"steps": "1", "delay_ms": "120000"}


def _agent_error(caught: pytest.ExceptionInfo[WorkflowFailureError]) -> ApplicationError:
    activity_error = caught.value.cause
    assert isinstance(activity_error, ActivityError)
    failure = activity_error.cause
    assert isinstance(failure, ApplicationError)
    return failure


async def _agent_step_running(client: Client, caller_id: str) -> Any:
    agent = await agent_of(client, caller_id)

    async def step_started() -> bool:
        return await running_step(agent) is not None

    await eventually(step_started)
    return agent


async def test_terminated_agent_fails_its_caller_within_the_heartbeat_timeout(
    client: Client,
) -> None:
    caller = await start_dsl(
        client, "reliability-fast", {"input": "orphaned", "parameters": LONG_AGENT}
    )
    agent = await _agent_step_running(client, caller.id)

    terminated = time.monotonic()
    await agent.terminate(reason="an operator pulled the plug")
    with pytest.raises(WorkflowFailureError) as caught:
        await caller.result()
    waited = time.monotonic() - terminated

    failure = _agent_error(caught)
    assert failure.type == AGENT_FAILED_ERROR
    assert failure.non_retryable
    assert f"agent execution {agent.id} was closed by Temporal (TERMINATED)" in failure.message
    assert waited < FAST_HEARTBEAT + 3.0, f"the caller waited {waited:.1f}s"


async def test_a_terminated_agent_past_its_first_beat_is_failed_by_its_keeper(
    client: Client,
) -> None:
    # Once the run has published its caller (past the first beat), the shard's keeper finds
    # the run closed without delivering and fails the caller itself, within about a sweep:
    # on the caller's first attempt, before its heartbeat timeout could expire and a retried
    # attempt learn it from stigma-api.
    caller = await start_dsl(
        client, "reliability-fast", {"input": "orphaned late", "parameters": LONG_AGENT}
    )
    agent = await _agent_step_running(client, caller.id)

    async def published() -> bool:
        query = f"{PENDING_CALLBACKS_QUERY} AND WorkflowId = '{agent.id}'"
        return (await client.count_workflows(query)).count == 1

    await eventually(published, within=20)
    terminated = time.monotonic()
    await agent.terminate(reason="an operator pulled the plug")
    with pytest.raises(WorkflowFailureError) as caught:
        await caller.result()
    waited = time.monotonic() - terminated

    failure = _agent_error(caught)
    assert failure.type == AGENT_FAILED_ERROR
    assert f"agent execution {agent.id} was closed by Temporal (TERMINATED)" in failure.message
    # One attempt, failed by the keeper: no heartbeat timeout, no retry.
    (started,) = await history_events(caller, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    assert started.activity_task_started_event_attributes.attempt == 1
    assert len(await history_events(caller, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED)) == 1
    assert waited < FAST_HEARTBEAT, f"the caller waited {waited:.1f}s"


async def test_the_keeper_beats_a_slow_beat_caller_with_its_progress_and_no_activity_of_its_own(
    client: Client, stigma: agent_pb2_grpc.AgentServiceStub
) -> None:
    # The caller's beat (every ~15 s) is slower than the keeper's own heartbeat timeout
    # (10 s in the local stack): the shard's keeper beats itself in between, whatever its
    # callers need. The run holds no keep-alive activity (revision 4, docs/adr/0020).
    caller = await start_dsl(
        client,
        "reliability-slow-beat",
        {"input": "slow beat", "parameters": {"steps": "8", "delay_ms": "4000"}},
    )
    agent = await agent_of(client, caller.id)

    async def beaten_with_progress() -> bool:
        # 7 model calls of 4 s: 28 s in, past the first beat (15 s) and the next one.
        if (await status_of(agent)).usage.steps < 7:
            return False
        call = await pending_call(caller)
        return call is not None and bool(call.heartbeat_details.payloads)

    await eventually(beaten_with_progress, within=60)
    call = await pending_call(caller)
    scheduled = await history_events(agent, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    await stigma.CancelExecution(agent_pb2.CancelExecutionRequest(execution_id=agent.id))

    assert call is not None
    assert call.attempt == 1
    (progress,) = await client.data_converter.decode(call.heartbeat_details.payloads)
    assert progress["execution_id"] == agent.id
    assert progress["phase"] == "RUNNING"
    assert progress["steps"] >= 3  # published by the run as its steps ended
    names = {e.activity_task_scheduled_event_attributes.activity_type.name for e in scheduled}
    assert "keep_caller_alive" not in names
    with pytest.raises(WorkflowFailureError):
        await caller.result()


async def test_cancelling_the_caller_cancels_the_agent_and_stops_its_step(
    client: Client,
) -> None:
    caller = await start_dsl(
        client, "reliability-fast", {"input": "never mind", "parameters": LONG_AGENT}
    )
    agent = await _agent_step_running(client, caller.id)

    await caller.cancel()

    async def agent_cancelled() -> bool:
        return (await status_of(agent)).phase is Phase.CANCELLED

    await eventually(agent_cancelled, within=4 * BEAT + 5)
    status = await status_of(agent)
    assert status.error == "cancelled by the caller"
    # The running AI step itself stopped (the worker reported it cancelled) ...
    (requested,) = await history_events(
        caller, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED
    )
    (stopped,) = await history_events(agent, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED)
    took = (stopped.event_time.ToDatetime() - requested.event_time.ToDatetime()).total_seconds()
    assert took <= 2 * BEAT, f"the step stopped {took:.2f}s after the cancel request"
    # ... and the caller's activity was reported cancelled, so its workflow ends CANCELED.
    await agent.result()
    assert (await caller.describe()).status == WorkflowExecutionStatus.CANCELED
    (cancelled,) = await history_events(caller, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED)
    assert cancelled.activity_task_canceled_event_attributes.details.payloads


async def test_cancel_execution_reaches_the_caller_as_a_catchable_agent_cancelled(
    client: Client, stigma: agent_pb2_grpc.AgentServiceStub
) -> None:
    caller = await start_dsl(
        client, "reliability-catch", {"input": "stop me", "parameters": LONG_AGENT}
    )
    agent = await _agent_step_running(client, caller.id)

    reply = await stigma.CancelExecution(
        agent_pb2.CancelExecutionRequest(execution_id=agent.id, reason="operator")
    )
    assert reply.execution.execution_id == agent.id

    # The DSL try/catch matched the failure by its type and handled it.
    assert await caller.result() == {"caught": AGENT_CANCELLED_ERROR}
    (failed,) = await history_events(caller, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED)
    info = failed.activity_task_failed_event_attributes.failure.application_failure_info
    assert info.type == AGENT_CANCELLED_ERROR
    assert info.non_retryable
    status = await status_of(agent)
    assert status.phase is Phase.CANCELLED
    assert status.error == "cancelled by Stigma"
    assert [cb.state for cb in status.callbacks] == ["delivered"]


async def test_timed_out_attempt_reattaches_to_the_same_agent_run(client: Client) -> None:
    # Each CallAgent attempt times out after 3 s; the agent needs 5 s: attempt 2 must
    # re-attach its new token to the run attempt 1 started.
    caller = await start_dsl(
        client, "reliability-timeout", {"input": "slow", "parameters": {"delay_ms": "5000"}}
    )
    result: dict[str, Any] = await caller.result()

    assert result["output"] == "slow"
    assert len(await agent_runs(client, caller.id)) == 1
    (started,) = await history_events(caller, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    attributes = started.activity_task_started_event_attributes
    assert attributes.attempt == 2
    assert attributes.last_failure.timeout_failure_info.timeout_type  # attempt 1 timed out
    status = await status_of(client.get_workflow_handle(result["execution_id"]))
    assert [(cb.attempt, cb.state) for cb in status.callbacks] == [(1, "stale"), (2, "delivered")]


async def test_attempt_arriving_after_the_end_gets_the_stored_outcome(client: Client) -> None:
    # The agent (3.3 s) ends after attempt 1 timed out (3 s) and before attempt 2
    # (1 s backoff) arrives: stigma-api hands the stored outcome to attempt 2.
    caller = await start_dsl(
        client, "reliability-timeout", {"input": "late", "parameters": {"delay_ms": "3300"}}
    )
    result: dict[str, Any] = await caller.result()

    assert result["output"] == "late"
    (agent_id,) = await agent_runs(client, caller.id)
    assert agent_id == result["execution_id"]
    redeliveries = [
        execution.id
        async for execution in client.list_workflows(
            f"WorkflowType = '{REDELIVER_WORKFLOW}' AND WorkflowId STARTS_WITH '{agent_id}/'"
        )
    ]
    assert len(redeliveries) == 1


async def test_over_large_output_fails_with_a_named_error(client: Client) -> None:
    big = "x" * (200 * 1024)
    caller = await start_dsl(
        client,
        "agent-call",
        {"input": big, "parameters": {"output": "{result}{result}{result}"}},
    )
    with pytest.raises(WorkflowFailureError) as caught:
        await caller.result()

    failure = _agent_error(caught)
    assert failure.type == AGENT_FAILED_ERROR
    assert AGENT_OUTPUT_TOO_LARGE_ERROR in failure.message
    assert "the limit is 524288" in failure.message
