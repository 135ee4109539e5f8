"""Recorded histories of the orchestrator's workflows replay against the current code.

A failure here means a change would break agent runs already open in production
(non-determinism). If the change to the workflow's commands is intended, re-record with
``uv run python services/stigma-orchestrator/scripts/record_agent_histories.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.workflow import NondeterminismError

from agent_contract import (
    AGENT_BUDGET_EXCEEDED_ERROR,
    AGENT_STEP_ACTIVITY,
    AGENT_WORKFLOW,
    ATTACH_CALLBACK_SIGNAL,
    CALLER_BUCKET_ATTRIBUTE,
    CALLER_REPORT_SIGNAL,
    DELIVER_CALLBACK_ACTIVITY,
    KEEP_CALLER_ALIVE_ACTIVITY,
    KEPT_CALLERS_MEMO,
    KEPT_SINCE_ATTRIBUTE,
    MODEL_REQUEST_ACTIVITIES,
    REDELIVER_WORKFLOW,
)
from stigma_orchestrator.worker import replayer

HISTORIES = Path(__file__).resolve().parent / "histories"
RECORDED = {path.stem: path.read_text() for path in sorted(HISTORIES.glob("*.json"))}


def _history(scenario: str, text: str | None = None) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"recorded-{scenario}", text or RECORDED[scenario])


def _scheduled(history: WorkflowHistory) -> list[str]:
    return [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def _kinds(history: WorkflowHistory) -> set[EventType.ValueType]:
    return {event.event_type for event in history.events}


def _workflow_type(history: WorkflowHistory) -> str:
    started = history.events[0].workflow_execution_started_event_attributes
    return started.workflow_type.name


def _status(history: WorkflowHistory) -> dict[str, object]:
    """The status the agent run returned."""
    completed = history.events[-1].workflow_execution_completed_event_attributes
    (status,) = DataConverter.default.payload_converter.from_payloads(
        list(completed.result.payloads)
    )
    assert isinstance(status, dict)
    return status


def _phase(history: WorkflowHistory) -> str:
    return str(_status(history)["phase"])


MODEL_CALL = MODEL_REQUEST_ACTIVITIES[0]
TOOL_CALL = "agent__stigma__toolset__stigma__call_tool"


CONTINUED_AS_NEW = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW


def _loop_revision(history: WorkflowHistory) -> int:
    """The revision of a run of Pydantic AI's loop (2 or later): no agent_step activity."""
    assert AGENT_STEP_ACTIVITY not in _scheduled(history)
    revision = _revision(history)
    assert revision >= 2
    closed_by = history.events[-1].event_type
    # A hand-over (continue-as-new) delivers nothing and does not wait for its keep-alives.
    if revision >= 3 and _keeper_ran(history) and closed_by != CONTINUED_AS_NEW:
        _keepers_settled(history)
    return revision


def _rev2(history: WorkflowHistory) -> None:
    assert _loop_revision(history) == 2


def _rev3(history: WorkflowHistory) -> None:
    assert _loop_revision(history) == 3


def _rev4(history: WorkflowHistory) -> None:
    """Revision 4: no keep-alive activity, whatever the call's length (docs/adr/0020);
    stigma-api listed the caller for its keeper in the start request (never the token)."""
    assert _loop_revision(history) == 4
    assert not _keeper_ran(history)
    started = history.events[0].workflow_execution_started_event_attributes
    if started.continued_execution_run_id:
        return  # a continued run: its memo is its previous run's
    listed = started.memo.fields[KEPT_CALLERS_MEMO]
    (caller,) = DataConverter.default.payload_converter.from_payloads([listed])[0]
    assert caller["fingerprint"]
    assert "task_token_b64" not in caller
    attributes = started.search_attributes.indexed_fields
    assert CALLER_BUCKET_ATTRIBUTE in attributes
    assert KEPT_SINCE_ATTRIBUTE in attributes


def _short_rev4(history: WorkflowHistory) -> None:
    """A short revision-4 call: its run leaves the start request's listing as it is, and
    writes no memo or search attribute of its own."""
    kinds = _kinds(history)
    assert EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED not in kinds
    assert EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES not in kinds


def _keepers_settled(history: WorkflowHistory) -> None:
    """Revision 3: every keep-alive activity has ended (its end recorded) before the run
    closes, so no keep-alive event can land in the workflow task that closes it."""
    closed = len(history.events) - 1
    ends = (
        EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    )
    scheduled = [
        event.event_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name
        == KEEP_CALLER_ALIVE_ACTIVITY
    ]
    ended = {
        _scheduled_id(event)
        for event in history.events[:closed]
        if event.event_type in ends and _scheduled_id(event) in scheduled
    }
    assert ended == set(scheduled), f"keep-alives {scheduled}, ended before close: {ended}"


def _scheduled_id(event: Any) -> int:
    for attributes in (
        "activity_task_canceled_event_attributes",
        "activity_task_completed_event_attributes",
        "activity_task_failed_event_attributes",
        "activity_task_timed_out_event_attributes",
    ):
        if event.HasField(attributes):
            return int(getattr(event, attributes).scheduled_event_id)
    return -1


def _signals(history: WorkflowHistory) -> list[str]:
    return [
        event.workflow_execution_signaled_event_attributes.signal_name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]


def _keeper_ran(history: WorkflowHistory) -> bool:
    return KEEP_CALLER_ALIVE_ACTIVITY in _scheduled(history)


def _pending_published(history: WorkflowHistory) -> bool:
    return EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES in _kinds(history)


def _completed(history: WorkflowHistory) -> None:
    assert _scheduled(history).count(AGENT_STEP_ACTIVITY) == 3
    assert _phase(history) == "COMPLETED"
    assert not _keeper_ran(history)


def _completed_with_tools(history: WorkflowHistory) -> None:
    _loop_revision(history)
    assert _scheduled(history) == [MODEL_CALL, TOOL_CALL, MODEL_CALL, TOOL_CALL, MODEL_CALL]
    assert _phase(history) == "COMPLETED"
    assert not _pending_published(history)


def _tools_and_approval(history: WorkflowHistory) -> None:
    _loop_revision(history)
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED in _kinds(history)
    assert _pending_published(history)  # StigmaPendingApprovals while it waited
    assert TOOL_CALL not in _scheduled(history)  # the call was rejected, never run
    assert _phase(history) == "COMPLETED"


def _budget_exceeded(history: WorkflowHistory) -> None:
    _loop_revision(history)
    status = _status(history)
    assert (status["phase"], status["error_type"]) == ("FAILED", AGENT_BUDGET_EXCEEDED_ERROR)


def _continued(history: WorkflowHistory) -> None:
    _loop_revision(history)
    assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW in _kinds(history)


def _continued_last(history: WorkflowHistory) -> None:
    _loop_revision(history)
    started = history.events[0].workflow_execution_started_event_attributes
    (run,) = DataConverter.default.payload_converter.from_payloads(list(started.input.payloads))
    assert run["resume"]["continuations"] >= 2
    assert _phase(history) == "COMPLETED"


def _of(
    revision: Callable[[WorkflowHistory], None], check: Callable[[WorkflowHistory], None]
) -> Callable[[WorkflowHistory], None]:
    def checked(history: WorkflowHistory) -> None:
        revision(history)
        check(history)

    return checked


def _rev2_of(check: Callable[[WorkflowHistory], None]) -> Callable[[WorkflowHistory], None]:
    return _of(_rev2, check)


def _rev3_of(check: Callable[[WorkflowHistory], None]) -> Callable[[WorkflowHistory], None]:
    return _of(_rev3, check)


def _rev4_of(check: Callable[[WorkflowHistory], None]) -> Callable[[WorkflowHistory], None]:
    return _of(_rev4, check)


def _rev1_completed(history: WorkflowHistory) -> None:
    _completed(history)
    # A call answered before its caller's first beat writes no pending attributes (ADR 0011).
    assert not _pending_published(history)
    assert _revision(history) == 1


def _failed(history: WorkflowHistory) -> None:
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED in _kinds(history)
    assert _phase(history) == "FAILED"


def _long_with_keepalive(history: WorkflowHistory) -> None:
    assert _keeper_ran(history)
    assert _pending_published(history)
    assert _phase(history) == "COMPLETED"


def _cancelled_by_caller(history: WorkflowHistory) -> None:
    assert _keeper_ran(history)
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED in _kinds(history)
    assert _phase(history) == "CANCELLED"


def _long_kept(history: WorkflowHistory) -> None:
    """Revision 4: the caller outlived its first beat, so the run published it for its
    keeper (memo and search attributes) and took it back once delivered."""
    assert EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED in _kinds(history)
    assert _pending_published(history)
    assert _phase(history) == "COMPLETED"


def _cancelled_by_caller_kept(history: WorkflowHistory) -> None:
    """Revision 4: the keeper heard the caller's cancel request and signalled the run."""
    assert CALLER_REPORT_SIGNAL in _signals(history)
    assert _phase(history) == "CANCELLED"


def _reattached_kept(history: WorkflowHistory) -> None:
    assert ATTACH_CALLBACK_SIGNAL in _signals(history)
    assert _phase(history) == "COMPLETED"


def _reattached(history: WorkflowHistory) -> None:
    assert _signals(history) == [ATTACH_CALLBACK_SIGNAL]
    assert KEEP_CALLER_ALIVE_ACTIVITY in _scheduled(history)  # one or both attempts, by timing
    assert _phase(history) == "COMPLETED"


def _revision(history: WorkflowHistory) -> int:
    started = history.events[0].workflow_execution_started_event_attributes
    (run,) = DataConverter.default.payload_converter.from_payloads(list(started.input.payloads))
    assert isinstance(run, dict)
    return int(run.get("revision", 0))


def _before_0011_completed(history: WorkflowHistory) -> None:
    # Recorded with the code before ADR 0011: the pending attributes at attach, no patch marker.
    _completed(history)
    assert _pending_published(history)
    assert _revision(history) == 0


def _before_0011_long_with_keepalive(history: WorkflowHistory) -> None:
    _long_with_keepalive(history)
    assert _revision(history) == 0


def _redelivered(history: WorkflowHistory) -> None:
    assert _workflow_type(history) == REDELIVER_WORKFLOW
    assert _scheduled(history) == [DELIVER_CALLBACK_ACTIVITY]


# What each recording must exercise: a re-recording that silently took another path
# (a keeper that never started, a cancellation that came too late) fails here.
SCENARIOS: dict[str, Callable[[WorkflowHistory], None]] = {
    # Kept from before ADR 0011, never re-recorded: runs open across that deploy must replay.
    "before_0011_completed": _before_0011_completed,
    "before_0011_long_with_keepalive": _before_0011_long_with_keepalive,
    # Revision 1 (one agent_step activity per step), kept since ADR 0012: never re-recorded.
    "rev1_completed": _rev1_completed,
    "rev1_failed": _failed,
    "rev1_long_with_keepalive": _long_with_keepalive,
    "rev1_cancelled_by_caller": _cancelled_by_caller,
    "rev1_reattached": _reattached,
    "redelivered": _redelivered,
    # Revision 2: Pydantic AI's loop, model and tool calls as activities (ADR 0012), kept
    # since revision 3: never re-recorded.
    "rev2_completed": _rev2_of(_completed_with_tools),
    "rev2_failed": _rev2_of(_failed),
    "rev2_long_with_keepalive": _rev2_of(_long_with_keepalive),
    "rev2_cancelled_by_caller": _rev2_of(_cancelled_by_caller),
    "rev2_reattached": _rev2_of(_reattached),
    "rev2_redelivered": _redelivered,
    "rev2_tools_and_approval": _rev2_of(_tools_and_approval),
    "rev2_budget_exceeded": _rev2_of(_budget_exceeded),
    "rev2_continued_as_new_1": _rev2_of(_continued),
    "rev2_continued_as_new_2": _rev2_of(_continued),
    "rev2_continued_as_new_3": _rev2_of(_continued_last),
    # Revision 3: keep-alives settle before the run closes, kept since revision 4: never
    # re-recorded.
    "rev3_completed": _rev3_of(_completed_with_tools),
    "rev3_failed": _rev3_of(_failed),
    "rev3_long_with_keepalive": _rev3_of(_long_with_keepalive),
    "rev3_cancelled_by_caller": _rev3_of(_cancelled_by_caller),
    "rev3_reattached": _rev3_of(_reattached),
    "rev3_tools_and_approval": _rev3_of(_tools_and_approval),
    "rev3_budget_exceeded": _rev3_of(_budget_exceeded),
    "rev3_continued_as_new_1": _rev3_of(_continued),
    "rev3_continued_as_new_2": _rev3_of(_continued),
    "rev3_continued_as_new_3": _rev3_of(_continued_last),
    # Revision 4: the shard's keeper beats pending callers (AGENT_WORKFLOW_REVISION).
    "completed": _rev4_of(_of(_completed_with_tools, _short_rev4)),
    "failed": _rev4_of(_of(_failed, _short_rev4)),
    "long_with_keepalive": _rev4_of(_long_kept),
    "cancelled_by_caller": _rev4_of(_cancelled_by_caller_kept),
    "reattached": _rev4_of(_reattached_kept),
    "tools_and_approval": _rev4_of(_tools_and_approval),
    "budget_exceeded": _rev4_of(_budget_exceeded),
    "continued_as_new_1": _rev4_of(_continued),
    "continued_as_new_2": _rev4_of(_continued),
    "continued_as_new_3": _rev4_of(_continued_last),
}


def test_every_scenario_has_a_recorded_history() -> None:
    assert set(RECORDED) == set(SCENARIOS)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_recording_exercises_its_scenario(scenario: str) -> None:
    history = _history(scenario)
    if not scenario.endswith("redelivered"):
        assert _workflow_type(history) == AGENT_WORKFLOW
    SCENARIOS[scenario](history)


@pytest.mark.parametrize("scenario", sorted(RECORDED))
async def test_recorded_history_replays(scenario: str) -> None:
    result = await replayer().replay_workflow(_history(scenario), raise_on_replay_failure=False)
    assert result.replay_failure is None, str(result.replay_failure)


async def test_a_changed_command_fails_the_replay() -> None:
    # Proves the replay test can fail: the recorded second step becomes another activity.
    recorded = json.loads(RECORDED["rev1_completed"])
    steps = [
        event["activityTaskScheduledEventAttributes"]["activityType"]
        for event in recorded["events"]
        if event["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"
    ]
    steps[1]["name"] = "some_other_activity"
    history = _history("rev1_completed", json.dumps(recorded))

    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)

    assert isinstance(result.replay_failure, NondeterminismError)


async def test_a_changed_revision_2_command_fails_the_replay() -> None:
    # Proves the revision-2 histories guard the agent loop too: the recorded tool call
    # becomes a call of another tool's activity.
    recorded = json.loads(RECORDED["rev2_completed"])
    for event in recorded["events"]:
        if event["eventType"] == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED":
            activity_type = event["activityTaskScheduledEventAttributes"]["activityType"]
            if activity_type["name"] == TOOL_CALL:
                activity_type["name"] = "agent__stigma__mcp_server__mcp-other__call_tool"
                break
    history = _history("rev2_completed", json.dumps(recorded))

    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)

    assert isinstance(result.replay_failure, NondeterminismError)
