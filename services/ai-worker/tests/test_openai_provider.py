"""The OpenAI-compatible provider against a real HTTP server on 127.0.0.1.

The server is a few lines of asyncio: it records each request and answers with
whatever the test queued, so the provider's real httpx client does real I/O.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httpx
import pytest

from agent_contract import AgentSpecData, StepRequest, StepResult
from ai_worker.providers import OpenAIProvider, ProviderError


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass
class ChatServer:
    """An HTTP/1.1 server that speaks just enough of the chat-completions API."""

    answers: list[Answer] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/"

    def answer(self, status: int, payload: Any) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.answers.append(Answer(status=status, body=body))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1").strip()
            method, path, _ = request_line.split(" ", 2)
            headers: dict[str, str] = {}
            while (line := (await reader.readline()).decode("latin-1").strip()) != "":
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Recorded(method, path, headers, body))
            answer = self.answers.pop(0)
            reason = HTTPStatus(answer.status).phrase
            head = (
                f"HTTP/1.1 {answer.status} {reason}\r\n"
                f"Content-Type: {answer.content_type}\r\n"
                f"Content-Length: {len(answer.body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + answer.body)
            await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[ChatServer]:
    chat = ChatServer()
    listener = await asyncio.start_server(chat.handle, host="127.0.0.1", port=0)
    chat.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield chat
    assert chat.answers == [], "the provider made fewer requests than the test expected"


@pytest.fixture
async def http(server: ChatServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:
        yield client


def completion(content: str | None, usage: Any = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": 1717243200,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }
    if usage is not None:
        payload["usage"] = usage
    return payload


def step_request(
    *,
    instructions: str = "Answer in one sentence.",
    parameters: dict[str, str] | None = None,
    previous: list[str] | None = None,
) -> StepRequest:
    spec = AgentSpecData(
        input="Why durable workflows?",
        model="openai:gpt-4o-mini",
        instructions=instructions,
        parameters=parameters or {},
    )
    return StepRequest(
        execution_id="agent-req-1", spec=spec, index=len(previous or []), previous=previous or []
    )


async def refusal(provider: OpenAIProvider, request: StepRequest | None = None) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await provider.step(request or step_request(), model="gpt-4o-mini")
    return caught.value


async def test_completion_becomes_the_final_step(
    server: ChatServer, http: httpx.AsyncClient
) -> None:
    server.answer(
        200,
        completion(
            "Because agents outlive processes.",
            {"prompt_tokens": 21, "completion_tokens": 5, "total_tokens": 26},
        ),
    )
    provider = OpenAIProvider(http=http, api_key="sk-test-key")
    result = await provider.step(
        step_request(parameters={"temperature": "0.2"}), model="gpt-4o-mini"
    )

    assert result == StepResult(
        message="Because agents outlive processes.", done=True, input_tokens=21, output_tokens=5
    )
    (received,) = server.requests
    assert received.method == "POST"
    assert received.path == "/v1/chat/completions"
    assert received.headers["authorization"] == "Bearer sk-test-key"
    assert received.headers["content-type"] == "application/json"
    assert received.json() == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": "Why durable workflows?"},
        ],
        "temperature": 0.2,
    }


async def test_previous_steps_are_sent_as_assistant_messages(
    server: ChatServer, http: httpx.AsyncClient
) -> None:
    server.answer(200, completion("third"))
    provider = OpenAIProvider(http=http)
    result = await provider.step(step_request(previous=["first", "second"]), model="gpt-4o")

    assert result.message == "third"
    body = server.requests[0].json()
    assert body["model"] == "gpt-4o"
    assert body["messages"][-2:] == [
        {"role": "assistant", "content": "first"},
        {"role": "assistant", "content": "second"},
    ]


async def test_without_instructions_or_key_nothing_extra_is_sent(
    server: ChatServer, http: httpx.AsyncClient
) -> None:
    server.answer(200, completion("ok"))
    await OpenAIProvider(http=http).step(step_request(instructions=""), model="local-model")

    received = server.requests[0]
    assert "authorization" not in received.headers
    assert received.json() == {
        "model": "local-model",
        "messages": [{"role": "user", "content": "Why durable workflows?"}],
    }


@pytest.mark.parametrize(
    ("usage", "tokens"),
    [
        (None, (0, 0)),
        ({}, (0, 0)),
        ({"prompt_tokens": 4}, (4, 0)),
        ({"prompt_tokens": None, "completion_tokens": None}, (0, 0)),
    ],
)
async def test_missing_usage_counts_as_zero(
    server: ChatServer, http: httpx.AsyncClient, usage: Any, tokens: tuple[int, int]
) -> None:
    server.answer(200, completion("ok", usage))
    result = await OpenAIProvider(http=http).step(step_request(), model="m")
    assert (result.input_tokens, result.output_tokens) == tokens


async def test_null_content_is_an_empty_message(
    server: ChatServer, http: httpx.AsyncClient
) -> None:
    server.answer(200, completion(None))
    assert (await OpenAIProvider(http=http).step(step_request(), model="m")).message == ""


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
async def test_transient_statuses_are_retryable(
    server: ChatServer, http: httpx.AsyncClient, status: int
) -> None:
    server.answer(status, {"error": {"message": "Rate limit reached", "type": "requests"}})
    error = await refusal(OpenAIProvider(http=http))
    assert error.retryable is True
    assert error.error_type == "ProviderRejected"
    assert str(status) in str(error)
    assert "Rate limit reached" in str(error)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_not_retryable(
    server: ChatServer, http: httpx.AsyncClient, status: int
) -> None:
    server.answer(status, {"error": {"message": "Invalid 'messages'", "type": "invalid_request"}})
    error = await refusal(OpenAIProvider(http=http))
    assert error.retryable is False
    assert error.error_type == "ProviderRejected"
    assert str(status) in str(error)


async def test_error_body_is_truncated_in_the_message(
    server: ChatServer, http: httpx.AsyncClient
) -> None:
    server.answer(400, b"x" * 5000)
    error = await refusal(OpenAIProvider(http=http))
    assert len(str(error)) < 400


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<html>Bad Gateway</html>", id="not-json"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[]", id="list"),
        pytest.param(b"{}", id="no-choices"),
        pytest.param(b'{"choices": []}', id="empty-choices"),
        pytest.param(b'{"choices": [{}]}', id="no-message"),
        pytest.param(b'{"choices": [{"message": {"content": 42}}]}', id="content-not-text"),
        pytest.param(
            json.dumps(completion("ok", {"prompt_tokens": "many"})).encode(), id="usage-not-number"
        ),
        pytest.param(json.dumps(completion("ok", ["usage"])).encode(), id="usage-not-map"),
    ],
)
async def test_malformed_body_is_a_protocol_error(
    server: ChatServer, http: httpx.AsyncClient, body: bytes
) -> None:
    server.answer(200, body)
    error = await refusal(OpenAIProvider(http=http))
    assert error.error_type == "ProviderProtocolError"
    assert error.retryable is False


async def test_bad_temperature_is_refused_before_any_request(
    server: ChatServer, http: httpx.AsyncClient
) -> None:
    error = await refusal(
        OpenAIProvider(http=http), step_request(parameters={"temperature": "hot"})
    )
    assert error.error_type == "InvalidParameters"
    assert error.retryable is False
    assert server.requests == []


async def test_unreachable_endpoint_is_retryable() -> None:
    # A port that was just free and is closed again: the connection is refused.
    listener = await asyncio.start_server(lambda r, w: None, host="127.0.0.1", port=0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/v1/", timeout=10) as http:
        error = await refusal(OpenAIProvider(http=http))
    assert error.error_type == "ProviderUnavailable"
    assert error.retryable is True
