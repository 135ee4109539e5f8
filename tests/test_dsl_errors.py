"""raise and try/catch on a real Temporal server: the spec's error shape end to end."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from tests.support import history_events, start_dsl

SPEC_ERRORS = "https://serverlessworkflow.io/spec/1.0.0/errors/"


async def failure_of(client: Client, workflow_type: str, payload: Any) -> dict[str, Any]:
    """Run a workflow that must fail; return its DSL error (the failure's details)."""
    return await failure_of_handle(await start_dsl(client, workflow_type, payload))


async def failure_of_handle(handle: WorkflowHandle[Any, Any]) -> dict[str, Any]:
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    failure = caught.value.cause
    assert isinstance(failure, ApplicationError)
    assert failure.non_retryable
    error: dict[str, Any] = failure.details[0]
    assert failure.type == error["type"]
    return error


async def test_raise_fails_the_workflow_with_the_spec_error_shape(client: Client) -> None:
    error = await failure_of(client, "dsl-raise", {"stock": 0, "item": "tea"})
    assert error == {
        "type": "https://example.com/errors/out-of-stock",
        "status": 409,
        "title": "Out of stock",
        "detail": "no tea left",
        "instance": "/do/0/check",
    }


async def test_raise_with_a_short_standard_type(client: Client) -> None:
    error = await failure_of(client, "dsl-raise", {"stock": 1, "item": ""})
    assert error["type"] == SPEC_ERRORS + "validation"
    assert error["status"] == 400
    assert error["instance"] == "/do/1/validate"


async def test_raise_not_reached_when_if_is_false(client: Client) -> None:
    handle = await start_dsl(client, "dsl-raise", {"stock": 3, "item": "tea"})
    assert await handle.result() == {"shipped": "tea"}


async def test_catch_matches_type_and_when_and_binds_catch_as(client: Client) -> None:
    handle = await start_dsl(client, "dsl-try", {"status": 503})
    assert await handle.result() == {
        "recovered": True,
        "status": 503,
        "title": "Upstream said no",
        "instance": "/do/0/guarded/try/0/fail",
    }


@pytest.mark.parametrize("status", [404, 501])
async def test_error_refused_by_when_or_except_when_propagates(client: Client, status: int) -> None:
    error = await failure_of(client, "dsl-try", {"status": status})
    assert error["type"] == SPEC_ERRORS + "communication"
    assert error["status"] == status
    assert error["detail"] == f"status {status}"


async def test_catch_without_do_swallows_and_a_catch_that_raises_again_fails(
    client: Client,
) -> None:
    error = await failure_of(client, "dsl-try-rethrow", {})
    assert error == {
        "type": "https://example.com/errors/escalated",
        "status": 502,
        "title": "Escalated",
        "detail": "after first",
        "instance": "/do/1/rethrow/catch/do/0/escalate",
    }


async def test_a_task_timeout_is_a_catchable_timeout_error(client: Client) -> None:
    handle = await start_dsl(client, "dsl-wait", {"k": "v"})
    assert await handle.result() == {"k": "v", "timedOut": "/do/1/bounded/try/0/tooLong"}


async def test_caught_agent_failure_is_an_agent_failed_dsl_error(client: Client) -> None:
    handle = await start_dsl(client, "dsl-agent-catch", {"question": "will it fail?"})
    result = await handle.result()
    assert result["caught"]["type"] == "https://zigflow.io/errors/AgentFailed"
    assert result["caught"]["status"] == 500
    assert "scripted failure at step 2" in result["caught"]["detail"]
    assert result["caught"]["instance"] == "/do/0/ask/try/0/call-agent"


async def test_named_errors_and_retry_policies_from_use(client: Client) -> None:
    handle = await start_dsl(client, "dsl-use", {})
    error = await failure_of_handle(handle)
    assert error["title"] == "Out of stock"
    assert error["instance"] == "/do/0/reserve/try/0/check"
    timers = await history_events(handle, EventType.EVENT_TYPE_TIMER_STARTED)
    delays = [
        t.timer_started_event_attributes.start_to_fire_timeout.ToMilliseconds() for t in timers
    ]
    assert delays == [50, 100]  # linear backoff, two retries, then the error propagates
