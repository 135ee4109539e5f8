"""Zigflow's ``document.metadata`` extensions: workflowType, taskQueue, continueAsNewAfter."""

from __future__ import annotations

from typing import Any

import pytest

from agent_contract import ZIGFLOW_TASK_QUEUE
from zigflow.dsl import DefinitionError, RunOptions
from zigflow.dsl.document import parse_document


def document(**metadata: Any) -> dict[str, Any]:
    head: dict[str, Any] = {"dsl": "1.0.0", "namespace": "unit", "name": "doc", "version": "1.0.0"}
    if metadata:
        head["metadata"] = metadata
    return {"document": head, "do": [{"s": {"set": {}}}]}


def test_defaults_are_the_document_name_and_the_zigflow_queue() -> None:
    loaded = parse_document(document(), source="unit.yaml")
    assert (loaded.workflow_type, loaded.task_queue) == ("doc", ZIGFLOW_TASK_QUEUE)
    assert loaded.continue_as_new_after is None
    assert loaded.secret_names == ()


def test_metadata_names_the_type_the_queue_and_the_threshold() -> None:
    loaded = parse_document(
        document(workflowType="Billing", taskQueue="billing-eu", continueAsNewAfter=500),
        source="unit.yaml",
    )
    assert (loaded.workflow_type, loaded.task_queue) == ("Billing", "billing-eu")
    assert loaded.continue_as_new_after == 500


@pytest.mark.parametrize(
    ("metadata", "path"),
    [
        ({"taskQueue": ""}, "$.document.metadata.taskQueue"),
        ({"taskQueue": "has space"}, "$.document.metadata.taskQueue"),
        ({"taskQueue": 7}, "$.document.metadata.taskQueue"),
        ({"workflowType": "a b"}, "$.document.metadata.workflowType"),
        ({"continueAsNewAfter": 0}, "$.document.metadata.continueAsNewAfter"),
        ({"continueAsNewAfter": "many"}, "$.document.metadata.continueAsNewAfter"),
        ({"continueAsNewAfter": True}, "$.document.metadata.continueAsNewAfter"),
    ],
)
def test_bad_metadata_is_refused(metadata: dict[str, Any], path: str) -> None:
    with pytest.raises(DefinitionError) as caught:
        parse_document(document(**metadata), source="unit.yaml")
    assert caught.value.path == path


def test_a_child_of_an_unknown_type_is_started_on_the_default_queue() -> None:
    options = RunOptions(task_queues={"billing": "billing-eu"})
    assert options.task_queue_of("billing") == "billing-eu"
    assert options.task_queue_of("elsewhere") == ZIGFLOW_TASK_QUEUE
