"""The orchestrator's pure helpers: beat interval, failure messages, outcome labels, options."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.exceptions import ActivityError, ApplicationError, RetryState

from agent_contract import (
    AgentResult,
    CallbackRef,
    DeliveryRequest,
    Phase,
    RunOptions,
    Usage,
)
from stigma_orchestrator.agent_loop import BudgetExceeded
from stigma_orchestrator.callbacks import _delivered_outcome
from stigma_orchestrator.options import RunOptionsActivity
from stigma_orchestrator.settings import OrchestratorSettings
from stigma_orchestrator.workflows import _Attached, _describe, _error_type


def _callback(
    *, heartbeat_timeout_ms: int = 0, attempt: int = 1, activity_id: str = "1"
) -> CallbackRef:
    return CallbackRef(
        namespace="default",
        workflow_id="caller",
        run_id="run-1",
        activity_id=activity_id,
        attempt=attempt,
        task_token_b64="dG9rZW4=",
        fingerprint=f"fp-{activity_id}-{attempt}",
        expires_at="2030-01-01T00:00:00+00:00",
        heartbeat_timeout_ms=heartbeat_timeout_ms,
    )


def _activity_error(cause: BaseException) -> ActivityError:
    error = ActivityError(
        "activity failed",
        scheduled_event_id=5,
        started_event_id=6,
        identity="ai-worker",
        activity_type="agent_step",
        activity_id="1",
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("heartbeat_timeout_ms", "expected"),
    [(6_000, timedelta(seconds=2)), (45_000, timedelta(seconds=15))],
)
def test_keepalive_beats_three_times_per_caller_heartbeat_timeout(
    heartbeat_timeout_ms: int, expected: timedelta
) -> None:
    assert _callback(heartbeat_timeout_ms=heartbeat_timeout_ms).beat_interval() == expected


def test_keepalive_without_a_caller_heartbeat_timeout_assumes_sixty_seconds() -> None:
    assert _callback().beat_interval() == timedelta(seconds=20)


def test_describe_names_the_agents_own_error_type_under_the_activity_error() -> None:
    cause = ApplicationError("scripted failure at step 2", type="ScriptedFailure")

    assert _describe(_activity_error(cause)) == "ScriptedFailure: scripted failure at step 2"


def test_describe_reaches_through_nested_activity_errors() -> None:
    nested = _activity_error(_activity_error(ApplicationError("deep", type="Deep")))

    assert _describe(nested) == "Deep: deep"


def test_describe_of_an_untyped_failure_is_its_message() -> None:
    assert _describe(ApplicationError("agent did not answer")) == "agent did not answer"


def test_describe_of_a_plain_exception_names_its_class() -> None:
    # A model error Pydantic AI rebuilt in the workflow: its class names the category.
    assert _describe(ValueError("bad value")) == "ValueError: bad value"


def test_error_types_tell_budgets_from_other_failures() -> None:
    assert _error_type(BudgetExceeded("budget.max_tool_calls: ...")) == "AgentBudgetExceeded"
    too_large = ApplicationError("big", type="AgentOutputTooLarge")
    assert _error_type(too_large) == "AgentFailed"  # the message names AgentOutputTooLarge
    assert _error_type(_activity_error(ApplicationError("x", type="ScriptedFailure"))) == (
        "AgentFailed"
    )
    assert _error_type(ValueError("bad")) == "AgentFailed"


def test_an_activity_error_without_a_cause_describes_itself() -> None:
    error = ActivityError(
        "activity timed out",
        scheduled_event_id=5,
        started_event_id=6,
        identity="",
        activity_type="agent_step",
        activity_id="1",
        retry_state=RetryState.TIMEOUT,
    )

    assert _describe(error) == "activity timed out"


def _request(phase: Phase, *, with_result: bool = False) -> DeliveryRequest:
    result = None
    if with_result:
        result = AgentResult(
            execution_id="agent-1",
            output="done",
            steps=[],
            usage=Usage(),
            started_at="2030-01-01T00:00:00+00:00",
            finished_at="2030-01-01T00:00:01+00:00",
        )
    return DeliveryRequest(callback=_callback(), execution_id="agent-1", phase=phase, result=result)


@pytest.mark.parametrize(
    ("request_", "outcome"),
    [
        (_request(Phase.COMPLETED, with_result=True), "completed"),
        (_request(Phase.FAILED), "failed"),
        (_request(Phase.CANCELLED), "cancelled"),
    ],
)
def test_delivery_outcome_label(request_: DeliveryRequest, outcome: str) -> None:
    assert _delivered_outcome(request_) == outcome


def test_a_later_attempt_of_the_same_activity_is_the_same_caller() -> None:
    attached = _Attached(ref=_callback(attempt=1))

    assert attached.same_caller(_callback(attempt=2))
    assert not attached.same_caller(_callback(attempt=2, activity_id="2"))


async def test_run_options_carry_the_settings_in_milliseconds() -> None:
    settings = OrchestratorSettings(
        step_heartbeat=timedelta(seconds=10),
        step_timeout=timedelta(minutes=10),
        keeper_heartbeat=timedelta(microseconds=10),
        max_output_bytes=4096,
    )

    options = await RunOptionsActivity(settings).run_options()

    assert options == RunOptions(
        step_heartbeat_ms=10_000,
        step_start_to_close_ms=600_000,
        keeper_heartbeat_ms=1,  # never zero: Temporal would read 0 as "no timeout"
        max_output_bytes=4096,
    )
