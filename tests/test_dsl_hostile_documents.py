"""Hostile documents beside an ordinary one, through a real zigflow-worker (issue 12, items
4 and 5; item 3, the runaway expression, is test_dsl_expression_sandbox.py).

- A ``fork`` of calls to a server that accepts and never answers takes at most the run's
  share of the queue's activity slots (``ZIGFLOW_MAX_ACTIVITIES_PER_RUN``), so another
  workflow's ``call: http`` still gets a slot.
- A response that never ends is cut at ``ZIGFLOW_MAX_RESPONSE_BYTES``: a named error, and
  the worker's memory stays put.
- A YAML bomb in the worker's folder is refused at start-up; the worker serves the rest.

Each measures the ordinary workflow's latency alone and beside the hostile runs. It runs
its own Temporal dev server and worker (8 slots, a run's share 2, the default quarter), as
test_dsl_expression_sandbox.py does, so the figures are the worker's own.

These figures once read x2.3 beside the forks (0.098 s against 0.042 s), whatever the
slots, the share or eager dispatch. The forks were innocent: the dev server's history
shard read its transfer queue at most 20 times a second, and the measurement's back-to-back
runs used that up after about ten workflows, so the runs "beside" simply came later than
those "alone" (docs/adr/0025; devstack now raises the rate).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle

from tests.support import eventually, http_failure, start_dsl
from tests.zigflow_support import BOMB, OwnWorker, own_worker

SLOTS = 8
SHARE = 2  # the default quarter, set so that the assertions below read it
FORK_WIDTH = 12  # the two forks want more than every slot of the queue
HOSTILE_FORKS = 2
MAX_RESPONSE_BYTES = 1024 * 1024
ENDLESS_BYTES = 256 * 1024 * 1024  # what the endless server sends before it gives up
# Beside a hostile run, the ordinary workflow may take 2x its figure alone, but never less
# than this, for a busy 2-core machine (seen: x1.04 to x1.3 of about 0.05 s). Without the
# bounds it waits for a slot: the silent calls' 30 s timeout.
LATENCY_FLOOR = 0.5


def _documents(folder: Path, queue: str) -> None:
    header = (
        "document: {dsl: 1.0.0, namespace: tests, name: %s, version: 1.0.0, "
        "metadata: {taskQueue: %s}}\n"
    )
    call = "{ call: http, with: { method: get, endpoint: '${ .url }' }, timeout: { after: PT30S } }"
    (folder / "fork.yaml").write_text(
        header % ("hostile-fork", queue)
        + "do:\n  - fan:\n      fork:\n        branches:\n"
        + "".join(f"          - b{index}: {call}\n" for index in range(FORK_WIDTH))
    )
    (folder / "endless.yaml").write_text(
        header % ("hostile-endless", queue) + f"do:\n  - fetch: {call}\n"
    )
    (folder / "normal.yaml").write_text(
        header % ("hostile-normal", queue)
        + f"do:\n  - fetch: {call}\n"
        + "  - shape: { set: { ok: '${ .ok }' } }\n"
    )
    (folder / "bomb.yaml").write_text(BOMB)


@dataclass
class Servers:
    """Three HTTP servers on loopback: one answers, one never does, one never stops."""

    open_silent: int = 0
    most_silent: int = 0
    silent_seen: int = 0
    ports: dict[str, int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}/"

    async def _request(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await reader.readuntil(b"\r\n\r\n")

    async def fast(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._request(reader)
        body = b'{"ok": true}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def silent(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_silent += 1
        self.silent_seen += 1
        self.most_silent = max(self.most_silent, self.open_silent)
        try:
            with contextlib.suppress(ConnectionError):
                while await reader.read(4096):  # until the worker gives up and closes
                    pass
        finally:
            self.open_silent -= 1
            writer.close()

    async def endless(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            + f"Content-Length: {ENDLESS_BYTES}\r\n\r\n".encode()
        )
        chunk = b"x" * 65536
        with contextlib.suppress(ConnectionError):
            for _ in range(ENDLESS_BYTES // len(chunk)):
                writer.write(chunk)
                await writer.drain()
        writer.close()


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    state = Servers()
    handlers = {"fast": state.fast, "silent": state.silent, "endless": state.endless}
    started = [await asyncio.start_server(h, "127.0.0.1", 0) for h in handlers.values()]
    for name, server in zip(handlers, started, strict=True):
        state.ports[name] = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        for server in started:
            server.close()


@pytest.fixture
async def hostile_worker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OwnWorker]:
    state = tmp_path_factory.mktemp("hostile")
    async with own_worker(
        state,
        _documents,
        ZIGFLOW_EGRESS_ALLOW="127.0.0.1/32",
        ZIGFLOW_MAX_CONCURRENT_ACTIVITIES=str(SLOTS),
        ZIGFLOW_MAX_ACTIVITIES_PER_RUN=str(SHARE),
        ZIGFLOW_MAX_RESPONSE_BYTES=str(MAX_RESPONSE_BYTES),
        ZIGFLOW_GRACEFUL_SHUTDOWN="PT1S",  # the silent calls are not waited for
    ) as worker:
        yield worker


async def _normal_run(worker: OwnWorker, servers: Servers) -> float:
    started = time.monotonic()
    handle = await start_dsl(
        worker.client, "hostile-normal", {"url": servers.url("fast")}, task_queue=worker.queue
    )
    assert await handle.result() == {"ok": True}
    return time.monotonic() - started


async def _alone(worker: OwnWorker, servers: Servers) -> float:
    """The ordinary workflow's median latency with nothing else on the worker."""
    await asyncio.wait_for(_normal_run(worker, servers), 60)  # warm: the worker polls
    return statistics.median([await _normal_run(worker, servers) for _ in range(5)])


async def _beside(
    worker: OwnWorker, servers: Servers, hostile: Callable[[], Awaitable[bool]]
) -> list[float]:
    """Ordinary runs, one after another, while ``hostile()`` says the hostile runs are on."""
    beside = [await _normal_run(worker, servers)]
    while await hostile() and len(beside) < 10:
        beside.append(await _normal_run(worker, servers))
    return beside


def _report(what: str, normal: float, beside: list[float]) -> float:
    limit = max(2 * normal, LATENCY_FLOOR)
    print(
        f"\nordinary workflow alone: median {normal:.3f}s; beside {what}: median "
        f"{statistics.median(beside):.3f}s, max {max(beside):.3f}s over {len(beside)} runs "
        f"(limit {limit:.3f}s)"
    )
    return limit


async def test_a_fork_of_silent_calls_takes_only_its_runs_share_of_the_slots(
    hostile_worker: OwnWorker, servers: Servers
) -> None:
    normal = await _alone(hostile_worker, servers)
    forks: list[WorkflowHandle[Any, Any]] = [
        await start_dsl(
            hostile_worker.client,
            "hostile-fork",
            {"url": servers.url("silent")},
            task_queue=hostile_worker.queue,
        )
        for _ in range(HOSTILE_FORKS)
    ]
    try:

        async def every_share_taken() -> bool:
            hostile_worker.process.raise_if_exited()
            return servers.open_silent >= HOSTILE_FORKS * SHARE

        await eventually(every_share_taken, within=30)

        async def still_held() -> bool:
            return servers.open_silent >= HOSTILE_FORKS * SHARE

        beside = await _beside(hostile_worker, servers, still_held)
        limit = _report(
            f"{HOSTILE_FORKS} forks of {FORK_WIDTH} silent calls "
            f"({servers.most_silent} of {SLOTS} slots held)",
            normal,
            beside,
        )
        # Every fork still has its share out, and never had more.
        assert servers.open_silent == HOSTILE_FORKS * SHARE
        assert servers.most_silent == HOSTILE_FORKS * SHARE
        assert servers.silent_seen == HOSTILE_FORKS * SHARE  # the others wait in their run
        assert statistics.median(beside) <= limit
    finally:
        for fork in forks:
            await fork.terminate("test over")


async def test_an_endless_response_is_cut_at_the_limit_and_spares_the_worker(
    hostile_worker: OwnWorker, servers: Servers
) -> None:
    normal = await _alone(hostile_worker, servers)
    worker_process = psutil.Process(hostile_worker.process.pid)
    rss_before = worker_process.memory_info().rss
    failures: list[dict[str, Any]] = []

    async def hostile_runs() -> None:
        for _ in range(3):
            handle = await start_dsl(
                hostile_worker.client,
                "hostile-endless",
                {"url": servers.url("endless")},
                task_queue=hostile_worker.queue,
            )
            with pytest.raises(WorkflowFailureError) as caught:
                await handle.result()
            failures.append(http_failure(caught.value))

    hostile = asyncio.create_task(hostile_runs())

    async def running() -> bool:
        return not hostile.done()

    beside = await _beside(hostile_worker, servers, running)
    await hostile
    rss_growth = (worker_process.memory_info().rss - rss_before) / 2**20
    limit = _report(f"3 endless responses (worker RSS {rss_growth:+.1f} MiB)", normal, beside)
    for error in failures:
        assert (error["status"], error["title"]) == (502, "Response too large")
        assert error["instance"] == "/do/0/fetch"
        assert str(MAX_RESPONSE_BYTES) in error["detail"]
    # Unbounded, the worker would have read 3 x 256 MiB.
    assert rss_growth < 64, rss_growth
    assert statistics.median(beside) <= limit


async def test_a_yaml_bomb_in_the_folder_is_refused_and_the_rest_is_served(
    hostile_worker: OwnWorker, servers: Servers
) -> None:
    await _alone(hostile_worker, servers)  # the worker started and serves the rest
    log = hostile_worker.process.log_file.read_text()
    refused = [line for line in log.splitlines() if "definition refused" in line]
    assert len(refused) == 1, refused
    assert "bomb.yaml" in refused[0]
    assert "ZIGFLOW_YAML_MAX_ALIAS_NODES" in refused[0]
