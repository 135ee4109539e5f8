"""A run executes the definition it started with (issue 12, item 2; docs/adr/0022).

Runs wait on an event under definition v1; the file is edited (a value changed, a wait
inserted, a call's endpoint replaced) and the worker restarted, so each run is replayed by
a worker that loaded v2. Each open run still finishes as v1 says; a run started after the
restart runs v2. It runs its own Temporal dev server and worker, which it restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from devstack import ServiceProcess, TemporalDevServer
from tests.support import eventually, history_events, start_dsl, unique
from tests.zigflow_support import zigflow_worker

HEADER = (
    "document: {dsl: 1.0.0, namespace: tests, name: pinned-flow, version: 1.0.0, "
    "metadata: {taskQueue: %s}}\n"
)
# v1 records its value, waits for `go`, then fetches /v1.
V1 = """do:
  - first: { set: '${ . + {value: "one"} }', export: { as: '${ . }' } }
  - hold: { listen: { to: { one: { with: { type: go } } } } }
  - fetch:
      call: http
      with: { method: get, endpoint: '${ $context.url + "/v1" }' }
  - shape: { set: { value: '${ $context.value }', fetched: '${ .path }' } }
"""
# v2: another value, a wait inserted after the event, another endpoint.
V2 = """do:
  - first: { set: '${ . + {value: "two"} }', export: { as: '${ . }' } }
  - hold: { listen: { to: { one: { with: { type: go } } } } }
  - pause: { wait: PT1S }
  - fetch:
      call: http
      with: { method: get, endpoint: '${ $context.url + "/v2" }' }
  - shape: { set: { value: '${ $context.value }', fetched: '${ .path }' } }
"""
OPEN_RUNS = 3


@dataclass
class PathServer:
    """Answers every GET with the path it was asked for."""

    port: int = 0
    seen: list[str] | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            assert self.seen is not None
            self.seen.append(path)
            body = b'{"path": "' + path.encode() + b'"}'
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        writer.close()


@pytest.fixture
async def path_server() -> AsyncIterator[PathServer]:
    state = PathServer(seen=[])
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()


@dataclass
class Restartable:
    temporal_address: str
    workflows: Path
    logs: Path
    queue: str
    process: ServiceProcess | None = None
    starts: int = 0

    async def start(self) -> ServiceProcess:
        self.starts += 1
        self.process = zigflow_worker(
            f"zigflow-worker-pinning-{self.starts}",
            self.temporal_address,
            self.workflows,
            self.logs,
            ZIGFLOW_EGRESS_ALLOW="127.0.0.1/32",
        )
        await self.process.start()
        return self.process

    async def stop(self) -> None:
        if self.process is not None:
            assert await self.process.stop() == 0, self.process.tail()


@pytest.fixture
async def worker(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Client, Restartable]]:
    state = tmp_path_factory.mktemp("pinning")
    workflows = state / "workflows"
    workflows.mkdir()
    async with TemporalDevServer(state_dir=state, headless=True) as temporal:
        restartable = Restartable(temporal.address, workflows, state / "logs", unique("pinning"))
        try:
            yield await Client.connect(temporal.address), restartable
        finally:
            await restartable.stop()


async def _waiting_for_go(handle: WorkflowHandle[Any, Any]) -> bool:
    """The run pinned its definition and completed the task that listens."""
    completed = await history_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    markers = await history_events(handle, EventType.EVENT_TYPE_MARKER_RECORDED)
    return bool(completed) and len(markers) >= 2  # the patch and the definition


async def test_open_runs_finish_on_the_definition_they_started_with(
    worker: tuple[Client, Restartable], path_server: PathServer
) -> None:
    client, restartable = worker
    document = restartable.workflows / "pinned.yaml"
    document.write_text(HEADER % restartable.queue + V1)
    await restartable.start()
    url = f"http://127.0.0.1:{path_server.port}"
    handles = [
        await start_dsl(client, "pinned-flow", {"url": url}, task_queue=restartable.queue)
        for _ in range(OPEN_RUNS)
    ]

    async def every_run_waits() -> bool:
        assert restartable.process is not None
        restartable.process.raise_if_exited()
        return all([await _waiting_for_go(handle) for handle in handles])

    await eventually(every_run_waits, within=60)

    await restartable.stop()
    document.write_text(HEADER % restartable.queue + V2)
    await restartable.start()

    started = time.monotonic()
    for handle in handles:
        await handle.signal("go", {})
    outputs = [await asyncio.wait_for(handle.result(), 60) for handle in handles]
    elapsed = time.monotonic() - started
    assert outputs == [{"value": "one", "fetched": "/v1"}] * OPEN_RUNS
    print(f"\n{OPEN_RUNS} runs replayed by a worker serving v2 finished on v1 in {elapsed:.2f}s")

    fresh = await start_dsl(client, "pinned-flow", {"url": url}, task_queue=restartable.queue)
    await fresh.signal("go", {})
    assert await asyncio.wait_for(fresh.result(), 60) == {"value": "two", "fetched": "/v2"}
    timers = await history_events(fresh, EventType.EVENT_TYPE_TIMER_STARTED)
    assert len(timers) == 1  # v2's inserted wait, in the new run only
    assert path_server.seen == ["/v1"] * OPEN_RUNS + ["/v2"]
    for handle in handles:
        assert not await history_events(handle, EventType.EVENT_TYPE_TIMER_STARTED)
