"""Continue-as-new for long loops: a ``for`` continues the run as new when the history
grows past the threshold, and the chain's output equals an uninterrupted run's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from tests.support import start_dsl
from zigflow.dsl import load_document
from zigflow.workflows import workflow_class

WORKFLOWS = Path(__file__).resolve().parent / "workflows"

THRESHOLD = 30  # document.metadata.continueAsNewAfter of dsl-continue-as-new.yaml


def expected(groups: list[list[int]], tokens: list[int]) -> dict[str, Any]:
    """What the document computes, written out in Python: one token per group of 4+ rows."""
    rows = [(g, r, row) for g, group in enumerate(groups) for r, row in enumerate(group)]
    taking = sum(1 for group in groups if len(group) > 3)
    return {
        "total": sum(row for _, _, row in rows),
        "seen": [f"{g}.{r}" for g, r, _ in rows],
        "tokens": tokens[:taking],
        "context": {"iterations": len(rows)},
        "input": {"groups": groups},
    }


async def runs_of(client: Client, handle: WorkflowHandle[Any, Any]) -> list[list[HistoryEvent]]:
    """Every run's history, first to last, following the continue-as-new chain."""
    runs: list[list[HistoryEvent]] = []
    run_id: str | None = handle.first_execution_run_id
    while run_id is not None:
        run = client.get_workflow_handle(handle.id, run_id=run_id)
        events = [event async for event in run.fetch_history_events()]
        runs.append(events)
        last = events[-1]
        run_id = None
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return runs


def time_of(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


async def run_input(client: Client, events: list[HistoryEvent]) -> Any:
    payloads = events[0].workflow_execution_started_event_attributes.input.payloads
    (value,) = await client.data_converter.decode(payloads)
    return value


async def run_loop(
    client: Client, groups: list[list[int]], tokens: list[int]
) -> tuple[dict[str, Any], list[list[HistoryEvent]], str]:
    handle = await start_dsl(client, "dsl-continue-as-new", {"groups": groups})
    for token in tokens:  # held in the inbox: the loop takes them one by one, later
        await handle.signal("token", token)
    await handle.signal("go", None)
    result = await handle.result()
    return result, await runs_of(client, handle), handle.id


async def test_a_short_loop_runs_in_one_history(client: Client) -> None:
    groups = [[1, 2, 3, 4]]
    result, runs, _ = await run_loop(client, groups, [7])
    assert len(runs) == 1
    started_at = result.pop("startedAt")
    assert result == expected(groups, [7])
    assert time_of(runs[0][0]) <= datetime.fromisoformat(started_at) <= time_of(runs[0][-1])


async def test_a_long_loop_continues_as_new_and_gives_the_same_output(client: Client) -> None:
    groups = [list(range(10 * g, 10 * g + 5)) for g in range(3)]  # 15 iterations
    tokens = [100, 101, 102, 103, 104]  # 3 taken, 2 left over
    result, runs, workflow_id = await run_loop(client, groups, tokens)

    assert len(runs) >= 3, "the loop should have continued as new"
    # Each run's history stays near the threshold instead of growing with the loop.
    assert all(len(events) < THRESHOLD + 20 for events in runs)
    # The original input, $context, and the first run's start time survive every run.
    started_at = result.pop("startedAt")
    assert result == expected(groups, tokens)
    # ($workflow.startedAt is Temporal's start time of the run, seen by its first task.)
    assert time_of(runs[0][0]) <= datetime.fromisoformat(started_at) < time_of(runs[1][0])
    # Later runs start from the versioned resume payload: the cursor and the inbox.
    resumes = [(await run_input(client, events))["zigflowResume"] for events in runs[1:]]
    assert [resume["continued"] for resume in resumes] == list(range(1, len(runs)))
    assert all(
        resume["version"] == 1 and resume["input"] == {"groups": groups} for resume in resumes
    )
    carried = resumes[0]["inbox"]["token"]
    assert carried[0] in result["tokens"]  # sent to the first run, taken by a later one
    assert resumes[-1]["inbox"]["token"][-2:] == [103, 104]
    assert {frame["at"] for resume in resumes for frame in resume["cursor"]} == {
        "list",
        "task",
        "for",
    }
    loops = [frame for resume in resumes for frame in resume["cursor"] if frame["at"] == "for"]
    assert {frame["within"] for frame in loops} == {True, False}  # inside the nested loop too
    # Signals reached the first run only; later runs consumed them from the carried inbox.
    signaled = [
        event
        for events in runs[1:]
        for event in events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert not signaled
    # Every run of the chain, the continue-as-new included, replays deterministically.
    replayer = Replayer(
        workflows=[workflow_class(load_document(WORKFLOWS / "dsl-continue-as-new.yaml"))],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    run_ids = [
        events[0].workflow_execution_started_event_attributes.original_execution_run_id
        for events in runs
    ]
    assert len(set(run_ids)) == len(runs)
    for run_id in run_ids:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert replayed.replay_failure is None, str(replayed.replay_failure)
