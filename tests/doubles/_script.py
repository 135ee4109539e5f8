"""What a test scripts the model server to answer: one `Reply` per model request.

Replies are provider-neutral: the same `Reply` is rendered as an OpenAI Chat Completion or an
Anthropic Message, whichever API the request came in on. They are frozen so one can be queued
many times. Each fault carries a `kind` literal: it is the discriminator a JSON script file (the
separate-process mode, `python -m tests.doubles.model_server --script FILE`) is parsed with; code
never needs to set it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field

__all__ = [
    "DEFAULT_REPLY",
    "CutStream",
    "Fault",
    "GarbageBody",
    "HttpError",
    "MalformedStream",
    "Reply",
    "StreamError",
    "ToolCall",
    "Usage",
    "count_tokens",
    "filler_text",
]


def count_tokens(text: str) -> int:
    """Roughly what a tokenizer counts for English text: one token per four characters."""
    return math.ceil(len(text) / 4)


def filler_text(chars: int) -> str:
    """Deterministic, word-like text of exactly `chars` characters, for huge answers.

    Words rather than one repeated letter, so a client that splits or searches the text works on
    something shaped like a model's answer.
    """
    words = ("alpha ", "bravo ", "charlie ", "delta ", "echo ", "foxtrot ", "golf ", "hotel\n")
    unit = "".join(words)
    return (unit * (chars // len(unit) + 1))[:chars]


@dataclass(frozen=True, kw_only=True)
class ToolCall:
    """A tool call the model makes; rendered as OpenAI `tool_calls` or an Anthropic `tool_use`."""

    name: str
    """The tool's name, as the client declared it in `tools`."""
    arguments: Mapping[str, Any] = field(default_factory=dict)
    """The call's arguments; sent as JSON text split over several stream chunks."""
    id: str | None = None
    """The call id; a realistic one (`call_…` / `toolu_01…`) is made up when None."""


@dataclass(frozen=True, kw_only=True)
class Usage:
    """Token counts to report instead of the ones counted from the texts."""

    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, kw_only=True)
class HttpError:
    """Answer with an error status and the provider's own JSON error body.

    OpenAI: `{"error": {"message", "type", "param", "code"}}`; Anthropic:
    `{"type": "error", "error": {"type", "message"}, "request_id"}`. The type (and OpenAI's code)
    default to what the provider sends for the status, so `HttpError(status=429)` is a real 429.
    """

    status: int
    message: str = ""
    """Empty: the provider's usual message for the status."""
    error_type: str | None = None
    """None: the provider's type for the status (`rate_limit_error`, `server_error`, …)."""
    code: str | None = None
    """OpenAI's `code` (`rate_limit_exceeded`, …); None: the usual one for the status."""
    retry_after: timedelta | None = None
    """Sent as a `Retry-After` header in whole seconds (rounded up), as both providers do."""
    kind: Literal["http_error"] = "http_error"


@dataclass(frozen=True, kw_only=True)
class GarbageBody:
    """Answer 200 with a body that is neither the JSON nor the SSE the client expects.

    What a misconfigured proxy or captive portal sends; `content_type` decides whether the SDK
    even tries to parse it (`application/json` makes it try and fail).
    """

    body: str = "<html><body><h1>502 Bad Gateway</h1></body></html>\n"
    content_type: str = "text/html; charset=utf-8"
    kind: Literal["garbage_body"] = "garbage_body"


@dataclass(frozen=True, kw_only=True)
class CutStream:
    """Stop after `after_events` SSE events, before the final chunk, `[DONE]` or `message_stop`.

    With `graceful=False` (the default) the TCP connection is dropped in the middle of the chunked
    body, as when a load balancer or the provider's process dies. With `graceful=True` the HTTP
    response ends properly but early, as a proxy that times out an idle stream does: no transport
    error, the events simply stop. A non-streaming request gets half its JSON body either way.
    An `after_events` at or past the stream's length cuts before its last event.
    """

    after_events: int
    graceful: bool = False
    kind: Literal["cut_stream"] = "cut_stream"


@dataclass(frozen=True, kw_only=True)
class MalformedStream:
    """Send `after_events` good SSE events, then one whose `data:` is not JSON, then the rest.

    `data` None: the next real event's JSON cut in half, under its real `event:` name (Anthropic's
    SDK skips events without a name, so a nameless bad line would go unnoticed). A non-streaming
    request gets its JSON body cut in half, with status 200 and `application/json`.
    """

    after_events: int
    data: str | None = None
    kind: Literal["malformed_stream"] = "malformed_stream"


@dataclass(frozen=True, kw_only=True)
class StreamError:
    """Send `after_events` good events, then the provider's in-stream error event, then end.

    Anthropic: `event: error` with `{"type": "error", "error": {...}}` (its overloaded 529 mid
    stream); OpenAI: a `data: {"error": {...}}` line. A non-streaming request gets `error` as an
    ordinary error response.
    """

    after_events: int
    error: HttpError = HttpError(status=529, message="Overloaded")
    kind: Literal["stream_error"] = "stream_error"


Fault = Annotated[
    HttpError | GarbageBody | CutStream | MalformedStream | StreamError,
    Field(discriminator="kind"),
]
"""Something to do instead of (or in the middle of) a good answer."""


@dataclass(frozen=True, kw_only=True)
class Reply:
    """One scripted answer: its content, its timing, and optionally a fault.

    Timing, for a streaming request: headers after `time_to_first_byte` (withheld, as a slow
    reasoning model does), then silence for `time_to_first_token` (headers out, no event yet),
    then the content deltas spread evenly over `stream_time` (each delta waits
    `stream_time / deltas` before it goes out; framing events go at once). A non-streaming
    request waits all three before its headers, as the real APIs do.
    """

    text: str = ""
    """The assistant's text; may be empty when the reply only calls tools."""
    tool_calls: Sequence[ToolCall] = ()
    """Tool calls made after the text (finish reason `tool_calls` / stop reason `tool_use`)."""
    usage: Usage | None = None
    """None: input counted from the request's messages, output from text and arguments."""
    model: str | None = None
    """The model name answered with; None echoes the request's."""
    time_to_first_byte: timedelta = timedelta(0)
    time_to_first_token: timedelta = timedelta(0)
    stream_time: timedelta = timedelta(0)
    chunk_chars: int = 4
    """Characters per text or argument delta: about one token, as the real APIs stream."""
    fault: Fault | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tool_calls", tuple(self.tool_calls))
        if self.chunk_chars < 1:
            raise ValueError(f"Reply.chunk_chars: must be at least 1, got {self.chunk_chars}")
        for name in ("time_to_first_byte", "time_to_first_token", "stream_time"):
            if getattr(self, name) < timedelta(0):
                raise ValueError(f"Reply.{name}: must not be negative")


DEFAULT_REPLY = Reply(text="ok")
"""What the server answers when no reply is queued."""


@dataclass(frozen=True, kw_only=True)
class Script:
    """The JSON script file of the separate-process mode: replies in order, a default, a key."""

    replies: Sequence[Reply] = ()
    default: Reply = DEFAULT_REPLY
    api_key: str | None = None
