"""Recorded histories of every example replay against the current interpreter.

A failure here means a change would break workflows already running in production
(non-determinism). If the change to an example is intended, re-record with
``uv run python services/zigflow-worker/scripts/record_histories.py``.

The replays evaluate expressions in the expression sandbox, as the worker does: the
histories were recorded with jq in the worker's own process, so a replay that passes
shows the sandbox gives the engine the same values, and so the same commands.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from zigflow.dsl import RunOptions, load_directory
from zigflow.dsl.sandbox import ExpressionSandbox
from zigflow.workflows import workflow_class

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
HISTORIES = Path(__file__).resolve().parent / "histories"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ExpressionSandbox]:
    with ExpressionSandbox(processes=1) as pool:
        yield pool


def replayer(sandbox: ExpressionSandbox) -> Replayer:
    documents, errors = load_directory(EXAMPLES)
    assert not errors
    options = RunOptions(evaluator=sandbox)
    return Replayer(
        workflows=[workflow_class(document, options) for document in documents],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )


def test_every_example_has_a_recorded_history() -> None:
    documents, _ = load_directory(EXAMPLES)
    recorded = {path.stem for path in HISTORIES.glob("*.json")}
    assert {document.workflow_type for document in documents} == recorded


RECORDED = {path.stem: path.read_text() for path in sorted(HISTORIES.glob("*.json"))}


@pytest.mark.parametrize("workflow_type", sorted(RECORDED))
async def test_recorded_history_replays(workflow_type: str, sandbox: ExpressionSandbox) -> None:
    history = WorkflowHistory.from_json(f"recorded-{workflow_type}", RECORDED[workflow_type])
    result = await replayer(sandbox).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, str(result.replay_failure)
