"""wait, listen and run: workflow, run in-process (zigflow.testing). The conformance kit
has no scenario for them (emit, its only event scenario, is refused: docs/dsl.md)."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from zigflow.dsl import DefinitionError
from zigflow.testing import DocumentRunner, document_of

HEADER = "document: {dsl: '1.0.0', namespace: default, name: %s, version: '1.0.0'}\n"


async def _events(handle: WorkflowHandle[Any, Any], kind: EventType.ValueType) -> int:
    return len([e async for e in handle.fetch_history_events() if e.event_type == kind])


async def test_wait_is_a_durable_timer(runner: DocumentRunner) -> None:
    document = HEADER % "pause" + (
        "do:\n  - pause: { wait: PT0.2S }\n  - after: { set: '${ . + {waited: true} }' }\n"
    )
    async with runner.started(document, {"n": 1}) as handle:
        assert await handle.result() == {"n": 1, "waited": True}
        assert await _events(handle, EventType.EVENT_TYPE_TIMER_STARTED) == 1


async def test_listen_takes_the_events_data_even_when_sent_before_it_listens(
    runner: DocumentRunner,
) -> None:
    document = HEADER % "approval" + (
        "do:\n"
        "  - ask: { wait: PT0.1S }\n"
        "  - approval: { listen: { to: { one: { with: { type: approval } } } } }\n"
        "  - decided: { set: { approved: '${ .[0].approved }' } }\n"
    )
    async with runner.started(document) as handle:
        await handle.signal("approval", {"approved": True})  # before the task listens
        assert await handle.result() == {"approved": True}


async def test_run_workflow_starts_the_named_document_as_a_child(runner: DocumentRunner) -> None:
    parent = HEADER % "parent" + (
        "do:\n"
        "  - delegate:\n"
        "      run: { workflow: { name: child, namespace: default, version: '1.0.0',"
        " input: { n: '${ .n }' } } }\n"
    )
    child = HEADER % "child" + "do:\n  - double: { set: { n: '${ .n * 2 }' } }\n"
    assert await runner.run(parent, {"n": 21}, also=[child]) == {"n": 42}


def test_emit_is_refused_at_load() -> None:
    document = HEADER % "emit" + (
        "do:\n  - emitEvent: { emit: { event: { with: { source: s, type: t } } } }\n"
    )
    with pytest.raises(DefinitionError) as caught:
        document_of(document)
    assert caught.value.path == "$.do[0].emitEvent.emit"
    assert "not supported" in caught.value.problem
