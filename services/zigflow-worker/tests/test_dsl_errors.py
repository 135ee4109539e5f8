"""The mapping between DSL errors and Temporal failures, both ways."""

from __future__ import annotations

from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    CancelledError,
    ChildWorkflowError,
    RetryState,
    TimeoutError,
    TimeoutType,
)

from zigflow.dsl.errors import (
    COMMUNICATION,
    INSTANCE_ATTRIBUTE,
    TIMEOUT,
    ZIGFLOW_ERROR_BASE,
    DslError,
    from_exception,
)


def activity_error(cause: BaseException) -> ActivityError:
    error = ActivityError(
        "Activity task failed",
        scheduled_event_id=5,
        started_event_id=6,
        identity="worker",
        activity_type="CallAgent",
        activity_id="1",
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    error.__cause__ = cause
    return error


def test_a_dsl_error_round_trips_through_an_application_error() -> None:
    error = DslError(
        type=COMMUNICATION, status=404, title="Not Found", detail="d", instance="/do/0/x"
    )
    failure = error.to_failure()
    assert failure.type == COMMUNICATION
    assert failure.non_retryable
    back = from_exception(activity_error(failure), "/do/0")
    assert back is not None
    assert back.as_dict() == error.as_dict()


def test_agent_failed_maps_to_a_zigflow_error_type_and_the_failing_task() -> None:
    failure = ApplicationError(
        "scripted failure at step 2", {"execution_id": "agent-1"}, type="AgentFailed"
    )
    wrapped = activity_error(failure)
    setattr(wrapped, INSTANCE_ATTRIBUTE, "/do/0/try/0/ask")
    error = from_exception(wrapped, "/do/0")
    assert error is not None
    assert error.as_dict() == {
        "type": ZIGFLOW_ERROR_BASE + "AgentFailed",
        "status": 500,
        "title": "AgentFailed",
        "detail": "scripted failure at step 2",
        "instance": "/do/0/try/0/ask",
    }


def test_timeouts_map_to_the_spec_timeout_type_and_cancellation_is_not_caught() -> None:
    timeout = activity_error(
        TimeoutError(
            "activity timeout",
            type=TimeoutType.START_TO_CLOSE,
            last_heartbeat_details=[],
        )
    )
    error = from_exception(timeout, "/do/1")
    assert error is not None
    assert (error.type, error.status, error.instance) == (TIMEOUT, 408, "/do/1")
    assert from_exception(activity_error(CancelledError("cancelled")), "/do/1") is None
    assert from_exception(ValueError("bug"), "/do/1") is None


def test_a_child_workflow_failure_unwraps_to_the_childs_error() -> None:
    inner = DslError(type="https://example.com/e", status=422, title="t", instance="/do/0/check")
    child = ChildWorkflowError(
        "Child Workflow execution failed",
        namespace="default",
        workflow_id="c",
        run_id="r",
        workflow_type="child",
        initiated_event_id=1,
        started_event_id=2,
        retry_state=RetryState.NON_RETRYABLE_FAILURE,
    )
    child.__cause__ = inner.to_failure()
    error = from_exception(child, "/do/0/run")
    assert error is not None
    assert error.as_dict() == inner.as_dict()
