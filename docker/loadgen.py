"""Load generator of the compose stack: starts example workflows at a steady rate.

Runs in the zigflow-worker image (compose service ``loadgen``), so every dashboard panel has
live data within a minute: agent calls that succeed, fail (``failing-agent``), retry
(``flaky-agent-fallback``) and fan out (``review-each-item``, ``research-and-review``).

Environment: ``TEMPORAL_*`` (as the services), ``LOADGEN_WORKFLOWS_DIR`` (the examples, read
to check the names exist), ``LOADGEN_RATE`` (workflow starts per second), and
``LOADGEN_MAX_IN_FLIGHT`` (starts pause while this many runs are unfinished).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import signal
import uuid
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError

from agent_contract import ZIGFLOW_TASK_QUEUE
from service_kit import connect_temporal
from zigflow.dsl import load_document

logger = logging.getLogger("loadgen")

ALIVE_FILE = Path("/tmp/loadgen-alive")
# (workflow name, input): every run needs no outside service and ends on its own.
MIX: tuple[tuple[str, dict[str, Any]], ...] = (
    ("hello-agent", {"topic": "retries"}),
    ("ticket-triage", {"ticket": "outage: checkout is down"}),
    ("hello-agent", {"topic": "durable timers"}),
    ("ticket-triage", {"ticket": "question: where is my invoice?"}),
    ("review-each-item", {"items": [{"name": "lamp"}, {"name": "desk"}]}),
    ("flaky-agent-fallback", {"question": "why retry?"}),
    ("research-and-review", {"topic": "durable agents"}),
    ("failing-agent", {}),
)


async def run_one(client: Client, name: str, payload: dict[str, Any]) -> str:
    handle = await client.start_workflow(
        name, payload, id=f"loadgen-{name}-{uuid.uuid4().hex[:12]}", task_queue=ZIGFLOW_TASK_QUEUE
    )
    await asyncio.to_thread(ALIVE_FILE.touch)
    try:
        await handle.result()
    except WorkflowFailureError:
        return "failed"
    return "completed"


async def generate(client: Client, *, rate: float, max_in_flight: int, stop: asyncio.Event) -> None:
    in_flight: set[asyncio.Task[str]] = set()
    outcomes: dict[str, int] = {}

    def done(task: asyncio.Task[str]) -> None:
        in_flight.discard(task)
        if task.cancelled():
            return
        outcome = "error" if task.exception() else task.result()
        if task.exception():
            logger.warning("run failed to start or finish: %s", task.exception())
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    loop = asyncio.get_running_loop()
    next_start = loop.time()
    for count, (name, payload) in enumerate(itertools.cycle(MIX), start=1):
        if len(in_flight) < max_in_flight:
            task = asyncio.create_task(run_one(client, name, payload))
            in_flight.add(task)
            task.add_done_callback(done)
        if count % 60 == 0:
            logger.info(
                "started %d runs; in flight %d; outcomes %s", count, len(in_flight), outcomes
            )
        next_start += 1.0 / rate
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, next_start - loop.time()))
        if stop.is_set():
            break
    for task in list(in_flight):
        task.cancel()
    await asyncio.gather(*in_flight, return_exceptions=True)


def workflow_types(folder: Path) -> set[str]:
    return {load_document(path).workflow_type for path in folder.glob("*.yaml")}


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    workflows = Path(os.environ.get("LOADGEN_WORKFLOWS_DIR", "examples"))
    known = await asyncio.to_thread(workflow_types, workflows)
    missing = {name for name, _ in MIX} - known
    if missing:
        raise SystemExit(f"LOADGEN_WORKFLOWS_DIR={workflows} lacks {sorted(missing)}")
    rate = float(os.environ.get("LOADGEN_RATE", "0.5"))
    max_in_flight = int(os.environ.get("LOADGEN_MAX_IN_FLIGHT", "100"))
    if rate <= 0 or max_in_flight <= 0:
        raise SystemExit("LOADGEN_RATE and LOADGEN_MAX_IN_FLIGHT must be positive")

    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    client = await connect_temporal()
    logger.info(
        "starting %s workflows at %.2f/s (at most %d in flight)", len(MIX), rate, max_in_flight
    )
    await generate(client, rate=rate, max_in_flight=max_in_flight, stop=stop)


if __name__ == "__main__":
    asyncio.run(main())
