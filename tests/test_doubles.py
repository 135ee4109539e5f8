"""The test doubles behave like the real services, as the real clients see them.

Every behaviour of `tests.doubles` is proved here through the clients the project uses: the
`openai` 3.x and `anthropic` 2.x SDKs (`max_retries=0`), Pydantic AI's `OpenAIChatModel` and
`AnthropicModel` (`ModelSettings(max_retries=0)`), and Pydantic AI's `MCPToolset`. No Temporal.

What each client does with each failure (openai 3.57, anthropic 2.14, pydantic-ai 2.68, httpx2
underneath; asserted below, so a dependency upgrade that changes any of it fails here):

Connection dropped mid-stream (`CutStream`, the default abrupt cut):
  openai SDK     `openai.APIConnectionError` ("Connection error."), `__cause__`
                 `httpx2.RemoteProtocolError` ("peer closed connection without sending complete
                 message body (incomplete chunked read)", or "(received N bytes, expected M)"
                 for a non-streaming body cut short), streaming or not.
  anthropic SDK  streaming: the raw `httpx2.RemoteProtocolError`, NOT wrapped in an
                 `anthropic.APIError` (it wraps transport errors only until the response starts);
                 non-streaming: `anthropic.APIConnectionError` with that cause.
  Pydantic AI    both models: `ModelConnectionError` (`phase` "read", `in_stream` False).
                 Message "Connection error." (cause the SDK's `APIConnectionError`), except
                 AnthropicModel streaming (its default, see the end): the httpx2 message, cause
                 the `httpx2.RemoteProtocolError`.
Stream ended cleanly but early (`CutStream(graceful=True)`: no [DONE] / message_stop):
  openai SDK     iteration simply ends after the chunks sent; no error, no finish_reason seen.
  anthropic SDK  iteration ends; no error; `messages.stream()` even gives a final message,
                 with `stop_reason` None.
  Pydantic AI    NO error: OpenAIChatModel returns the partial text with `finish_reason` "stop"
                 (indistinguishable from a complete answer but for `usage` having no tokens);
                 AnthropicModel returns the partial parts with `finish_reason` None.
                 This is the case the project must turn into a named error itself.
Malformed SSE line (`MalformedStream`, a `data:` that is not JSON):
  both SDKs      the raw `json.JSONDecodeError`, streaming or not (a cut JSON body likewise).
  Pydantic AI    `ModelAPIError` (the base class, no status), message "Failed to decode response
                 as JSON: …", `__cause__` the `JSONDecodeError`.
Garbage 200 body (`GarbageBody`, text/html):
  both SDKs      non-streaming: NO error, `create()` returns the body as a `str`; streaming: no
                 error, zero events. With `content-type: application/json`: `json.JSONDecodeError`.
                 anthropic `messages.stream()` raises a bare `AssertionError`.
  Pydantic AI    `UnexpectedModelBehavior`: OpenAI non-streaming "Invalid response from openai
                 chat completions endpoint, expected JSON data"; streaming (and AnthropicModel by
                 default, see below) "Streamed response ended without content or tool calls".
                 AnthropicModel truly non-streaming: `ModelAPIError` "Expected a JSON response…".
429 with Retry-After:
  both SDKs      `RateLimitError` (an `APIStatusError`): `status_code` 429, `body` the parsed
                 error (openai: the inner `error` object, with `.code`/`.type` set from it;
                 anthropic: the whole `{"type": "error", ...}`), `response.headers["retry-after"]`.
  Pydantic AI    `ModelRateLimitError` (also a `ModelHTTPError`): `status_code` 429,
                 `retry_after` 7.0 (seconds, from the header), `headers`, `body`,
                 `provider_error_type` ("requests" / "rate_limit_error").
500:             SDKs: `InternalServerError`, `status_code` 500. Pydantic AI: `ModelServerError`.
401:             SDKs: `AuthenticationError`, `status_code` 401 (openai `code` "invalid_api_key").
                 Pydantic AI: `ModelAuthenticationError` (a `ModelHTTPError`, status 401).
In-stream error event (`StreamError`, e.g. Anthropic's mid-stream overloaded_error):
  openai SDK     base `openai.APIError` (no status); Pydantic AI `ModelServerError` with
                 `status_code` 500 and `in_stream` True.
  anthropic SDK  `anthropic.APIStatusError` with `status_code` 200 and the error `body`;
                 Pydantic AI `ModelOverloadedError`, `status_code` 529, `in_stream` True.
Read timeout during a silence after the headers: openai `APITimeoutError`; anthropic streaming
  the raw `httpx2.ReadTimeout`.

Pydantic AI's AnthropicModel streams even a non-streaming `request()` when `max_tokens` is large
(its default for the model is 64000), so the server sees `stream: true`; with `max_tokens` 100
it sends a plain request.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from anthropic.types import MessageParam
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam
from pydantic_ai import ModelRequest
from pydantic_ai.direct import model_request, model_request_stream
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelHTTPError,
    ModelOverloadedError,
    ModelRateLimitError,
    ModelRetry,
    ModelServerError,
    UnexpectedModelBehavior,
)
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.providers.openai import OpenAIProvider
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import ToolDefinition

from tests.doubles import (
    CutStream,
    Fault,
    GarbageBody,
    HttpError,
    MalformedStream,
    ModelServer,
    Outcome,
    Reply,
    Script,
    StreamError,
    ToolCall,
    Usage,
    filler_text,
    mcp_http_server,
    mcp_stdio_command,
    model_server_process,
)

pytestmark = pytest.mark.timeout(30)

GPT = "gpt-4o-mini"
CLAUDE = "claude-haiku-4-5"
KEY = "sk-test-key"
OPENAI_MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What is the capital of France?"}
]
ANTHROPIC_MESSAGES: list[MessageParam] = [
    {"role": "user", "content": "What is the capital of France?"}
]
NO_RETRIES = ModelSettings(max_retries=0)
LOOKUP_TOOL = ToolDefinition(
    name="lookup",
    description="Look up a fact by key.",
    parameters_json_schema={
        "type": "object",
        "properties": {"key": {"type": "string"}},
        "required": ["key"],
    },
)
SENTENCE = "The capital of France is Paris, on the Seine."


@pytest.fixture
async def server() -> AsyncIterator[ModelServer]:
    async with ModelServer() as running:
        yield running


@pytest.fixture
async def openai_client(server: ModelServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=server.openai_base_url, api_key=KEY, max_retries=0
    ) as client:
        yield client


@pytest.fixture
async def anthropic_client(server: ModelServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(
        base_url=server.anthropic_base_url, api_key=KEY, max_retries=0
    ) as client:
        yield client


async def openai_chunks(
    client: openai.AsyncOpenAI, **options: Any
) -> list[tuple[float, ChatCompletionChunk]]:
    """Stream a chat completion; each chunk with its arrival, in seconds since the call."""
    started = time.monotonic()
    stream = await client.chat.completions.create(
        model=GPT, messages=OPENAI_MESSAGES, stream=True, **options
    )
    return [(time.monotonic() - started, chunk) async for chunk in stream]


async def anthropic_events(client: anthropic.AsyncAnthropic) -> list[Any]:
    stream = await client.messages.create(
        model=CLAUDE, max_tokens=1024, messages=ANTHROPIC_MESSAGES, stream=True
    )
    return [event async for event in stream]


async def anthropic_final_message(client: anthropic.AsyncAnthropic) -> object:
    async with client.messages.stream(
        model=CLAUDE, max_tokens=1024, messages=ANTHROPIC_MESSAGES
    ) as stream:
        return await stream.get_final_message()


async def openai_call(client: openai.AsyncOpenAI, *, stream: bool) -> object:
    if stream:
        return await openai_chunks(client)
    return await client.chat.completions.create(model=GPT, messages=OPENAI_MESSAGES)


async def anthropic_call(client: anthropic.AsyncAnthropic, *, stream: bool) -> object:
    if stream:
        return await anthropic_events(client)
    return await client.messages.create(model=CLAUDE, max_tokens=64, messages=ANTHROPIC_MESSAGES)


def openai_model(server: ModelServer) -> OpenAIChatModel:
    return OpenAIChatModel(
        GPT, provider=OpenAIProvider(base_url=server.openai_base_url, api_key=KEY)
    )


def anthropic_model(server: ModelServer) -> AnthropicModel:
    return AnthropicModel(
        CLAUDE, provider=AnthropicProvider(base_url=server.anthropic_base_url, api_key=KEY)
    )


async def pydantic_ai_request(
    model: Model,
    messages: Sequence[ModelMessage],
    *,
    stream: bool,
    settings: ModelSettings = NO_RETRIES,
    tools: list[ToolDefinition] | None = None,
) -> ModelResponse:
    """`Model.request` or `Model.request_stream` through `pydantic_ai.direct`."""
    parameters = ModelRequestParameters(function_tools=tools or [])
    if not stream:
        return await model_request(
            model, messages, model_settings=settings, model_request_parameters=parameters
        )
    async with model_request_stream(
        model, messages, model_settings=settings, model_request_parameters=parameters
    ) as streamed:
        async for _ in streamed:
            pass
        return streamed.get()


# The model server through the openai SDK ----------------------------------------------------


async def test_openai_answer_usage_and_recording(
    server: ModelServer, openai_client: openai.AsyncOpenAI
) -> None:
    server.enqueue(Reply(text=SENTENCE))

    completion = await openai_client.chat.completions.create(model=GPT, messages=OPENAI_MESSAGES)

    assert completion.id.startswith("chatcmpl-")
    assert completion.model == GPT
    assert completion.created > 1_700_000_000
    assert completion.choices[0].message.content == SENTENCE
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == len(SENTENCE) // 4 + 1  # about 4 chars a token
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    request = await server.wait_ended(0)
    assert request.path == "/v1/chat/completions"
    assert request.authorization == f"Bearer {KEY}"
    assert request.model == GPT
    assert request.stream is False
    assert request.messages == OPENAI_MESSAGES
    assert request.outcome is Outcome.COMPLETED
    assert request.reply == Reply(text=SENTENCE)


async def test_openai_stream_is_paced_and_ends_with_usage(
    server: ModelServer, openai_client: openai.AsyncOpenAI
) -> None:
    text = "one two three"
    server.enqueue(Reply(text=text, chunk_chars=5, stream_time=timedelta(seconds=0.3)))

    arrivals = await openai_chunks(openai_client, stream_options={"include_usage": True})

    chunks = [chunk for _, chunk in arrivals]
    # role, "one t", "wo th", "ree", finish, usage
    assert len(chunks) == 6
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    deltas = [at for at, c in arrivals if c.choices and c.choices[0].delta.content]
    assert len(deltas) == 3
    # Each delta waits stream_time / 3 before it goes out.
    assert deltas[0] >= 0.09
    assert all(later - earlier >= 0.08 for earlier, later in itertools.pairwise(deltas))
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4
    assert len({chunk.id for chunk in chunks}) == 1
    request = await server.wait_ended(0)
    assert request.stream is True
    assert request.events_sent == 7  # and `data: [DONE]`


async def test_openai_stream_without_include_usage_has_no_usage_chunk(
    server: ModelServer, openai_client: openai.AsyncOpenAI
) -> None:
    server.enqueue(Reply(text="abcdefgh"))

    chunks = [chunk for _, chunk in await openai_chunks(openai_client)]

    assert [chunk.usage for chunk in chunks] == [None] * 4  # role, 2 deltas, finish
    assert chunks[-1].choices[0].finish_reason == "stop"


async def test_openai_stream_splits_tool_call_arguments_over_chunks(
    server: ModelServer, openai_client: openai.AsyncOpenAI
) -> None:
    arguments = {"key": "capital-of-france"}
    server.enqueue(
        Reply(text="Let me look.", tool_calls=[ToolCall(name="lookup", arguments=arguments)])
    )

    chunks = [chunk for _, chunk in await openai_chunks(openai_client)]

    calls = [
        call
        for chunk in chunks
        if chunk.choices
        for call in chunk.choices[0].delta.tool_calls or []
    ]
    opening, *rest = calls
    assert opening.index == 0
    assert opening.id is not None
    assert opening.id.startswith("call_")
    assert opening.function is not None
    assert opening.function.name == "lookup"
    assert opening.function.arguments == ""
    assert len(rest) >= 3
    assert all(call.index == 0 and call.id is None for call in rest)
    pieces = "".join(call.function.arguments or "" for call in rest if call.function)
    assert json.loads(pieces) == arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


async def test_headers_are_withheld_for_the_time_to_first_byte(
    server: ModelServer, openai_client: openai.AsyncOpenAI
) -> None:
    server.enqueue(Reply(text="thought hard", time_to_first_byte=timedelta(seconds=0.3)))

    started = time.monotonic()
    stream = await openai_client.chat.completions.create(
        model=GPT, messages=OPENAI_MESSAGES, stream=True
    )
    headers_after = time.monotonic() - started
    async for _ in stream:
        pass

    assert headers_after >= 0.29
    request = await server.wait_ended(0)
    assert request.headers_sent_at is not None
    assert request.headers_sent_at - request.received_at >= 0.29


async def test_silence_before_headers_trips_a_read_timeout(server: ModelServer) -> None:
    server.enqueue(Reply(text="too slow", time_to_first_byte=timedelta(seconds=2)))
    async with openai.AsyncOpenAI(
        base_url=server.openai_base_url,
        api_key=KEY,
        max_retries=0,
        timeout=httpx2.Timeout(5.0, read=0.3),
    ) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model=GPT, messages=OPENAI_MESSAGES)

    assert await (await server.wait_for_request(0)).wait_ended() is Outcome.CLIENT_DISCONNECTED


async def test_headers_at_once_then_silence_trips_a_read_timeout_mid_stream(
    server: ModelServer,
) -> None:
    """`time_to_first_token`: the call returns (headers are out), then no byte comes."""
    quiet = Reply(text="eventually", time_to_first_token=timedelta(seconds=2))
    server.enqueue(quiet, quiet)
    timeout = httpx2.Timeout(5.0, read=0.5)
    async with openai.AsyncOpenAI(
        base_url=server.openai_base_url, api_key=KEY, max_retries=0, timeout=timeout
    ) as client:
        stream = await client.chat.completions.create(
            model=GPT, messages=OPENAI_MESSAGES, stream=True
        )
        with pytest.raises(openai.APITimeoutError) as raised:
            async for _ in stream:
                pass
    assert isinstance(raised.value.__cause__, httpx2.ReadTimeout)

    async with anthropic.AsyncAnthropic(
        base_url=server.anthropic_base_url, api_key=KEY, max_retries=0, timeout=timeout
    ) as client:
        events = await client.messages.create(
            model=CLAUDE, max_tokens=1024, messages=ANTHROPIC_MESSAGES, stream=True
        )
        with pytest.raises(httpx2.ReadTimeout):  # raw: not wrapped once the stream started
            async for _ in events:
                pass

    for index in (0, 1):
        request = await server.wait_ended(index)
        assert request.status == 200
        assert request.events_sent == 0
        assert request.outcome is Outcome.CLIENT_DISCONNECTED


# The model server through the anthropic SDK -------------------------------------------------


async def test_anthropic_message_with_text_tool_use_and_usage(
    server: ModelServer, anthropic_client: anthropic.AsyncAnthropic
) -> None:
    server.enqueue(
        Reply(
            text="Let me look.",
            tool_calls=[ToolCall(name="lookup", arguments={"key": "capital-of-france"})],
            usage=Usage(input_tokens=321, output_tokens=12),
        )
    )

    message = await anthropic_client.messages.create(
        model=CLAUDE, max_tokens=1024, messages=ANTHROPIC_MESSAGES
    )

    assert message.id.startswith("msg_01")
    assert message.model == CLAUDE
    assert message.stop_reason == "tool_use"
    text, tool_use = message.content
    assert text.type == "text"
    assert text.text == "Let me look."
    assert tool_use.type == "tool_use"
    assert tool_use.id.startswith("toolu_01")
    assert (tool_use.name, tool_use.input) == ("lookup", {"key": "capital-of-france"})
    assert (message.usage.input_tokens, message.usage.output_tokens) == (321, 12)
    request = await server.wait_ended(0)
    assert request.path == "/v1/messages"
    assert request.api_key == KEY
    assert request.authorization == f"Bearer {KEY}"  # anthropic 2.x: not `x-api-key`
    assert "anthropic-version" in request.headers
    assert request.messages == ANTHROPIC_MESSAGES


async def test_anthropic_stream_has_the_real_event_sequence(
    server: ModelServer, anthropic_client: anthropic.AsyncAnthropic
) -> None:
    arguments = {"key": "capital-of-france"}
    server.enqueue(
        Reply(
            text="Looking up.",
            tool_calls=[ToolCall(name="lookup", arguments=arguments)],
            stream_time=timedelta(seconds=0.2),
        )
    )

    events = await anthropic_events(anthropic_client)

    kinds = [event.type for event in events]
    json_deltas = [
        e.delta.partial_json
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    text_deltas = [
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    ]
    assert kinds[:2] == ["message_start", "content_block_start"]  # the SDK drops `ping`
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 2
    assert "".join(text_deltas) == "Looking up."
    assert json_deltas[0] == ""  # as the real API opens a tool_use block
    assert len(json_deltas) >= 3
    assert json.loads("".join(json_deltas)) == arguments
    start, delta = events[0], events[-2]
    assert start.message.usage.input_tokens > 0
    assert delta.delta.stop_reason == "tool_use"
    assert delta.usage.output_tokens > 0


async def test_anthropic_stream_helper_assembles_the_final_message(
    server: ModelServer, anthropic_client: anthropic.AsyncAnthropic
) -> None:
    server.enqueue(Reply(text=SENTENCE))

    async with anthropic_client.messages.stream(
        model=CLAUDE, max_tokens=1024, messages=ANTHROPIC_MESSAGES
    ) as stream:
        text = "".join([piece async for piece in stream.text_stream])
        message = await stream.get_final_message()

    assert text == SENTENCE
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == len(SENTENCE) // 4 + 1


# Scripting, listing, keys -------------------------------------------------------------------


async def test_replies_are_consumed_in_order_then_the_default(
    server: ModelServer, openai_client: openai.AsyncOpenAI
) -> None:
    server.default_reply = Reply(text="default")
    server.enqueue(Reply(text="first"), Reply(text="second", model="gpt-4o-2024-08-06"))

    answers = [
        await openai_client.chat.completions.create(model=GPT, messages=OPENAI_MESSAGES)
        for _ in range(3)
    ]

    assert [a.choices[0].message.content for a in answers] == ["first", "second", "default"]
    assert answers[1].model == "gpt-4o-2024-08-06"
    assert server.pending == 0


async def test_models_are_listed_in_each_providers_shape(
    server: ModelServer,
    openai_client: openai.AsyncOpenAI,
    anthropic_client: anthropic.AsyncAnthropic,
) -> None:
    openai_models = [model.id async for model in openai_client.models.list()]
    anthropic_models = [model.id async for model in anthropic_client.models.list()]

    assert openai_models == anthropic_models == [GPT, CLAUDE]
    assert server.pending == 0


async def test_a_wrong_api_key_is_a_401_in_the_providers_shape(server: ModelServer) -> None:
    server.api_key = "the-right-key"
    server.enqueue(Reply(text="for the right key"))
    async with openai.AsyncOpenAI(
        base_url=server.openai_base_url, api_key="wrong", max_retries=0
    ) as client:
        with pytest.raises(openai.AuthenticationError) as openai_error:
            await client.chat.completions.create(model=GPT, messages=OPENAI_MESSAGES)
    async with anthropic.AsyncAnthropic(
        base_url=server.anthropic_base_url, api_key="wrong", max_retries=0
    ) as client:
        with pytest.raises(anthropic.AuthenticationError) as anthropic_error:
            await client.messages.create(model=CLAUDE, max_tokens=64, messages=ANTHROPIC_MESSAGES)
    async with openai.AsyncOpenAI(
        base_url=server.openai_base_url, api_key="the-right-key", max_retries=0
    ) as client:
        completion = await client.chat.completions.create(model=GPT, messages=OPENAI_MESSAGES)

    assert openai_error.value.status_code == 401
    assert openai_error.value.code == "invalid_api_key"
    assert openai_error.value.type == "invalid_request_error"
    assert anthropic_error.value.status_code == 401
    assert anthropic_error.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        "request_id": anthropic_error.value.response.headers["request-id"],
    }
    assert completion.choices[0].message.content == "for the right key"  # 401s consume no reply
    assert [request.status for request in server.requests] == [401, 401, 200]


# Errors and broken responses through the SDKs -----------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_429_with_retry_after_is_a_rate_limit_error_carrying_the_header(
    server: ModelServer,
    openai_client: openai.AsyncOpenAI,
    anthropic_client: anthropic.AsyncAnthropic,
    stream: bool,
) -> None:
    limited = Reply(text="never", fault=HttpError(status=429, retry_after=timedelta(seconds=7)))
    server.enqueue(limited, limited)

    with pytest.raises(openai.RateLimitError) as openai_error:
        await openai_client.chat.completions.create(
            model=GPT, messages=OPENAI_MESSAGES, stream=stream
        )
    with pytest.raises(anthropic.RateLimitError) as anthropic_error:
        await anthropic_client.messages.create(
            model=CLAUDE, max_tokens=64, messages=ANTHROPIC_MESSAGES, stream=stream
        )

    assert openai_error.value.status_code == 429
    assert openai_error.value.response.headers["retry-after"] == "7"
    assert openai_error.value.code == "rate_limit_exceeded"
    assert isinstance(openai_error.value.body, dict)
    assert set(openai_error.value.body) == {"message", "type", "param", "code"}
    assert anthropic_error.value.status_code == 429
    assert anthropic_error.value.response.headers["retry-after"] == "7"
    assert isinstance(anthropic_error.value.body, dict)
    assert anthropic_error.value.body["error"]["type"] == "rate_limit_error"


async def test_500_is_an_internal_server_error(
    server: ModelServer,
    openai_client: openai.AsyncOpenAI,
    anthropic_client: anthropic.AsyncAnthropic,
) -> None:
    broken = Reply(fault=HttpError(status=500, message="boom"))
    server.enqueue(broken, broken)

    with pytest.raises(openai.InternalServerError) as openai_error:
        await openai_client.chat.completions.create(model=GPT, messages=OPENAI_MESSAGES)
    with pytest.raises(anthropic.InternalServerError) as anthropic_error:
        await anthropic_client.messages.create(
            model=CLAUDE, max_tokens=64, messages=ANTHROPIC_MESSAGES
        )

    assert openai_error.value.status_code == anthropic_error.value.status_code == 500
    assert openai_error.value.type == "server_error"
    assert openai_error.value.body == {
        "message": "boom",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    assert isinstance(anthropic_error.value.body, dict)
    assert anthropic_error.value.body["error"] == {"type": "api_error", "message": "boom"}


async def test_a_garbage_200_body_is_returned_as_text_or_parsed_into_nothing(
    server: ModelServer,
    openai_client: openai.AsyncOpenAI,
    anthropic_client: anthropic.AsyncAnthropic,
) -> None:
    html = Reply(fault=GarbageBody())
    json_garbage = Reply(fault=GarbageBody(body="upstream hiccup", content_type="application/json"))
    server.enqueue(html, html, html, html, json_garbage, json_garbage)

    openai_whole: object = await openai_client.chat.completions.create(
        model=GPT, messages=OPENAI_MESSAGES
    )
    anthropic_whole: object = await anthropic_client.messages.create(
        model=CLAUDE, max_tokens=64, messages=ANTHROPIC_MESSAGES
    )
    openai_stream = await openai_chunks(openai_client)
    anthropic_stream = await anthropic_events(anthropic_client)
    with pytest.raises(json.JSONDecodeError):
        await openai_client.chat.completions.create(model=GPT, messages=OPENAI_MESSAGES)
    with pytest.raises(json.JSONDecodeError):
        await anthropic_client.messages.create(
            model=CLAUDE, max_tokens=64, messages=ANTHROPIC_MESSAGES
        )
    server.enqueue(html)
    with pytest.raises(AssertionError):  # the helper asserts it saw a message_start
        await anthropic_final_message(anthropic_client)

    assert openai_whole == anthropic_whole == GarbageBody().body  # typed as a model, it is a str
    assert openai_stream == anthropic_stream == []


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_a_dropped_connection_is_a_connection_error_or_a_raw_httpx2_error(
    server: ModelServer,
    openai_client: openai.AsyncOpenAI,
    anthropic_client: anthropic.AsyncAnthropic,
    stream: bool,
) -> None:
    cut = Reply(text=SENTENCE, fault=CutStream(after_events=3))
    server.enqueue(cut, cut)

    with pytest.raises(openai.APIConnectionError) as openai_error:
        await openai_call(openai_client, stream=stream)
    with pytest.raises(
        (httpx2.RemoteProtocolError, anthropic.APIConnectionError)
    ) as anthropic_error:
        await anthropic_call(anthropic_client, stream=stream)
    anthropic_raised = anthropic_error.value

    assert isinstance(openai_error.value.__cause__, httpx2.RemoteProtocolError)
    if stream:
        assert isinstance(anthropic_raised, httpx2.RemoteProtocolError)
        assert not isinstance(anthropic_raised, anthropic.APIError)
    else:
        assert isinstance(anthropic_raised, anthropic.APIConnectionError)
        assert isinstance(anthropic_raised.__cause__, httpx2.RemoteProtocolError)
    for index in (0, 1):
        request = await server.wait_ended(index)
        assert request.outcome is Outcome.CUT
        assert request.events_sent == (3 if stream else 1)


async def test_a_stream_ended_early_but_cleanly_ends_iteration_without_error(
    server: ModelServer,
    openai_client: openai.AsyncOpenAI,
    anthropic_client: anthropic.AsyncAnthropic,
) -> None:
    early = Reply(text=SENTENCE, chunk_chars=8, fault=CutStream(after_events=3, graceful=True))
    server.enqueue(early, early, early)

    chunks = [chunk for _, chunk in await openai_chunks(openai_client)]
    events = await anthropic_events(anthropic_client)
    async with anthropic_client.messages.stream(
        model=CLAUDE, max_tokens=1024, messages=ANTHROPIC_MESSAGES
    ) as helper:
        async for _ in helper:
            pass
        final = await helper.get_final_message()

    assert len(chunks) == 3
    assert all(chunk.choices[0].finish_reason is None for chunk in chunks)
    assert [event.type for event in events] == ["message_start", "content_block_start"]
    assert final.stop_reason is None
    assert [request.outcome for request in server.requests] == [Outcome.CUT] * 3


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_a_malformed_line_is_a_raw_json_decode_error(
    server: ModelServer,
    openai_client: openai.AsyncOpenAI,
    anthropic_client: anthropic.AsyncAnthropic,
    stream: bool,
) -> None:
    malformed = Reply(text=SENTENCE, fault=MalformedStream(after_events=2))
    server.enqueue(malformed, malformed)

    with pytest.raises(json.JSONDecodeError):
        await openai_call(openai_client, stream=stream)
    with pytest.raises(json.JSONDecodeError):
        await anthropic_call(anthropic_client, stream=stream)


async def test_an_in_stream_error_event(
    server: ModelServer,
    openai_client: openai.AsyncOpenAI,
    anthropic_client: anthropic.AsyncAnthropic,
) -> None:
    overloaded = Reply(text=SENTENCE, fault=StreamError(after_events=3))
    server.enqueue(overloaded, overloaded)

    with pytest.raises(openai.APIError) as openai_error:
        await openai_chunks(openai_client)
    with pytest.raises(anthropic.APIStatusError) as anthropic_error:
        await anthropic_events(anthropic_client)

    assert not isinstance(openai_error.value, openai.APIStatusError)
    assert openai_error.value.message == "Overloaded"
    assert anthropic_error.value.status_code == 200
    assert isinstance(anthropic_error.value.body, dict)
    assert anthropic_error.value.body["error"]["type"] == "overloaded_error"


async def test_a_huge_answer_streams_whole(
    server: ModelServer,
    openai_client: openai.AsyncOpenAI,
    anthropic_client: anthropic.AsyncAnthropic,
) -> None:
    text = filler_text(4 * 1024 * 1024)
    huge = Reply(text=text, chunk_chars=64 * 1024)
    server.enqueue(huge, huge)

    chunks = [chunk for _, chunk in await openai_chunks(openai_client)]
    async with anthropic_client.messages.stream(
        model=CLAUDE, max_tokens=1024, messages=ANTHROPIC_MESSAGES
    ) as stream:
        anthropic_text = "".join([piece async for piece in stream.text_stream])

    assert len(chunks) == 2 + 64
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text
    assert anthropic_text == text


# The client going away ----------------------------------------------------------------------


async def test_a_cancelled_call_is_recorded_as_a_disconnect_at_once(
    server: ModelServer,
    openai_client: openai.AsyncOpenAI,
    anthropic_client: anthropic.AsyncAnthropic,
) -> None:
    server.enqueue(
        Reply(text="a long think", time_to_first_byte=timedelta(seconds=60)),
        Reply(text=filler_text(4000), chunk_chars=10, stream_time=timedelta(seconds=60)),
    )
    waiting = asyncio.create_task(
        openai_client.chat.completions.create(model=GPT, messages=OPENAI_MESSAGES)
    )
    await server.wait_for_request(0)
    cancelled_at = time.monotonic()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    before_headers = await server.wait_ended(0)

    two_events = asyncio.Event()

    async def read_the_stream() -> None:
        async with anthropic_client.messages.stream(
            model=CLAUDE, max_tokens=1024, messages=ANTHROPIC_MESSAGES
        ) as stream:
            async for event in stream:
                if event.type == "content_block_delta":
                    two_events.set()

    reading = asyncio.create_task(read_the_stream())
    await two_events.wait()
    cancelled_mid_stream_at = time.monotonic()
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    mid_stream = await server.wait_ended(1)

    assert before_headers.outcome is Outcome.CLIENT_DISCONNECTED
    assert before_headers.status is None
    assert before_headers.ended_at is not None
    assert before_headers.ended_at - cancelled_at < 2
    assert mid_stream.outcome is Outcome.CLIENT_DISCONNECTED
    assert mid_stream.status == 200
    assert 4 <= mid_stream.events_sent < 100
    assert mid_stream.ended_at is not None
    assert mid_stream.ended_at - cancelled_mid_stream_at < 2


async def test_stopping_drops_what_is_in_flight_and_restarting_keeps_the_port() -> None:
    server = ModelServer(default_reply=Reply(text="back"))
    server.enqueue(Reply(text="never", time_to_first_byte=timedelta(seconds=60)))
    async with server:
        port = server.port
        client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key=KEY, max_retries=0)
        in_flight = asyncio.create_task(
            client.chat.completions.create(model=GPT, messages=OPENAI_MESSAGES)
        )
        await server.wait_for_request(0)
    # Headers not sent yet: uvicorn answers a bare 500 as it drops the request.
    with pytest.raises(openai.InternalServerError):
        await in_flight
    assert server.requests[0].outcome is Outcome.SERVER_STOPPED

    async with server:
        completion = await client.chat.completions.create(model=GPT, messages=OPENAI_MESSAGES)
    await client.close()

    assert server.port == port
    assert completion.choices[0].message.content == "back"


async def test_the_server_as_a_process_can_be_killed_and_restarted(tmp_path: Path) -> None:
    first = Script(replies=[Reply(text="before the crash")], api_key=KEY)
    async with model_server_process(tmp_path, script=first) as running:
        client = openai.AsyncOpenAI(base_url=f"{running.url}/v1", api_key=KEY, max_retries=0)
        before = await client.chat.completions.create(model=GPT, messages=OPENAI_MESSAGES)
        running.process.kill()
        await running.process.wait()
        with pytest.raises(openai.APIConnectionError):
            await client.chat.completions.create(model=GPT, messages=OPENAI_MESSAGES)
    second = Script(replies=[Reply(text="after the restart")], api_key=KEY)
    async with model_server_process(tmp_path, script=second, port=running.port) as restarted:
        after = await client.chat.completions.create(model=GPT, messages=OPENAI_MESSAGES)
    await client.close()
    recorded = restarted.recorded()  # complete now the process has exited

    assert before.choices[0].message.content == "before the crash"
    assert after.choices[0].message.content == "after the restart"
    # SIGKILL may come before the first process wrote its line: that is what a crash does.
    assert 1 <= len(recorded) <= 2
    assert recorded[-1]["outcome"] == "completed"
    assert recorded[-1]["headers"]["authorization"] == f"Bearer {KEY}"
    assert recorded[-1]["body"]["messages"] == OPENAI_MESSAGES


# The model server through Pydantic AI's models ----------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [False, True], ids=["request", "request_stream"])
async def test_pydantic_ai_tool_call_round_trip(
    server: ModelServer, provider: str, stream: bool
) -> None:
    server.enqueue(
        Reply(tool_calls=[ToolCall(name="lookup", arguments={"key": "capital-of-france"})]),
        Reply(text="It is Paris."),
    )
    model = openai_model(server) if provider == "openai" else anthropic_model(server)
    question = ModelRequest.user_text_prompt("What is the capital of France?")

    async with model:
        first = await pydantic_ai_request(model, [question], stream=stream, tools=[LOOKUP_TOOL])
        call = first.parts[0]
        assert isinstance(call, ToolCallPart)
        answer = ToolReturnPart(
            tool_name=call.tool_name, content="Paris", tool_call_id=call.tool_call_id
        )
        second = await pydantic_ai_request(
            model, [question, first, ModelRequest(parts=[answer])], stream=stream
        )

    assert call.tool_name == "lookup"
    assert call.args_as_dict() == {"key": "capital-of-france"}
    assert first.finish_reason == "tool_call"
    assert first.usage.output_tokens > 0
    assert second.parts == [TextPart(content="It is Paris.")]
    sent = server.requests[1].messages
    if provider == "openai":
        assert server.requests[0].tools[0]["function"]["name"] == "lookup"
        assert sent[-1] == {"role": "tool", "tool_call_id": call.tool_call_id, "content": "Paris"}
    else:
        assert server.requests[0].tools[0]["name"] == "lookup"
        assert sent[-1]["content"][0]["type"] == "tool_result"
        assert sent[-1]["content"][0]["tool_use_id"] == call.tool_call_id


async def test_pydantic_ai_anthropic_streams_a_request_unless_max_tokens_is_small(
    server: ModelServer,
) -> None:
    model = anthropic_model(server)
    question = [ModelRequest.user_text_prompt("Hi")]
    async with model:
        await pydantic_ai_request(model, question, stream=False)
        small = ModelSettings(max_retries=0, max_tokens=100)
        await pydantic_ai_request(model, question, stream=False, settings=small)

    assert [request.stream for request in server.requests] == [True, False]


async def test_pydantic_ai_anthropic_plain_request_with_a_garbage_body(
    server: ModelServer,
) -> None:
    server.enqueue(Reply(fault=GarbageBody()))
    small = ModelSettings(max_retries=0, max_tokens=100)

    async with anthropic_model(server) as model:
        with pytest.raises(ModelAPIError, match="Expected a JSON response, got: '<html>"):
            await pydantic_ai_request(
                model, [ModelRequest.user_text_prompt("Hi")], stream=False, settings=small
            )

    assert server.requests[0].stream is False


PYDANTIC_AI_FAILURES: list[tuple[str, Fault, type[Exception], str | None]] = [
    ("cut", CutStream(after_events=3), ModelConnectionError, None),
    (
        "malformed",
        MalformedStream(after_events=2),
        ModelAPIError,
        "Failed to decode response as JSON",
    ),
    ("garbage", GarbageBody(), UnexpectedModelBehavior, None),
    ("429", HttpError(status=429, retry_after=timedelta(seconds=7)), ModelRateLimitError, None),
    ("500", HttpError(status=500), ModelServerError, None),
    ("401", HttpError(status=401), ModelAuthenticationError, None),
]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [False, True], ids=["request", "request_stream"])
@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [case[1:] for case in PYDANTIC_AI_FAILURES],
    ids=[case[0] for case in PYDANTIC_AI_FAILURES],
)
async def test_pydantic_ai_maps_each_failure_to_its_error(
    server: ModelServer,
    provider: str,
    stream: bool,
    fault: Fault,
    error: type[Exception],
    message: str | None,
) -> None:
    server.enqueue(Reply(text=SENTENCE, fault=fault))
    model = openai_model(server) if provider == "openai" else anthropic_model(server)

    async with model:
        with pytest.raises(error, match=message) as raised:
            await pydantic_ai_request(model, [ModelRequest.user_text_prompt("Hi")], stream=stream)

    if isinstance(fault, HttpError):
        assert isinstance(raised.value, ModelHTTPError)
        assert raised.value.status_code == fault.status
        assert raised.value.in_stream is False
    if isinstance(fault, HttpError) and fault.retry_after is not None:
        assert isinstance(raised.value, ModelHTTPError)
        assert raised.value.retry_after == 7.0
        assert raised.value.headers is not None
        assert raised.value.headers["retry-after"] == "7"
    if isinstance(fault, HttpError) and fault.status == 429:
        assert isinstance(raised.value, ModelHTTPError)
        assert raised.value.provider_error_type in {"requests", "rate_limit_error"}
    if isinstance(fault, CutStream):
        assert isinstance(raised.value, ModelConnectionError)
        assert raised.value.phase == "read"
        assert raised.value.in_stream is False
    if isinstance(fault, GarbageBody):
        # AnthropicModel streams a `request()` too, with its default max_tokens.
        assert str(raised.value) == (
            "Invalid response from openai chat completions endpoint, expected JSON data"
            if provider == "openai" and not stream
            else "Streamed response ended without content or tool calls"
        )
    if isinstance(fault, MalformedStream):
        assert type(raised.value) is ModelAPIError
        assert isinstance(raised.value.__cause__, json.JSONDecodeError)


async def test_pydantic_ai_returns_a_cleanly_truncated_stream_as_an_answer(
    server: ModelServer,
) -> None:
    early = Reply(text=SENTENCE, chunk_chars=8, fault=CutStream(after_events=3, graceful=True))
    server.enqueue(early, early)
    question = [ModelRequest.user_text_prompt("Hi")]

    async with openai_model(server) as model:
        from_openai = await pydantic_ai_request(model, question, stream=True)
    async with anthropic_model(server) as model:
        from_anthropic = await pydantic_ai_request(model, question, stream=True)

    assert from_openai.parts == [TextPart(content=SENTENCE[:16])]
    assert from_openai.finish_reason == "stop"  # though no finish_reason was ever sent
    assert from_openai.usage.output_tokens == 0
    assert from_anthropic.parts == []  # message_start, ping, content_block_start
    assert from_anthropic.finish_reason is None


async def test_pydantic_ai_maps_an_in_stream_error_event(server: ModelServer) -> None:
    overloaded = Reply(text=SENTENCE, fault=StreamError(after_events=3))
    server.enqueue(overloaded, overloaded)
    question = [ModelRequest.user_text_prompt("Hi")]

    async with openai_model(server) as model:
        with pytest.raises(ModelServerError) as from_openai:
            await pydantic_ai_request(model, question, stream=True)
    async with anthropic_model(server) as model:
        with pytest.raises(ModelOverloadedError) as from_anthropic:
            await pydantic_ai_request(model, question, stream=True)

    assert isinstance(from_openai.value, ModelHTTPError)
    assert (from_openai.value.status_code, from_openai.value.in_stream) == (500, True)
    assert isinstance(from_anthropic.value, ModelHTTPError)
    assert (from_anthropic.value.status_code, from_anthropic.value.in_stream) == (529, True)


# The MCP server through Pydantic AI's MCPToolset --------------------------------------------


async def exercise_mcp_toolset(toolset: MCPToolset[None]) -> None:
    async with toolset:
        names = {tool.name for tool in await toolset.list_tools()}
        total = await toolset.direct_call_tool("add", {"a": 2, "b": 40})
        fact = await toolset.direct_call_tool("lookup", {"key": "capital-of-france"})
        echoed = await toolset.direct_call_tool("slow_echo", {"text": "hi", "seconds": 0.1})
        with pytest.raises(ModelRetry, match="unknown key 'nowhere'"):
            await toolset.direct_call_tool("lookup", {"key": "nowhere"})

    assert names == {"lookup", "add", "slow_echo", "fail"}
    assert (total, fact, echoed) == (42, "Paris", "hi")


async def test_mcp_tools_over_stdio() -> None:
    command = mcp_stdio_command()
    transport = StdioTransport(
        command=command.command, args=command.args, cwd=str(command.cwd), keep_alive=False
    )
    await exercise_mcp_toolset(MCPToolset(transport))


async def test_mcp_tools_over_streamable_http() -> None:
    async with mcp_http_server() as running:
        assert running.url.startswith("http://127.0.0.1:")
        await exercise_mcp_toolset(MCPToolset(running.url))
        failing = MCPToolset[None](running.url, tool_error_behavior="error")
        async with failing:
            with pytest.raises(ToolError, match="on purpose"):
                await failing.direct_call_tool("fail", {"message": "on purpose"})
    assert running.process.returncode is not None
