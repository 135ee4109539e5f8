"""raise and try / catch, run in-process (zigflow.testing), including the conformance
kit's scenarios (ctk/features/raise.feature, try.feature; docs/dsl.md "Conformance"). The
kit's pet store is a double on loopback (conftest.PetStore)."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from zigflow.testing import DocumentRunner

HEADER = "document: {dsl: '1.0.3', namespace: default, name: %s, version: '1.0.0'}\n"


def dsl_error(failure: WorkflowFailureError) -> dict[str, Any]:
    """The DSL error a failed run carries, raised in the workflow or by an activity."""
    cause: BaseException | None = failure.cause
    if isinstance(cause, ActivityError):
        cause = cause.cause
    assert isinstance(cause, ApplicationError)
    error: dict[str, Any] = cause.details[0]
    return error


async def test_ctk_raise_task_with_inline_error(runner: DocumentRunner) -> None:
    document = HEADER % "raise-custom-error" + (
        "do:\n"
        "  - raiseError:\n"
        "      raise:\n"
        "        error:\n"
        "          status: 400\n"
        "          type: https://serverlessworkflow.io/errors/types/compliance\n"
        "          title: Compliance Error\n"
    )
    with pytest.raises(WorkflowFailureError) as caught:
        await runner.run(document)
    error = dsl_error(caught.value)
    assert {key: error[key] for key in ("status", "type", "title", "instance")} == {
        "status": 400,
        "type": "https://serverlessworkflow.io/errors/types/compliance",
        "title": "Compliance Error",
        "instance": "/do/0/raiseError",
    }


def _get_pet_by_name(base: str, status: int) -> str:
    return HEADER % f"try-catch-{status}" + (
        "do:\n"
        "  - tryGetPet:\n"
        "      try:\n"
        "        - getPet:\n"
        "            call: http\n"
        "            with:\n"
        "              method: get\n"
        f"              endpoint: {{ uri: '{base}/v2/pet/getPetByName/{{petName}}' }}\n"
        "      catch:\n"
        "        errors:\n"
        "          with:\n"
        "            type: https://serverlessworkflow.io/dsl/errors/types/communication\n"
        f"            status: {status}\n"
        "        as: err\n"
        "        do:\n"
        "          - setError: { set: { error: '${ $err }' } }\n"
    )


async def test_ctk_try_handle_caught_error(
    runner: DocumentRunner, petstore: str, petstore_requests: list[str]
) -> None:
    output = await runner.run(_get_pet_by_name(petstore, 404), {"petName": "Milou"})
    error = output["error"]
    assert {"type", "status", "title"} <= set(error)
    assert error["status"] == 404
    assert error["instance"] == "/do/0/tryGetPet/try/0/getPet"
    assert "/v2/pet/getPetByName/Milou" in petstore_requests


async def test_ctk_try_raise_uncaught_error(runner: DocumentRunner, petstore: str) -> None:
    with pytest.raises(WorkflowFailureError) as caught:
        await runner.run(_get_pet_by_name(petstore, 503), {"petName": "Milou"})
    error = dsl_error(caught.value)
    assert (error["status"], error["type"].rsplit("/", 1)[-1]) == (404, "communication")
    assert error["instance"] == "/do/0/tryGetPet/try/0/getPet"
