"""Replay safety: histories of real runs replay against the interpreter without a
non-determinism error (the DSL workflows run unsandboxed, see docs/adr/0003)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from tests.support import start_dsl
from zigflow.dsl import load_directory
from zigflow.workflows import workflow_class

ROOT = Path(__file__).resolve().parents[1]
# One run per feature: flow, loops, fork/compete, try/retry/catch, timers, signals,
# child workflows, agents (success, failure caught, fork of two agents).
RUNS: list[tuple[str, Any]] = [
    ("dsl-flow", {}),
    ("dsl-switch", {"priority": "low"}),
    ("dsl-for", {"numbers": [1, 2, 300], "words": ["x"]}),
    ("dsl-fork", {"n": 3}),
    ("dsl-try", {"status": 503}),
    ("dsl-wait", {}),
    ("dsl-run", {"n": 5}),
    ("dsl-input-schema", {"order": {"id": 1}}),
    ("dsl-agent-catch", {"question": "q"}),
    ("hello-agent", {"topic": "replay"}),
    ("research-and-review", {"topic": "replay"}),
    ("review-each-item", {"items": [{"name": "a"}, {"name": "b"}]}),
]


def replayer() -> Replayer:
    documents = []
    for folder in (ROOT / "examples", ROOT / "tests" / "workflows"):
        loaded, errors = load_directory(folder)
        assert not [e for e in errors if "dsl-" in e.source or "examples" in e.source]
        documents += loaded
    return Replayer(
        workflows=[workflow_class(document) for document in documents],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )


async def test_histories_of_real_runs_replay_deterministically(client: Client) -> None:
    handles: list[WorkflowHandle[Any, Any]] = []
    for workflow_type, payload in RUNS:
        handles.append(await start_dsl(client, workflow_type, payload))
    listen = await start_dsl(client, "dsl-listen", {"needBoth": True})
    for signal, value in (("approved", {"by": "r"}), ("legal", 1), ("finance", 2)):
        await listen.signal(signal, value)
    handles.append(listen)
    for handle in handles:
        await handle.result()
    histories = [await handle.fetch_history() for handle in handles]
    failures: dict[str, str] = {}
    checker = replayer()
    for history in histories:
        result = await checker.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures[history.workflow_id] = str(result.replay_failure)
    assert not failures
    assert len(histories) == len(RUNS) + 1
