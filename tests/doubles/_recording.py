"""What the model server saw and did, per request, with awaitable milestones.

Times are `time.monotonic()` seconds, the clock asyncio's loop uses, so a test can compare them
with `asyncio.get_running_loop().time()` or `time.monotonic()` taken around its own actions.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, TypeVar

from tests.doubles._script import Reply

__all__ = ["Api", "Outcome", "RecordedRequest", "Recorder"]

_T = TypeVar("_T")


class Api(StrEnum):
    """The provider API a request came in on."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"


class Outcome(StrEnum):
    """How the server's side of a request ended."""

    COMPLETED = "completed"
    """The whole response went out (an error or in-stream error response included)."""
    CLIENT_DISCONNECTED = "client_disconnected"
    """The client closed the connection before the response was complete."""
    CUT = "cut"
    """The script cut the response short (`CutStream`)."""
    SERVER_STOPPED = "server_stopped"
    """The server was stopped while the response was in flight."""


class RecordedRequest:
    """One request as the server received it, and how its response went.

    The response fields (`status`, `headers_sent_at`, `events_sent`, `outcome`, `ended_at`) fill in
    as the response proceeds; `wait_ended()` waits until `outcome` is set.
    """

    def __init__(
        self,
        *,
        index: int,
        method: str,
        path: str,
        headers: Mapping[str, str],
        raw_body: bytes,
        body: Any,
        api: Api | None,
    ) -> None:
        self.index = index
        self.received_at = time.monotonic()
        self.method = method
        self.path = path
        self.headers: Mapping[str, str] = headers
        """Header names lower-cased; repeated headers joined with `, `."""
        self.raw_body = raw_body
        self.body: Any = body
        """The parsed JSON body, or None when it was not JSON."""
        self.api = api
        self.reply: Reply | None = None
        """The scripted reply this request consumed (None for auth failures and listings)."""
        self.status: int | None = None
        self.headers_sent_at: float | None = None
        self.events_sent = 0
        """Body pieces sent: SSE events for a stream, 1 for a whole JSON body."""
        self.outcome: Outcome | None = None
        self.ended_at: float | None = None
        self._ended = asyncio.Event()

    @property
    def model(self) -> str | None:
        return self._field("model", str)

    @property
    def stream(self) -> bool:
        return self._field("stream", bool) is True

    @property
    def messages(self) -> Sequence[Any]:
        return self._field("messages", list) or []

    @property
    def tools(self) -> Sequence[Any]:
        return self._field("tools", list) or []

    @property
    def authorization(self) -> str | None:
        """The `Authorization` header (OpenAI's `Bearer <key>`)."""
        return self.headers.get("authorization")

    @property
    def api_key(self) -> str | None:
        """The key the client sent: Anthropic's `x-api-key`, else the bearer token."""
        if (key := self.headers.get("x-api-key")) is not None:
            return key
        scheme, _, token = (self.authorization or "").partition(" ")
        return token if scheme.lower() == "bearer" and token else None

    def _field(self, name: str, kind: type[_T]) -> _T | None:
        value = self.body.get(name) if isinstance(self.body, dict) else None
        return value if isinstance(value, kind) else None

    @property
    def ended(self) -> bool:
        return self.outcome is not None

    async def wait_ended(self) -> Outcome:
        """Wait until the response completed, was cut, or the client went away."""
        await self._ended.wait()
        assert self.outcome is not None
        return self.outcome

    def finish(self, outcome: Outcome) -> None:
        """Record how the response ended; the first outcome recorded stands."""
        if self.outcome is None:
            self.outcome = outcome
            self.ended_at = time.monotonic()
            self._ended.set()

    def __repr__(self) -> str:
        return (
            f"RecordedRequest(index={self.index}, {self.method} {self.path}, api={self.api}, "
            f"model={self.model!r}, stream={self.stream}, status={self.status}, "
            f"outcome={self.outcome})"
        )


class Recorder:
    """Every request in arrival order, with a condition to wait for the N-th to arrive."""

    def __init__(self) -> None:
        self._requests: list[RecordedRequest] = []
        self._arrived = asyncio.Condition()

    @property
    def requests(self) -> Sequence[RecordedRequest]:
        return tuple(self._requests)

    async def add(self, **fields: Any) -> RecordedRequest:
        async with self._arrived:
            request = RecordedRequest(index=len(self._requests), **fields)
            self._requests.append(request)
            self._arrived.notify_all()
        return request

    async def wait_for(self, index: int) -> RecordedRequest:
        """Wait until request `index` (0-based, counting every request) has arrived."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self._requests) > index)
        return self._requests[index]
