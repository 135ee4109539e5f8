"""The shared payload types: phases, the caller's result, and Temporal's JSON round trip."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

import agent_contract
from agent_contract import (
    CALLER_BUCKETS,
    CALLER_PROGRESS_MEMO,
    KEPT_CALLERS_MEMO,
    AgentResult,
    AgentRunInput,
    AgentSpecData,
    Budget,
    CallbackRef,
    CallbackState,
    CallbackStatus,
    CallerProgress,
    CallerReport,
    CallerVerdict,
    CarriedCallback,
    DeliveryOutcome,
    DeliveryRequest,
    ExecutionStatus,
    KeepAliveRequest,
    KeeperShard,
    KeptCaller,
    PendingApproval,
    Phase,
    ResumeState,
    RunOptions,
    StartPublication,
    StepKind,
    StepRecord,
    StepRequest,
    StepResult,
    ToolDecision,
    ToolGrant,
    ToolOutcome,
    Usage,
    agent_workflow_id,
    caller_bucket,
    execution_id_for,
)

SPEC = AgentSpecData(
    input="Why durable workflows?",
    model="scripted:echo",
    name="explainer",
    instructions="One sentence.",
    max_steps=5,
    parameters={"steps": "3", "output": "{result} ✓"},
    labels={"team": "agents"},
)
CALLBACK = CallbackRef(
    namespace="default",
    workflow_id="caller-wf",
    run_id="caller-run",
    activity_id="7",
    attempt=2,
    task_token_b64="dGFzay10b2tlbg==",
    fingerprint="0123456789ab",
    expires_at="2025-06-01T13:00:00+00:00",
    traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    heartbeat_timeout_ms=60_000,
)
STEPS = [
    StepRecord(
        index=0,
        message="step 1/2",
        started_at="2025-06-01T12:00:00+00:00",
        finished_at="2025-06-01T12:00:01+00:00",
    ),
    StepRecord(
        index=1,
        message="done",
        started_at="2025-06-01T12:00:01+00:00",
        finished_at="2025-06-01T12:00:02+00:00",
    ),
]
USAGE = Usage(input_tokens=3, output_tokens=4, steps=2)
RESULT = AgentResult(
    execution_id="agent-req-1",
    output="done",
    steps=STEPS,
    usage=USAGE,
    started_at="2025-06-01T12:00:00+00:00",
    finished_at="2025-06-01T12:00:02+00:00",
    name="explainer",
    model="scripted:echo",
)
STATUS = ExecutionStatus(
    execution_id="agent-req-1",
    request_id="req-1",
    phase=Phase.COMPLETED,
    spec=SPEC,
    created_at="2025-06-01T12:00:00+00:00",
    updated_at="2025-06-01T12:00:02+00:00",
    steps=STEPS,
    output="done",
    usage=USAGE,
    finished_at="2025-06-01T12:00:02+00:00",
    callbacks=[
        CallbackStatus(fingerprint="aaaaaaaaaaaa", attempt=1, state=CallbackState.STALE),
        CallbackStatus(fingerprint="bbbbbbbbbbbb", attempt=2, state=CallbackState.DELIVERED),
    ],
)

TOOLED_SPEC = AgentSpecData(
    input="What time is it?",
    model="openai:gpt-4o-mini",
    tools=[
        ToolGrant(name="current_time"),
        ToolGrant(name="run_workflow", requires_approval=True, allow=["summarize-document"]),
    ],
    budget=Budget(max_tool_calls=5, max_duration_ms=60_000, max_cost_usd="0.25"),
)
TOOL_STEP = StepRecord(
    index=2,
    kind=StepKind.TOOL.value,
    tool="current_time",
    tool_call_id="call-1",
    arguments='{"timezone": "UTC"}',
    message='{"iso": "2025-06-01T12:00:01+00:00"}',
    outcome=ToolOutcome.OK.value,
    started_at="2025-06-01T12:00:01+00:00",
    finished_at="2025-06-01T12:00:01+00:00",
)
APPROVAL = PendingApproval(
    tool_call_id="call-2",
    tool="run_workflow",
    arguments="{}",
    requested_at="2025-06-01T12:00:02+00:00",
)
RESUME = ResumeState(
    conversation="[]",
    options=RunOptions(input_usd_per_mtok="0.15", output_usd_per_mtok="0.6"),
    usage=Usage(input_tokens=10, output_tokens=20, steps=2, tool_calls=1, cost_usd="0.000013"),
    steps=[TOOL_STEP],
    steps_dropped=3,
    callbacks=[
        CarriedCallback(ref=CALLBACK, state=CallbackState.PENDING, attached_at="t", visible=True)
    ],
    continuations=1,
)

# One sample (or more) of every payload type, with optional fields both set and unset.
SAMPLES: list[Any] = [
    SPEC,
    TOOLED_SPEC,
    ToolGrant(name="think"),
    Budget(),
    TOOL_STEP,
    APPROVAL,
    ToolDecision(tool_call_id="call-2", approve=False, reason="not today"),
    CarriedCallback(ref=CALLBACK, state=CallbackState.DELIVERED),
    RESUME,
    AgentRunInput(
        execution_id="agent-req-4",
        request_id="req-4",
        spec=TOOLED_SPEC,
        accepted_at="2025-06-01T12:00:00+00:00",
        revision=2,
        resume=RESUME,
    ),
    ExecutionStatus(
        execution_id="agent-req-4",
        request_id="req-4",
        phase=Phase.FAILED,
        spec=TOOLED_SPEC,
        created_at="2025-06-01T12:00:00+00:00",
        updated_at="2025-06-01T12:00:00+00:00",
        steps=[TOOL_STEP],
        pending_approvals=[APPROVAL],
        error="budget.max_tool_calls: ...",
        error_type="AgentBudgetExceeded",
        steps_dropped=1,
    ),
    AgentSpecData(input="only the required fields", model="openai:gpt-4o-mini"),
    CALLBACK,
    AgentRunInput(
        execution_id="agent-req-1",
        request_id="req-1",
        spec=SPEC,
        accepted_at="2025-06-01T12:00:00+00:00",
        callback=CALLBACK,
    ),
    AgentRunInput(
        execution_id="agent-req-2",
        request_id="req-2",
        spec=SPEC,
        accepted_at="2025-06-01T12:00:00+00:00",
    ),
    STEPS[0],
    USAGE,
    Usage(),
    StepRequest(
        execution_id="agent-req-1",
        spec=SPEC,
        index=1,
        previous=["step 1/2"],
        max_output_bytes=4096,
    ),
    StepRequest(execution_id="agent-req-1", spec=SPEC, index=0),
    RunOptions(),
    RunOptions(
        step_heartbeat_ms=1_000,
        step_start_to_close_ms=5_000,
        keeper_heartbeat_ms=2_000,
        max_output_bytes=1024,
    ),
    StepResult(message="done", done=True, input_tokens=3, output_tokens=4),
    RESULT,
    CallbackStatus(fingerprint="0123456789ab", attempt=1, state=CallbackState.PENDING),
    DeliveryRequest(
        callback=CALLBACK,
        execution_id="agent-req-1",
        phase=Phase.COMPLETED,
        result=RESULT,
        ended_at="2025-06-01T12:00:02+00:00",
    ),
    DeliveryRequest(
        callback=CALLBACK,
        execution_id="agent-req-1",
        phase=Phase.CANCELLED,
        error="cancelled by the caller",
        caller_cancelled=True,
    ),
    KeepAliveRequest(callback=CALLBACK, execution_id="agent-req-1"),
    KeptCaller.of(CALLBACK),
    CallerProgress(execution_id="agent-req-1", phase="RUNNING", steps=3, tool_calls=1),
    CallerReport(fingerprint="fp", verdict=CallerVerdict.CANCEL_REQUESTED),
    KeeperShard(index=1, count=4, heartbeat_ms=20_000),
    StartPublication.of(
        CALLBACK, execution_id="agent-req-1", since=datetime(2025, 6, 1, tzinfo=UTC)
    ),
    STATUS,
    ExecutionStatus(
        execution_id="agent-req-3",
        request_id="req-3",
        phase=Phase.PENDING,
        spec=SPEC,
        created_at="2025-06-01T12:00:00+00:00",
        updated_at="2025-06-01T12:00:00+00:00",
    ),
    *Phase,
    *DeliveryOutcome,
    *CallerVerdict,
    *StepKind,
    *ToolOutcome,
]


@pytest.mark.parametrize("phase", list(Phase))
def test_terminal_phases(phase: Phase) -> None:
    expected = phase in {Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED}
    assert phase.terminal is expected


def test_to_result_is_the_outcome_not_the_request() -> None:
    result = STATUS.to_result()
    assert result == RESULT
    assert result.started_at == STATUS.created_at
    assert result.finished_at == STATUS.finished_at
    assert result.name == SPEC.name
    assert result.model == SPEC.model
    # The caller's copy of the step list does not alias the status's list.
    assert result.steps is not STATUS.steps


def test_to_result_of_a_fresh_status_is_empty() -> None:
    status = ExecutionStatus(
        execution_id="agent-x",
        request_id="x",
        phase=Phase.RUNNING,
        spec=AgentSpecData(input="i", model="scripted:echo"),
        created_at="2025-06-01T12:00:00+00:00",
        updated_at="2025-06-01T12:00:00+00:00",
    )
    result = status.to_result()
    assert (result.output, result.steps, result.usage, result.finished_at) == ("", [], Usage(), "")


def test_every_exported_dataclass_has_a_round_trip_sample() -> None:
    exported = {
        value
        for name in agent_contract.__all__
        if dataclasses.is_dataclass(value := getattr(agent_contract, name))
    }
    assert exported == {type(sample) for sample in SAMPLES if dataclasses.is_dataclass(sample)}


@pytest.mark.parametrize("value", SAMPLES, ids=lambda value: type(value).__name__)
@pytest.mark.parametrize(
    "converter", [DataConverter.default, pydantic_data_converter], ids=["default", "pydantic"]
)
async def test_converter_round_trip(value: Any, converter: DataConverter) -> None:
    # The agent's workers use Pydantic AI's (Pydantic) converter, stigma-api and the
    # zigflow-worker the default one: every payload must read the same through both.
    payloads = await converter.encode([value])
    (decoded,) = await converter.decode(payloads, [type(value)])
    assert decoded == value
    assert type(decoded) is type(value)


@pytest.mark.parametrize("value", SAMPLES, ids=lambda value: type(value).__name__)
async def test_the_two_converters_read_each_others_payloads(value: Any) -> None:
    for writer, reader in (
        (DataConverter.default, pydantic_data_converter),
        (pydantic_data_converter, DataConverter.default),
    ):
        (decoded,) = await reader.decode(await writer.encode([value]), [type(value)])
        assert decoded == value


async def test_round_trip_restores_nested_types() -> None:
    request = DeliveryRequest(
        callback=CALLBACK, execution_id="agent-req-1", phase=Phase.FAILED, result=RESULT
    )
    converter = DataConverter.default
    (decoded,) = await converter.decode(await converter.encode([request]), [DeliveryRequest])
    assert isinstance(decoded, DeliveryRequest)
    assert type(decoded.phase) is Phase
    assert isinstance(decoded.callback, CallbackRef)
    assert isinstance(decoded.result, AgentResult)
    assert isinstance(decoded.result.usage, Usage)
    assert all(isinstance(step, StepRecord) for step in decoded.result.steps)

    run = AgentRunInput(
        execution_id="agent-req-1", request_id="req-1", spec=SPEC, accepted_at="t", callback=None
    )
    (decoded_run,) = await converter.decode(await converter.encode([run]), [AgentRunInput])
    assert decoded_run.callback is None
    assert isinstance(decoded_run.spec, AgentSpecData)


async def test_decoding_without_the_type_hint_loses_the_types() -> None:
    # Why every workflow and activity signature names its payload type.
    converter = DataConverter.default
    (decoded,) = await converter.decode(await converter.encode([USAGE]))
    assert decoded == dataclasses.asdict(USAGE)


def test_execution_ids_derive_from_request_ids() -> None:
    assert execution_id_for("req-1") == "agent-req-1"
    assert execution_id_for("req-1") == execution_id_for("req-1")
    assert agent_workflow_id(execution_id_for("req-1")) == "agent-req-1"


def test_keeper_shards_cover_every_bucket_once() -> None:
    for count in (1, 3, 7, 1024):
        covered = [
            bucket
            for index in range(count)
            for bucket in range(*KeeperShard(index=index, count=count).buckets(CALLER_BUCKETS))
        ]
        assert covered == list(range(CALLER_BUCKETS))


def test_a_run_s_bucket_is_stable_and_in_range() -> None:
    assert caller_bucket("agent-a/b/1") == caller_bucket("agent-a/b/1")
    buckets = {caller_bucket(f"agent-{n}") for n in range(5000)}
    assert buckets <= set(range(CALLER_BUCKETS))
    assert len(buckets) > CALLER_BUCKETS * 0.9  # spread over (nearly) all of them


def test_a_kept_caller_never_carries_the_token() -> None:
    kept = dataclasses.asdict(KeptCaller.of(CALLBACK))
    assert CALLBACK.task_token_b64 not in kept.values()
    assert "task_token_b64" not in kept


def test_a_start_publication_is_what_the_run_would_publish_and_no_token() -> None:
    """The run reads it back as its own publication: the same KeptCaller, RUNNING, the
    run's bucket; and like the run's, the memo holds ids only."""
    since = datetime(2025, 6, 1, tzinfo=UTC)
    published = StartPublication.of(CALLBACK, execution_id="agent-req-1", since=since)
    assert published.memo[KEPT_CALLERS_MEMO] == [dataclasses.asdict(KeptCaller.of(CALLBACK))]
    progress = CallerProgress(**published.memo[CALLER_PROGRESS_MEMO])
    assert progress == CallerProgress(execution_id="agent-req-1", phase=Phase.RUNNING.value)
    assert published.bucket == float(caller_bucket("agent-req-1"))
    assert CALLBACK.task_token_b64 not in repr(published)
