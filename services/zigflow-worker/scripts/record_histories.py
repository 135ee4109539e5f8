"""Record one history per example for the replay test (tests/test_replay_recorded.py).

    uv run python services/zigflow-worker/scripts/record_histories.py [WORKFLOW_TYPE...]

Starts the local stack (Temporal + the four services), runs every example (or only the
workflow types named) with a realistic input, and writes each history to
``tests/histories/<workflow type>.json``.
Re-record only when an example is changed on purpose: a history that no longer
replays means runs started before the change would break after a deploy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError

from agent_contract import ZIGFLOW_TASK_QUEUE
from devstack import LocalStack, StackConfig

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
OUT = HERE.parent / "tests" / "histories"
RUNS: dict[str, dict[str, Any]] = {
    "hello-agent": {"topic": "replays"},
    "failing-agent": {"question": "will it fail?"},
    "ticket-triage": {"ticket": "outage: checkout is down"},
    "review-each-item": {"items": [{"name": "lamp"}, {"name": "desk"}]},
    "flaky-agent-fallback": {"question": "why retry?"},
    "research-and-review": {"topic": "durable agents"},
    "human-approval": {"request": "launch post"},
    "http-to-agent": {},
    "summarize-document": {"id": "a", "text": "alpha"},
    "summarize-all": {"documents": [{"id": "a", "text": "alpha"}, {"id": "b", "text": "beta"}]},
    "grpc-health-gate": {"question": "ready?"},
}


class _Article(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        body = json.dumps({"title": "Queues", "body": "queues decouple work"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def article_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Article)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/articles/1"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


async def record(client: Client, workflow_type: str, payload: Any) -> None:
    handle = await client.start_workflow(
        workflow_type, payload, id=f"recorded-{workflow_type}", task_queue=ZIGFLOW_TASK_QUEUE
    )
    if workflow_type == "human-approval":
        await handle.signal("approval", {"approved": True, "by": "recorder"})
    # failing-agent fails on purpose; its history is just as useful.
    with contextlib.suppress(WorkflowFailureError):
        await handle.result()
    history = await handle.fetch_history()
    (OUT / f"{workflow_type}.json").write_text(history.to_json() + "\n")
    print(f"recorded {workflow_type}")


async def main(only: list[str]) -> None:
    unknown = sorted(set(only) - set(RUNS))
    if unknown:
        raise SystemExit(f"no recorded run for {unknown}; known: {sorted(RUNS)}")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as state, article_server() as url:
        config = StackConfig(state_dir=Path(state), workflows_dir=ROOT / "examples", headless=True)
        async with LocalStack(config) as stack:
            for workflow_type, payload in RUNS.items():
                if only and workflow_type not in only:
                    continue
                if workflow_type == "http-to-agent":
                    payload = {"url": url}
                if workflow_type == "grpc-health-gate":
                    host, _, port = stack.stigma_address.rpartition(":")
                    payload = {**payload, "host": host, "port": int(port)}
                await record(stack.client, workflow_type, payload)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
