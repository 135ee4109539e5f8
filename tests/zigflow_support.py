"""For the tests that run a zigflow-worker of their own beside a Temporal dev server of
their own (the expression sandbox, hostile documents, definition pinning, the CLI): the
worker's process, and the hostile YAML they all feed it."""

from __future__ import annotations

import secrets
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from devstack import SERVICES, ServiceProcess, TemporalDevServer
from tests.support import unique

# The classic "billion laughs", in a valid document: 9 levels of 9 aliases, 9^9 strings once
# expanded. Without limits, the load-time checks walk all of them (the loader hung).
BOMB = "".join(
    [
        'document: {dsl: "1.0.0", namespace: tests, name: bomb, version: "1.0.0"}\n',
        "do:\n  - boom:\n      set:\n",
        '        a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
        *(
            f"        {name}: &{name} [{','.join([f'*{prev}'] * 9)}]\n"
            for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


def zigflow_worker(
    name: str, temporal_address: str, workflows: Path, logs: Path, **settings: str
) -> ServiceProcess:
    """A zigflow-worker process serving ``workflows`` (not started): a fresh signing key,
    no metrics port, and ``settings`` (``ZIGFLOW_*`` variables) on top."""
    module, _ = SERVICES["zigflow-worker"]
    return ServiceProcess(
        name=name,
        argv=[sys.executable, "-m", module],
        env={
            "TEMPORAL_ADDRESS": temporal_address,
            "TEMPORAL_NAMESPACE": "default",
            "CALLBACK_KEYS": f"k1:{secrets.token_urlsafe(32)}",
            "PYTHONUNBUFFERED": "1",
            "ZIGFLOW_WORKFLOWS_DIR": str(workflows),
            "ZIGFLOW_METRICS_PORT": "0",
            **settings,
        },
        log_file=logs / f"{name}.log",
    )


@dataclass
class OwnWorker:
    """A Temporal dev server and a zigflow-worker of the test's own."""

    client: Client
    process: ServiceProcess
    queue: str
    """The task queue the documents name (unique to the test)."""


@asynccontextmanager
async def own_worker(
    state: Path, documents: Callable[[Path, str], None], **settings: str
) -> AsyncIterator[OwnWorker]:
    """Writes ``documents(folder, queue)``, starts a dev server and a worker serving them
    (``settings`` as in ``zigflow_worker``) under ``state``, and stops both on exit."""
    workflows = state / "workflows"
    workflows.mkdir()
    queue = unique(state.name)
    documents(workflows, queue)
    async with TemporalDevServer(state_dir=state, headless=True) as temporal:
        name = f"zigflow-worker-{state.name}"
        process = zigflow_worker(name, temporal.address, workflows, state / "logs", **settings)
        await process.start()
        try:
            yield OwnWorker(await Client.connect(temporal.address), process, queue)
        finally:
            await process.stop()
