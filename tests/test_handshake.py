"""The token handshake end to end: real Temporal, real service processes, real gRPC."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from agent_contract import AGENT_FAILED_ERROR, MODEL_REQUEST_ACTIVITIES
from devstack import LocalStack
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from tests.conftest import ZIGFLOW_SLOTS
from tests.support import history_events, start_dsl, unique


async def test_caller_receives_the_agents_output_not_its_request(client: Client) -> None:
    handle = await start_dsl(
        client,
        "agent-call",
        {
            "input": "durable agents",
            "model": "scripted:upper",
            "parameters": {"steps": "3", "output": "{execution_id} says {result}"},
        },
    )
    result: dict[str, Any] = await handle.result()

    execution_id = result["execution_id"]
    assert execution_id.startswith("agent-")
    assert result["output"] == f"{execution_id} says DURABLE AGENTS"
    # Three model calls, the think tool between them: five durable steps.
    assert [step["index"] for step in result["steps"]] == [0, 1, 2, 3, 4]
    assert [step["kind"] for step in result["steps"]] == ["model", "tool"] * 2 + ["model"]
    assert result["usage"]["steps"] == 3
    assert result["usage"]["tool_calls"] == 2
    assert result["started_at"] <= result["finished_at"]
    # The caller's CallAgent activity itself completed with that result, on its first attempt.
    (completed,) = await history_events(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
    (started,) = await history_events(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    assert started.activity_task_started_event_attributes.attempt == 1
    assert completed.activity_task_completed_event_attributes.result.payloads


async def test_a_call_answered_within_its_first_beat_costs_no_visibility_write(
    client: Client,
) -> None:
    """The pending search attributes (and the keep-alive) start only once a call outlives
    its caller's first heartbeat: a short agent's run writes neither."""
    handle = await start_dsl(client, "agent-call", {"input": "quick", "model": "scripted:echo"})
    result: dict[str, Any] = await handle.result()

    agent = client.get_workflow_handle(result["execution_id"])
    assert not await history_events(agent, EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)
    scheduled = await history_events(agent, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    names = {
        event.activity_task_scheduled_event_attributes.activity_type.name for event in scheduled
    }
    assert names == {MODEL_REQUEST_ACTIVITIES[0]}  # and no keep_caller_alive


async def test_failing_agent_fails_the_callers_activity_as_agent_failed(client: Client) -> None:
    handle = await start_dsl(client, "failing-agent", {"question": "will it fail?"})
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()

    activity_error = caught.value.cause
    assert isinstance(activity_error, ActivityError)
    failure = activity_error.cause
    assert isinstance(failure, ApplicationError)
    assert failure.type == AGENT_FAILED_ERROR
    assert failure.non_retryable
    assert "scripted failure at step 2" in failure.message
    details = failure.details[0]
    assert details["execution_id"].startswith("agent-")
    assert "ScriptedFailure" in details["error"]
    # Non-retryable: one attempt, failed by Stigma (not timed out).
    (failed,) = await history_events(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED)
    assert failed.activity_task_failed_event_attributes.failure.application_failure_info.type == (
        AGENT_FAILED_ERROR
    )


async def test_fire_and_forget_runs_to_completion_seen_through_reads(
    stigma: agent_pb2_grpc.AgentServiceStub,
) -> None:
    request_id = unique("direct")
    spec = agent_pb2.AgentSpec(
        name="direct",
        input="no callback",
        model="scripted:reverse",
        parameters={"steps": "2", "delay_ms": "300"},
        tools=[agent_pb2.ToolSpec(name="think")],
    )
    ack = await stigma.StartAgent(agent_pb2.StartAgentRequest(request_id=request_id, spec=spec))
    assert ack.accepted
    assert not ack.already_running

    phases = []
    async for update in stigma.WatchExecution(
        agent_pb2.WatchExecutionRequest(execution_id=ack.execution_id)
    ):
        phases.append(update.execution.phase)
    assert phases[-1] == agent_pb2.EXECUTION_PHASE_COMPLETED
    assert agent_pb2.EXECUTION_PHASE_RUNNING in phases

    reply = await stigma.GetExecution(agent_pb2.GetExecutionRequest(execution_id=ack.execution_id))
    execution = reply.execution
    assert execution.phase == agent_pb2.EXECUTION_PHASE_COMPLETED
    assert execution.output == "kcabllac on"
    assert [step.kind for step in execution.steps] == [
        agent_pb2.STEP_KIND_MODEL,
        agent_pb2.STEP_KIND_TOOL,
        agent_pb2.STEP_KIND_MODEL,
    ]
    assert execution.usage.steps == 2
    assert not execution.callback_attached
    assert execution.finished_at.seconds > 0

    # The same request id again is an idempotent replay: same run, no second agent.
    again = await stigma.StartAgent(agent_pb2.StartAgentRequest(request_id=request_id, spec=spec))
    assert again.execution_id == ack.execution_id
    assert again.already_running


async def test_pending_agent_calls_hold_no_worker_slot(client: Client, stack: LocalStack) -> None:
    calls, agent_seconds = 50, 2.0
    assert ZIGFLOW_SLOTS == 1
    started = time.monotonic()
    handles = await asyncio.gather(
        *(
            start_dsl(
                client,
                "agent-call",
                {
                    "input": f"call {n}",
                    "parameters": {"steps": "1", "delay_ms": str(int(agent_seconds * 1000))},
                },
            )
            for n in range(calls)
        )
    )
    results = await asyncio.gather(*(handle.result() for handle in handles))
    elapsed = time.monotonic() - started

    assert sorted(r["output"] for r in results) == sorted(f"call {n}" for n in range(calls))
    # With one slot held for the agent's whole run this would take calls * agent_seconds
    # (100 s); pending calls hold nothing, so they overlap. The bound is deliberately loose.
    assert elapsed < calls * agent_seconds / 4, f"{calls} calls took {elapsed:.1f}s"
