"""Every workflow in examples/ runs end to end on the real stack (agents included)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from agent_contract import AGENT_FAILED_ERROR
from devstack import LocalStack
from tests.support import start_dsl
from tests.test_dsl_grpc import stigma_host_port
from zigflow.dsl import load_document

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# Each example this suite runs; the last test checks none is forgotten.
COVERED = {
    "hello-agent",
    "failing-agent",
    "ticket-triage",
    "review-each-item",
    "flaky-agent-fallback",
    "research-and-review",
    "human-approval",
    "http-to-agent",
    "summarize-document",
    "summarize-all",
    "grpc-health-gate",
}


async def run(client: Client, workflow_type: str, payload: Any) -> Any:
    return await (await start_dsl(client, workflow_type, payload)).result()


async def test_hello_agent(client: Client) -> None:
    # The agent thinks, checks the time and runs summarize-document (which calls an agent).
    result = await run(client, "hello-agent", {"topic": "retries"})
    assert result["answer"] == (
        "Why do long-running AI agents need retries? Because their work outlives any one "
        'process: {"id": 1, "summary": "retries (summarized)"}'
    )
    assert result["execution"].startswith("agent-")
    assert (result["steps"], result["toolCalls"]) == (4, 3)


async def test_failing_agent(client: Client) -> None:
    with pytest.raises(WorkflowFailureError) as caught:
        await run(client, "failing-agent", {})
    assert isinstance(caught.value.cause, ActivityError)
    assert isinstance(caught.value.cause.cause, ApplicationError)
    assert caught.value.cause.cause.type == AGENT_FAILED_ERROR


async def test_ticket_triage_pages_on_an_outage(client: Client) -> None:
    result = await run(client, "ticket-triage", {"ticket": "outage: checkout is down"})
    assert result == {"action": "paged", "ticket": "outage: checkout is down"}


async def test_ticket_triage_replies_to_a_question(client: Client) -> None:
    result = await run(client, "ticket-triage", {"ticket": "question: where is my invoice?"})
    assert result == {
        "action": "replied",
        "reply": "Thanks for writing in. Re: question: where is my invoice?",
    }


async def test_review_each_item(client: Client) -> None:
    result = await run(client, "review-each-item", {"items": [{"name": "lamp"}, {"name": "desk"}]})
    assert result == {
        "reviews": [
            {"position": 0, "item": "lamp", "review": "LAMP looks fine"},
            {"position": 1, "item": "desk", "review": "DESK looks fine"},
        ]
    }
    assert await run(client, "review-each-item", {"items": []}) == {"reviews": []}


async def test_flaky_agent_is_retried_then_replaced_by_the_fallback(client: Client) -> None:
    result = await run(client, "flaky-agent-fallback", {"question": "why retry?"})
    assert result["answer"] == "(fallback) why retry?"
    assert result["by"] == "fallback"
    assert "scripted failure at step 2" in result["primaryError"]


async def test_flaky_agent_answers_when_it_does_not_fail(client: Client) -> None:
    result = await run(client, "flaky-agent-fallback", {"question": "ok?", "failAtStep": 0})
    assert result == {"answer": "ok?", "by": "primary"}


async def test_research_and_review(client: Client) -> None:
    result = await run(client, "research-and-review", {"topic": "durable agents"})
    assert result["research"] == "facts: Collect facts about durable agents"
    assert result["review"] == "RISKS OF DURABLE AGENTS"
    assert len(set(result["executions"])) == 2


async def test_human_approval_published_on_signal(client: Client) -> None:
    handle = await start_dsl(client, "human-approval", {"request": "launch post"})
    await handle.signal("approval", {"approved": True, "by": "maria"})
    assert await handle.result() == {
        "status": "published",
        "text": "DRAFT: launch post",
        "by": "maria",
    }


async def test_human_approval_discarded_after_the_deadline(client: Client) -> None:
    result = await run(client, "human-approval", {"request": "x", "deadline": "PT0.5S"})
    assert result == {"status": "discarded", "reason": "no answer before the deadline"}


@pytest.fixture
def article_url() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            body = json.dumps({"title": "Queues", "body": "queues decouple work"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/articles/1"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


async def test_http_to_agent(client: Client, article_url: str) -> None:
    result = await run(client, "http-to-agent", {"url": article_url})
    assert result == {"title": "Queues", "summary": "Summary of queues decouple work"}


async def test_summarize_all_runs_one_child_per_document(client: Client) -> None:
    documents = [{"id": "a", "text": "alpha"}, {"id": "b", "text": "beta"}]
    assert await run(client, "summarize-all", {"documents": documents}) == [
        {"id": "a", "summary": "alpha (summarized)"},
        {"id": "b", "summary": "beta (summarized)"},
    ]
    assert await run(client, "summarize-document", documents[0]) == {
        "id": "a",
        "summary": "alpha (summarized)",
    }


async def test_grpc_health_gate_asks_the_agent_when_stigma_is_serving(
    client: Client, stack: LocalStack
) -> None:
    payload = {**stigma_host_port(stack), "question": "ready?"}
    result = await run(client, "grpc-health-gate", payload)
    assert result == {"health": "SERVING", "answer": "Answer to: ready?"}


async def test_grpc_health_gate_postpones_when_the_service_is_unknown(
    client: Client, stack: LocalStack
) -> None:
    payload = {**stigma_host_port(stack), "service": "no.such.Service", "question": "ready?"}
    result = await run(client, "grpc-health-gate", payload)
    assert result == {"health": "UNHEALTHY (gRPC NOT_FOUND)", "postponed": "ready?"}


def test_every_example_is_valid_and_covered() -> None:
    names = {load_document(path).workflow_type for path in EXAMPLES.glob("*.yaml")}
    assert names == COVERED
