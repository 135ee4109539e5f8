"""A hostile expression through a real zigflow-worker: ``until(false; .)`` fails its task
with the DSL's ``expression`` error within a few seconds, another workflow on the same
worker keeps its latency meanwhile, and the worker still stops on SIGTERM (issue 12,
item 3).

It needs Temporal and a zigflow-worker only, so it runs its own: a Temporal dev server
and a zigflow-worker process with two definitions, which it stops. Without the four
services of the session's stack beside them, the latency figures are the worker's own.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from devstack import ServiceProcess
from tests.support import eventually, history_events, start_dsl
from tests.zigflow_support import OwnWorker, own_worker

EXPRESSION = "https://serverlessworkflow.io/spec/1.0.0/errors/expression"
HOSTILE_RUNS = 3
# The worker's own ZIGFLOW_EXPRESSION_TIMEOUT (the default), and how long a hostile run
# may take in all: the timeout, killing and replacing the child, Temporal's round trips.
TIMEOUT_SECONDS = 1.0
HOSTILE_WITHIN = 5.0
# Latency beside a hostile run may be 2x the normal figure (a few tens of ms: one
# workflow task of 14 expression fields), but never less than this, for a busy 2-core
# machine. A runaway expression holding the GIL would hold the normal run for ever.
LATENCY_FLOOR = 0.5
GRACE_SECONDS = 10.0


def _documents(folder: Path, queue: str) -> None:
    header = (
        "document: {dsl: 1.0.0, namespace: tests, name: %s, version: 1.0.0, "
        "metadata: {taskQueue: %s}}\n"
    )
    (folder / "hostile.yaml").write_text(
        header % ("sandbox-hostile", queue)
        + "do:\n"
        + "  - prepare: { set: { n: 1 } }\n"
        + "  - spin:\n"
        + "      set:\n"
        + "        looped: ${ until(false; .) }\n"
    )
    (folder / "normal.yaml").write_text(
        header % ("sandbox-normal", queue)
        + "do:\n"
        + "  - first: { set: { n: '${ .n + 1 }' } }\n"
        + "  - second: { set: '${ {n: (.n * 2), items: [range(10)]} }' }\n"
        + "  - each:\n"
        + "      for: { in: '${ .items }', each: i }\n"
        + "      do: [{ add: { set: '${ . + {seen: ((.seen // 0) + $i)} }' } }]\n"
        + "  - third: { set: { total: '${ .seen }', n: '${ .n }' } }\n"
    )


@pytest.fixture
async def sandbox_worker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OwnWorker]:
    state = tmp_path_factory.mktemp("sandbox")
    async with own_worker(
        state,
        _documents,
        ZIGFLOW_GRACEFUL_SHUTDOWN=f"PT{GRACE_SECONDS:g}S",
        ZIGFLOW_EXPRESSION_TIMEOUT=f"PT{TIMEOUT_SECONDS:g}S",
    ) as worker:
        yield worker


async def _normal_run(client: Client, queue: str) -> float:
    started = time.monotonic()
    handle = await start_dsl(client, "sandbox-normal", {"n": 1}, task_queue=queue)
    assert await handle.result() == {"total": 45, "n": 4}
    return time.monotonic() - started


async def _hostile_run(client: Client, queue: str) -> float:
    started = time.monotonic()
    handle = await start_dsl(client, "sandbox-hostile", {}, task_queue=queue)
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    elapsed = time.monotonic() - started
    failure = caught.value.cause
    assert isinstance(failure, ApplicationError)
    assert failure.type == EXPRESSION
    error: dict[str, Any] = failure.details[0]
    assert error["instance"] == "/do/1/spin/set"  # the task that failed
    assert "jq stopped on 'until(false; .)': it ran past its time limit of 1s" in error["detail"]
    return elapsed


def _children(process: ServiceProcess) -> list[psutil.Process]:
    return psutil.Process(process.pid).children()


async def test_a_runaway_expression_fails_its_task_and_spares_the_other_workflows(
    sandbox_worker: OwnWorker,
) -> None:
    client, queue, process = sandbox_worker.client, sandbox_worker.queue, sandbox_worker.process

    async def serving() -> bool:
        process.raise_if_exited()
        return len(_children(process)) >= 1  # the sandbox started with the worker

    await eventually(serving, within=60)
    await asyncio.wait_for(_normal_run(client, queue), 60)  # warm: the worker polls

    alone = [await _normal_run(client, queue) for _ in range(5)]
    normal = statistics.median(alone)

    async def hostile_runs() -> list[float]:
        return [await _hostile_run(client, queue) for _ in range(HOSTILE_RUNS)]

    hostile = asyncio.create_task(hostile_runs())
    beside: list[float] = []
    while not hostile.done():
        beside.append(await _normal_run(client, queue))
    failures = await hostile

    limit = max(2 * normal, LATENCY_FLOOR)
    print(
        f"\nnormal workflow alone: median {normal:.3f}s of {[round(x, 3) for x in alone]}"
        f"\nbeside {HOSTILE_RUNS} runs of until(false; .): median "
        f"{statistics.median(beside):.3f}s, max {max(beside):.3f}s over {len(beside)} runs"
        f" (limit {limit:.3f}s)"
        f"\nhostile runs failed after {[round(x, 3) for x in failures]} s"
    )
    assert all(elapsed < HOSTILE_WITHIN for elapsed in failures), failures
    assert len(beside) >= HOSTILE_RUNS
    assert statistics.median(beside) <= limit

    # SIGTERM while a runaway expression is being evaluated: the worker stops in time,
    # and takes its expression processes with it.
    handle = await start_dsl(client, "sandbox-hostile", {}, task_queue=queue)

    async def evaluating() -> bool:
        return bool(await history_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED))

    await eventually(evaluating)
    children = _children(process)
    started = time.monotonic()
    code = await process.stop(grace=GRACE_SECONDS + 5)
    stopped = time.monotonic() - started
    print(f"stopped {stopped:.3f}s after SIGTERM, exit code {code}")
    assert code == 0, process.tail()
    assert stopped < GRACE_SECONDS
    assert children

    # The expression processes end with the worker: each is told to stop as the worker
    # exits, and on a loaded host the last may still be exiting at that moment.
    async def none_left() -> bool:
        return not [child for child in children if child.is_running()]

    await eventually(none_left, within=2)
