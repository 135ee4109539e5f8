"""The read view of an execution: status dataclasses to wire messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from agent_contract import (
    AgentSpecData,
    Budget,
    CallbackState,
    CallbackStatus,
    ExecutionStatus,
    PendingApproval,
    Phase,
    StepRecord,
    ToolGrant,
    Usage,
)
from stigma.agent.v1 import agent_pb2
from stigma_api.conversions import execution_to_proto
from stigma_api.validation import Limits, validate_spec
from stigma_wire import spec_from_proto, spec_to_proto

SPEC = AgentSpecData(
    input="Why durable workflows?",
    model="scripted:echo",
    name="explainer",
    instructions="One sentence.",
    max_steps=4,
    parameters={"steps": "2"},
    labels={"team": "agents"},
)
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def iso(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def status(**changes: object) -> ExecutionStatus:
    base = ExecutionStatus(
        execution_id="agent-req-1",
        request_id="req-1",
        phase=Phase.COMPLETED,
        spec=SPEC,
        created_at=iso(0),
        updated_at=iso(2),
        steps=[
            StepRecord(index=0, message="step 1/2", started_at=iso(0), finished_at=iso(1)),
            StepRecord(index=1, message="done", started_at=iso(1), finished_at=iso(2)),
        ],
        output="done",
        error="",
        usage=Usage(input_tokens=3, output_tokens=1, steps=2),
        finished_at=iso(2),
        callbacks=[
            CallbackStatus(fingerprint="0123456789ab", attempt=1, state=CallbackState.DELIVERED)
        ],
    )
    for name, value in changes.items():
        setattr(base, name, value)
    return base


def test_completed_execution() -> None:
    message = execution_to_proto(status())
    assert message.execution_id == "agent-req-1"
    assert message.request_id == "req-1"
    assert message.phase == agent_pb2.EXECUTION_PHASE_COMPLETED
    assert message.spec == spec_to_proto(SPEC)
    assert message.output == "done"
    assert message.error == ""
    assert (message.usage.input_tokens, message.usage.output_tokens, message.usage.steps) == (
        3,
        1,
        2,
    )
    assert [(step.index, step.message) for step in message.steps] == [
        (0, "step 1/2"),
        (1, "done"),
    ]
    assert message.steps[1].started_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=1)
    assert message.steps[1].finished_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=2)
    assert message.created_at.ToDatetime(tzinfo=UTC) == T0
    assert message.updated_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=2)
    assert message.finished_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=2)
    assert message.callback_attached is True
    assert message.callback_delivered is True
    assert message.callback_state == "delivered"


@pytest.mark.parametrize(
    ("phase", "wire"),
    [
        (Phase.PENDING, agent_pb2.EXECUTION_PHASE_PENDING),
        (Phase.RUNNING, agent_pb2.EXECUTION_PHASE_RUNNING),
        (Phase.COMPLETED, agent_pb2.EXECUTION_PHASE_COMPLETED),
        (Phase.FAILED, agent_pb2.EXECUTION_PHASE_FAILED),
        (Phase.CANCELLED, agent_pb2.EXECUTION_PHASE_CANCELLED),
    ],
)
def test_every_phase_maps(phase: Phase, wire: agent_pb2.ExecutionPhase) -> None:
    assert execution_to_proto(status(phase=phase)).phase == wire


def test_running_execution_leaves_finish_unset() -> None:
    message = execution_to_proto(
        status(phase=Phase.RUNNING, finished_at="", output="", steps=[], callbacks=[])
    )
    assert not message.HasField("finished_at")
    assert message.HasField("created_at")
    assert list(message.steps) == []
    assert message.callback_attached is False
    assert message.callback_delivered is False
    assert message.callback_state == ""


def test_failed_execution_carries_its_error() -> None:
    message = execution_to_proto(status(phase=Phase.FAILED, output="", error="step 2 failed"))
    assert message.error == "step 2 failed"


def test_callback_state_is_the_latest_and_delivered_is_any() -> None:
    callbacks = [
        CallbackStatus(fingerprint="aaaaaaaaaaaa", attempt=1, state=CallbackState.DELIVERED),
        CallbackStatus(fingerprint="bbbbbbbbbbbb", attempt=2, state=CallbackState.PENDING),
    ]
    message = execution_to_proto(status(callbacks=callbacks))
    assert message.callback_attached is True
    assert message.callback_delivered is True
    assert message.callback_state == "pending"

    stale = [CallbackStatus(fingerprint="aaaaaaaaaaaa", attempt=1, state=CallbackState.STALE)]
    message = execution_to_proto(status(callbacks=stale))
    assert message.callback_delivered is False
    assert message.callback_state == "stale"


def test_offset_timestamps_are_normalised() -> None:
    plus_two = timezone(timedelta(hours=2))
    created = datetime(2025, 6, 1, 14, 0, tzinfo=plus_two).isoformat()
    message = execution_to_proto(status(created_at=created))
    assert message.created_at.ToDatetime(tzinfo=UTC) == T0


def test_execution_has_no_field_that_could_carry_a_token() -> None:
    names = [f.name for f in agent_pb2.Execution.DESCRIPTOR.fields]
    assert not [name for name in names if "token" in name and name != "usage"]
    message = execution_to_proto(status())
    assert b"0123456789ab" not in message.SerializeToString()


def test_spec_survives_the_trip_to_the_wire_and_back() -> None:
    limits = Limits(
        providers=frozenset({"scripted"}),
        max_input_bytes=1024,
        max_parameters=8,
        max_parameter_bytes=64,
        max_steps=10,
    )
    assert validate_spec(spec_to_proto(SPEC), limits) == SPEC


def test_tool_steps_usage_and_approvals_reach_the_wire() -> None:
    tool_step = StepRecord(
        index=1,
        kind="tool",
        tool="current_time",
        tool_call_id="call-1",
        arguments="{}",
        message='{"iso": "2025-06-01T12:00:01+00:00"}',
        outcome="ok",
        started_at=iso(1),
        finished_at=iso(1),
    )
    approval = PendingApproval(
        tool_call_id="call-2", tool="run_workflow", arguments="{}", requested_at=iso(2)
    )
    message = execution_to_proto(
        status(
            phase=Phase.RUNNING,
            steps=[tool_step],
            pending_approvals=[approval],
            usage=Usage(steps=1, tool_calls=1, cost_usd="0.000100"),
        ),
        partial_output="Thinking about",
    )
    (step,) = message.steps
    assert (step.kind, step.tool, step.tool_call_id, step.outcome) == (
        agent_pb2.STEP_KIND_TOOL,
        "current_time",
        "call-1",
        "ok",
    )
    assert message.usage.tool_calls == 1
    assert message.usage.cost_usd == "0.000100"
    assert message.partial_output == "Thinking about"
    assert [p.tool_call_id for p in message.pending_approvals] == ["call-2"]


def test_a_finished_execution_shows_no_partial_output() -> None:
    assert execution_to_proto(status(), partial_output="stale text").partial_output == ""


def test_a_failed_execution_names_its_error_type() -> None:
    message = execution_to_proto(
        status(phase=Phase.FAILED, error="budget.max_steps: ...", error_type="AgentBudgetExceeded")
    )
    assert message.error_type == "AgentBudgetExceeded"


def test_tools_and_budget_survive_the_wire_both_ways() -> None:
    spec = AgentSpecData(
        input="i",
        model="openai:gpt-4o-mini",
        tools=[ToolGrant("run_workflow", requires_approval=True, allow=["summarize-document"])],
        budget=Budget(max_input_tokens=10, max_duration_ms=90_000, max_cost_usd="1.5"),
    )
    assert spec_from_proto(spec_to_proto(spec)) == spec
