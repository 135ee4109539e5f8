"""Recorded histories of every example replay against the current interpreter.

A failure here means a change would break workflows already running in production
(non-determinism). If the change to an example is intended, re-record with
``uv run python services/zigflow-worker/scripts/record_histories.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from zigflow.dsl import load_directory
from zigflow.workflows import workflow_class

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
HISTORIES = Path(__file__).resolve().parent / "histories"


def replayer() -> Replayer:
    documents, errors = load_directory(EXAMPLES)
    assert not errors
    return Replayer(
        workflows=[workflow_class(document) for document in documents],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )


def test_every_example_has_a_recorded_history() -> None:
    documents, _ = load_directory(EXAMPLES)
    recorded = {path.stem for path in HISTORIES.glob("*.json")}
    assert {document.workflow_type for document in documents} == recorded


RECORDED = {path.stem: path.read_text() for path in sorted(HISTORIES.glob("*.json"))}


@pytest.mark.parametrize("workflow_type", sorted(RECORDED))
async def test_recorded_history_replays(workflow_type: str) -> None:
    history = WorkflowHistory.from_json(f"recorded-{workflow_type}", RECORDED[workflow_type])
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, str(result.replay_failure)
