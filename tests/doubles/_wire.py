"""What the two provider dialects share: SSE events, one request's facts, the dialect protocol."""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tests.doubles._recording import Api
from tests.doubles._script import HttpError, Reply, count_tokens

__all__ = ["Dialect", "SseEvent", "Turn", "dumps", "random_id", "split"]

_ALPHANUMERIC = string.ascii_letters + string.digits


def random_id(prefix: str, length: int) -> str:
    """An id shaped like the provider's (`chatcmpl-…`, `call_…`, `msg_01…`, `toolu_01…`)."""
    return prefix + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def dumps(value: Any) -> str:
    """Compact JSON, as both providers put it on the wire."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def split(text: str, size: int) -> list[str]:
    """`text` in pieces of `size` characters (none for an empty text)."""
    return [text[start : start + size] for start in range(0, len(text), size)]


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event; `paced` ones (content deltas) share the reply's `stream_time`."""

    data: str
    event: str | None = None
    paced: bool = False

    def encode(self) -> bytes:
        head = f"event: {self.event}\n" if self.event is not None else ""
        return f"{head}data: {self.data}\n\n".encode()


@dataclass(frozen=True, kw_only=True)
class Turn:
    """The facts of one request that a dialect renders a reply from."""

    reply: Reply
    body: Mapping[str, Any]
    model: str
    created: int
    """Unix seconds, OpenAI's `created`."""

    @property
    def input_tokens(self) -> int:
        if self.reply.usage is not None:
            return self.reply.usage.input_tokens
        counted = {key: self.body.get(key) for key in ("system", "messages", "tools")}
        return max(1, count_tokens(dumps(counted)))

    @property
    def output_tokens(self) -> int:
        if self.reply.usage is not None:
            return self.reply.usage.output_tokens
        arguments = "".join(dumps(call.arguments) for call in self.reply.tool_calls)
        return max(1, count_tokens(self.reply.text + arguments))


class Dialect(Protocol):
    """One provider's wire format: request checks, bodies, stream events and error shapes."""

    api: Api
    request_id_header: str

    def request_id(self) -> str: ...

    def check_request(self, body: Any, headers: Mapping[str, str]) -> HttpError | None:
        """The 400 the real API answers a request it rejects with, or None."""
        ...

    def sent_key(self, headers: Mapping[str, str]) -> str | None: ...

    def unauthorized(self) -> HttpError: ...

    def error_body(self, error: HttpError, request_id: str) -> dict[str, Any]: ...

    def response_body(self, turn: Turn) -> dict[str, Any]: ...

    def stream_events(self, turn: Turn) -> list[SseEvent]: ...

    def stream_error_event(self, error: HttpError, request_id: str) -> SseEvent: ...

    def models_body(self, models: list[str]) -> dict[str, Any]: ...
