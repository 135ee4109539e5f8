"""Document-level rules on a real Temporal server: input.schema and timeout."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from tests.support import history_events, start_dsl

SPEC_ERRORS = "https://serverlessworkflow.io/spec/1.0.0/errors/"


async def failure_of(client: Client, payload: Any) -> tuple[dict[str, Any], Any]:
    handle = await start_dsl(client, "dsl-input-schema", payload)
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    failure = caught.value.cause
    assert isinstance(failure, ApplicationError)
    return failure.details[0], handle


async def test_valid_input_runs(client: Client) -> None:
    handle = await start_dsl(client, "dsl-input-schema", {"order": {"id": 12}})
    assert await handle.result() == {"accepted": 12}


async def test_input_not_matching_the_schema_fails_before_any_task(client: Client) -> None:
    error, handle = await failure_of(client, {"order": {"id": "12"}, "pause": "PT1S"})
    assert error["type"] == SPEC_ERRORS + "validation"
    assert error["status"] == 400
    assert error["instance"] == "/input/schema"
    assert "/order/id" in error["detail"]
    assert not await history_events(handle, EventType.EVENT_TYPE_TIMER_STARTED)


async def test_document_timeout_fails_the_run_with_a_timeout_error(client: Client) -> None:
    error, _ = await failure_of(client, {"order": {"id": 1}, "pause": "PT1H"})
    assert error["type"] == SPEC_ERRORS + "timeout"
    assert error["status"] == 408


async def schema_failure(client: Client, payload: Any) -> dict[str, Any]:
    handle = await start_dsl(client, "dsl-schemas", payload)
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    failure = caught.value.cause
    assert isinstance(failure, ApplicationError)
    error: dict[str, Any] = failure.details[0]
    assert error["type"] == SPEC_ERRORS + "validation"
    return error


async def test_task_and_document_schemas_hold(client: Client) -> None:
    handle = await start_dsl(client, "dsl-schemas", {"quantity": 3})
    assert await handle.result() == {"total": 30}


@pytest.mark.parametrize(
    ("payload", "instance"),
    [
        ({"quantity": 0}, "/do/0/price/input/schema"),
        ({"quantity": 3, "unit": 1000}, "/do/0/price/output/schema"),
        ({"quantity": 3, "dropTotal": True}, "/output/schema"),
    ],
)
async def test_task_and_document_schemas_are_enforced(
    client: Client, payload: dict[str, Any], instance: str
) -> None:
    assert (await schema_failure(client, payload))["instance"] == instance
