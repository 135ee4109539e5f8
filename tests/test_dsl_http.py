"""call: http against a real local HTTP server, through the CallHttp activity, and a
destination outside the worker's egress policy."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowFailureError

from devstack import LocalStack
from devstack._processes import ServiceProcess
from tests.support import eventually, history_events, http_failure, start_dsl

COMMUNICATION = "https://serverlessworkflow.io/spec/1.0.0/errors/communication"
# tests/workflows/egress/: documents only the strict worker below loads, on this queue.
EGRESS_WORKFLOWS = Path(__file__).resolve().parent / "workflows" / "egress"
EGRESS_QUEUE = "zigflow-tests-egress"


@dataclass
class Recorded:
    """What the server saw, and how many of the next /flaky requests must fail."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    failures_left: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def handler_for(recorded: Recorded) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output clean."""

        def reply(self, status: int, body: Any) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def record(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            entry = {"method": self.command, "path": self.path, "body": body}
            entry["header"] = self.headers.get("X-Request")
            with recorded.lock:
                recorded.requests.append(entry)
            return entry

        def do_GET(self) -> None:
            entry = self.record()
            if self.path.startswith("/items/7"):
                self.reply(200, {"id": 7, "name": "lamp", "query": self.path.split("?")[-1]})
            elif self.path == "/flaky":
                with recorded.lock:
                    failing = recorded.failures_left > 0
                    recorded.failures_left -= 1
                if failing:
                    self.reply(503, {"error": "try later"})
                else:
                    self.reply(200, {"ok": True, "attempts": len(recorded.requests)})
            else:
                self.reply(404, {"error": f"no {entry['path']}"})

        def do_POST(self) -> None:
            entry = self.record()
            self.reply(201, {"created": entry["body"]})

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Recorded]]:
    recorded = Recorded()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(recorded))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", recorded
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


async def test_http_get_and_post_with_content_and_response_outputs(
    client: Client, server: tuple[str, Recorded]
) -> None:
    base, recorded = server
    handle = await start_dsl(client, "dsl-http", {"base": base, "id": 7, "missing": True})
    result = await handle.result()
    assert result["item"] == {"id": 7, "name": "lamp", "query": "verbose=yes"}
    assert result["created"] == {
        "status": 201,
        "content": {"created": {"name": "lamp", "tags": ["a", "b"]}},
    }
    assert result["missing"] == {"status": 404, "title": "Not Found"}
    get, post, missing = recorded.requests
    assert (get["method"], get["path"], get["header"]) == ("GET", "/items/7?verbose=yes", "dsl")
    assert (post["method"], post["path"]) == ("POST", "/items")
    assert missing["path"] == "/missing"


async def test_an_uncaught_http_error_fails_with_a_communication_error(
    client: Client, server: tuple[str, Recorded]
) -> None:
    base, recorded = server
    handle = await start_dsl(client, "dsl-http-error", {"url": f"{base}/nothing"})
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    error = http_failure(caught.value)
    assert error["type"] == COMMUNICATION
    assert error["status"] == 404
    assert error["instance"] == "/do/0/get"
    assert "no /nothing" in error["detail"]
    assert len(recorded.requests) == 1  # status errors are not retried by Temporal


async def test_try_retries_a_flaky_endpoint_until_it_answers(
    client: Client, server: tuple[str, Recorded]
) -> None:
    base, recorded = server
    recorded.failures_left = 2
    handle = await start_dsl(client, "dsl-try-retry", {"url": f"{base}/flaky", "retries": 3})
    assert await handle.result() == {"ok": True, "attempts": 3}


async def test_retry_limit_exhausted_propagates_the_last_error(
    client: Client, server: tuple[str, Recorded]
) -> None:
    base, recorded = server
    recorded.failures_left = 100
    handle = await start_dsl(client, "dsl-try-retry", {"url": f"{base}/flaky", "retries": 2})
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    assert http_failure(caught.value)["status"] == 503
    assert len(recorded.requests) == 3  # the first try and two retries


async def test_use_functions_are_reusable_calls(
    client: Client, server: tuple[str, Recorded]
) -> None:
    base, recorded = server
    handle = await start_dsl(client, "dsl-functions", {"base": base})
    assert await handle.result() == {"loud": "LAMP"}
    assert [request["path"] for request in recorded.requests] == ["/items/7"]


@pytest.fixture(scope="module")
async def strict_worker(
    stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceProcess]:
    """A second zigflow-worker with the default egress policy (no allow rule, so loopback
    is refused), polling only EGRESS_QUEUE: the session's worker stays as it is."""
    env = {
        **stack.env_for("zigflow-worker"),
        "ZIGFLOW_WORKFLOWS_DIR": str(EGRESS_WORKFLOWS),
        "ZIGFLOW_EGRESS_ALLOW": "",
        "ZIGFLOW_METRICS_PORT": "0",
    }
    process = ServiceProcess(
        name="zigflow-worker-strict",
        argv=stack.services["zigflow-worker"].argv,
        env=env,
        log_file=tmp_path_factory.mktemp("strict-worker") / "zigflow-worker.log",
    )
    await process.start()
    try:

        async def polling() -> bool:
            process.raise_if_exited()
            response = await stack.client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=stack.client.namespace,
                    task_queue=TaskQueue(name=EGRESS_QUEUE),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                )
            )
            return any(p.identity.startswith(f"{process.pid}@") for p in response.pollers)

        await eventually(polling, within=60)
        yield process
    finally:
        await process.stop()


async def test_a_destination_outside_the_egress_policy_fails_with_a_403(
    client: Client, strict_worker: ServiceProcess, server: tuple[str, Recorded]
) -> None:
    base, recorded = server
    payload = {"url": f"{base}/items/7?token=s3cret"}
    handle = await start_dsl(client, "dsl-http-refused", payload, task_queue=EGRESS_QUEUE)
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    error = http_failure(caught.value)
    assert (error["type"], error["status"]) == (COMMUNICATION, 403)
    assert error["title"] == "Destination refused by the egress policy"
    assert error["instance"] == "/do/0/get"
    assert error["detail"].startswith(
        f"GET {base}/items/7: egress to 127.0.0.1 (127.0.0.1) refused: "
        "127.0.0.1 is in 127.0.0.0/8 (loopback), refused by default"
    )
    assert "s3cret" not in error["detail"]
    assert recorded.requests == []  # nothing reached the server
    (started,) = await history_events(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    assert started.activity_task_started_event_attributes.attempt == 1  # not retried
