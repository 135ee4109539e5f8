"""Turn a scripted reply into a timed response plan, and play it, watching for the client leaving.

A `Plan` is what goes on the wire and when: the status and headers (held back for the time to
first byte), then body pieces, each its own `send` so the client sees them arrive one by one.
`Playback` sends it while a second task waits on ASGI `receive()`, which uvicorn answers with
`http.disconnect` the moment the client closes its connection: that is how a cancelled client
call is recorded, to the millisecond, even while the server is in a long silence.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from email.utils import formatdate

from starlette.types import Receive, Scope, Send

from tests.doubles._recording import Outcome, RecordedRequest
from tests.doubles._script import (
    CutStream,
    GarbageBody,
    HttpError,
    MalformedStream,
    Reply,
    StreamError,
)
from tests.doubles._serving import ScriptedAbort
from tests.doubles._wire import Dialect, SseEvent, Turn, dumps

__all__ = [
    "Pause",
    "Piece",
    "Plan",
    "Playback",
    "ServerStopping",
    "error_plan",
    "json_plan",
    "reply_plan",
]

Pause = Callable[[float], Awaitable[None]]
"""Wait so many seconds; raises `ServerStopping` early if the server is being stopped."""


class ServerStopping(ScriptedAbort):
    """The server is stopping: drop the response in flight."""


@dataclass(frozen=True)
class Piece:
    data: bytes
    paced: bool = False


@dataclass(frozen=True, kw_only=True)
class Plan:
    status: int
    headers: list[tuple[str, str]]
    pieces: list[Piece]
    before_headers: float = 0.0
    after_headers: float = 0.0
    interval: float = 0.0
    """Wait before each paced piece."""
    cut_after: int | None = None
    """Stop before this piece: drop the connection, or end the body with `graceful_cut`."""
    graceful_cut: bool = False
    content_length: bool = False
    """Announce the body's length (JSON answers); streams are chunked."""


def _json_headers(request_id_header: str, request_id: str) -> list[tuple[str, str]]:
    return [("content-type", "application/json"), (request_id_header, request_id)]


def json_plan(
    body: object, *, request_id_header: str, request_id: str, status: int = 200, delay: float = 0.0
) -> Plan:
    return Plan(
        status=status,
        headers=_json_headers(request_id_header, request_id),
        pieces=[Piece(dumps(body).encode())],
        before_headers=delay,
        content_length=True,
    )


def error_plan(dialect: Dialect, error: HttpError, *, request_id: str, delay: float = 0.0) -> Plan:
    plan = json_plan(
        dialect.error_body(error, request_id),
        request_id_header=dialect.request_id_header,
        request_id=request_id,
        status=error.status,
        delay=delay,
    )
    if error.retry_after is None:
        return plan
    seconds = math.ceil(error.retry_after.total_seconds())
    return replace(plan, headers=[*plan.headers, ("retry-after", str(seconds))])


def reply_plan(dialect: Dialect, turn: Turn, *, stream: bool, request_id: str) -> Plan:
    """The plan for a reply: its content, timing and fault, in the dialect's wire format."""
    reply = turn.reply
    fault = reply.fault
    first_byte = reply.time_to_first_byte.total_seconds()
    if isinstance(fault, HttpError) or (isinstance(fault, StreamError) and not stream):
        error = fault if isinstance(fault, HttpError) else fault.error
        return error_plan(dialect, error, request_id=request_id, delay=first_byte)
    if isinstance(fault, GarbageBody):
        return Plan(
            status=200,
            headers=[("content-type", fault.content_type), (dialect.request_id_header, request_id)],
            pieces=[Piece(fault.body.encode())],
            before_headers=first_byte,
            content_length=True,
        )
    if stream:
        return _stream_plan(dialect, turn, request_id=request_id)
    return _whole_plan(dialect, turn, request_id=request_id)


def _whole_plan(dialect: Dialect, turn: Turn, *, request_id: str) -> Plan:
    reply = turn.reply
    delay = (
        reply.time_to_first_byte + reply.time_to_first_token + reply.stream_time
    ).total_seconds()
    plan = json_plan(
        dialect.response_body(turn),
        request_id_header=dialect.request_id_header,
        request_id=request_id,
        delay=delay,
    )
    body = plan.pieces[0].data
    half = len(body) // 2
    fault = reply.fault
    if isinstance(fault, MalformedStream):
        return replace(plan, pieces=[Piece(body[:half])])
    if isinstance(fault, CutStream):
        pieces = [Piece(body[:half]), Piece(body[half:])]
        # A graceful cut ends a chunked body early; an abrupt one falls short of its length.
        return replace(
            plan,
            pieces=pieces,
            cut_after=1,
            graceful_cut=fault.graceful,
            content_length=not fault.graceful,
        )
    return plan


def _stream_plan(dialect: Dialect, turn: Turn, *, request_id: str) -> Plan:
    reply: Reply = turn.reply
    events = dialect.stream_events(turn)
    fault = reply.fault
    cut_after: int | None = None
    graceful = False
    if isinstance(fault, CutStream):
        cut_after, graceful = min(fault.after_events, len(events) - 1), fault.graceful
    elif isinstance(fault, MalformedStream):
        at = min(fault.after_events, len(events) - 1)
        good = events[at]
        bad = SseEvent(data=fault.data or good.data[: len(good.data) // 2], event=good.event)
        events = [*events[:at], bad, *events[at + 1 :]]
    elif isinstance(fault, StreamError):
        events = [
            *events[: fault.after_events],
            dialect.stream_error_event(fault.error, request_id),
        ]
    paced = sum(1 for event in events if event.paced)
    return Plan(
        status=200,
        headers=[
            ("content-type", "text/event-stream; charset=utf-8"),
            ("cache-control", "no-cache"),
            (dialect.request_id_header, request_id),
        ],
        pieces=[Piece(event.encode(), event.paced) for event in events],
        before_headers=reply.time_to_first_byte.total_seconds(),
        after_headers=reply.time_to_first_token.total_seconds(),
        interval=reply.stream_time.total_seconds() / max(1, paced),
        cut_after=cut_after,
        graceful_cut=graceful,
    )


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class Playback:
    """The ASGI response that plays a `Plan` and records how it went on `record`."""

    def __init__(
        self,
        plan: Plan,
        record: RecordedRequest,
        *,
        pause: Pause,
        on_end: Callable[[RecordedRequest], None] | None = None,
    ) -> None:
        self._plan = plan
        self._record = record
        self._pause = pause
        self._on_end = on_end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        play = asyncio.create_task(self._play(send))
        watch = asyncio.create_task(_wait_for_disconnect(receive))
        try:
            await asyncio.wait({play, watch}, return_when=asyncio.FIRST_COMPLETED)
            # A completed response also ends `receive()`, so the play task is asked first.
            if play.done():
                play.result()
            else:
                self._record.finish(Outcome.CLIENT_DISCONNECTED)
        except ServerStopping:
            self._record.finish(Outcome.SERVER_STOPPED)
            raise
        finally:
            play.cancel()
            watch.cancel()
            await asyncio.wait({play, watch})
            if not self._record.ended:  # cancelled from outside: uvicorn gave up waiting
                self._record.finish(Outcome.SERVER_STOPPED)
            if self._on_end is not None:
                self._on_end(self._record)

    async def _play(self, send: Send) -> None:
        plan, record = self._plan, self._record
        await self._pause(plan.before_headers)
        headers = [*plan.headers, ("date", formatdate(usegmt=True))]
        if plan.content_length:
            headers.append(("content-length", str(sum(len(piece.data) for piece in plan.pieces))))
        await send(
            {
                "type": "http.response.start",
                "status": plan.status,
                "headers": [(name.encode(), value.encode()) for name, value in headers],
            }
        )
        record.status = plan.status
        record.headers_sent_at = time.monotonic()
        await self._pause(plan.after_headers)
        for index, piece in enumerate(plan.pieces):
            if index == plan.cut_after:
                record.finish(Outcome.CUT)
                if not plan.graceful_cut:
                    raise ScriptedAbort(f"request {record.index}: cut after {index} pieces")
                break
            if piece.paced:
                await self._pause(plan.interval)
            await send({"type": "http.response.body", "body": piece.data, "more_body": True})
            record.events_sent += 1
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        record.finish(Outcome.COMPLETED)
