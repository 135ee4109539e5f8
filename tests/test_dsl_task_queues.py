"""``document.metadata.taskQueue``: the worker polls every queue its documents use; a
document's activities run on its queue, and a child starts on the child's queue."""

from __future__ import annotations

from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from agent_contract import ZIGFLOW_TASK_QUEUE
from tests.support import history_events, start_dsl
from zigflow.cli import start_and_wait
from zigflow.dsl import load_document

OWN_QUEUE = "zigflow-tests-own-queue"
WORKFLOWS = Path(__file__).resolve().parent / "workflows"


async def test_a_document_runs_and_calls_on_its_own_queue(client: Client) -> None:
    handle = await start_dsl(client, "dsl-own-queue", {"question": "q"}, task_queue=OWN_QUEUE)
    result = await handle.result()
    assert result["queue"] == "own"
    assert (await handle.describe()).task_queue == OWN_QUEUE
    (scheduled,) = await history_events(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    assert scheduled.activity_task_scheduled_event_attributes.task_queue.name == OWN_QUEUE


async def test_a_child_starts_on_the_child_documents_queue(client: Client) -> None:
    parent = await start_dsl(client, "dsl-own-queue-parent", {"question": "from the parent"})
    result = await parent.result()
    assert result["queue"] == "own"
    assert (await parent.describe()).task_queue == ZIGFLOW_TASK_QUEUE
    (started,) = await history_events(
        parent, EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    )
    attributes = started.start_child_workflow_execution_initiated_event_attributes
    assert attributes.task_queue.name == OWN_QUEUE
    child = client.get_workflow_handle(attributes.workflow_id)
    assert (await child.describe()).task_queue == OWN_QUEUE


async def test_zigflow_run_starts_the_workflow_on_the_documents_queue(client: Client) -> None:
    document = load_document(WORKFLOWS / "dsl-own-queue.yaml")
    assert document.task_queue == OWN_QUEUE
    result = await start_and_wait(client, document, {"question": "via the cli path"})
    assert result["queue"] == "own"
