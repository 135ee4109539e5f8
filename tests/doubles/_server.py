"""The model server: OpenAI Chat Completions and Anthropic Messages on one local port."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from tests.doubles._anthropic_wire import AnthropicDialect
from tests.doubles._openai_wire import OpenAIDialect
from tests.doubles._playback import (
    Plan,
    Playback,
    ServerStopping,
    error_plan,
    json_plan,
    reply_plan,
)
from tests.doubles._recording import RecordedRequest, Recorder
from tests.doubles._script import DEFAULT_REPLY, Reply
from tests.doubles._serving import HOST, serving
from tests.doubles._wire import Dialect, Turn

__all__ = ["ModelServer"]

DEFAULT_MODELS = ("gpt-4o-mini", "claude-haiku-4-5")


class ModelServer:
    """An in-process HTTP server speaking the OpenAI and Anthropic model APIs, as scripted.

    Each model request (`POST /v1/chat/completions`, `/chat/completions`, `/v1/messages`,
    `/messages`) consumes the next queued `Reply`, or `default_reply` when the queue is empty.
    Every request is recorded, model listings and rejected ones included, in arrival order.
    Entering the server starts it on 127.0.0.1 and a port from the OS. Leaving it stops it,
    dropping what is still in flight (`Outcome.SERVER_STOPPED`: the connection is closed, after
    a bare 500 from uvicorn if the response's headers were not out yet). Entering it again
    starts it on the same port, queue and recordings kept, as a restarted provider endpoint.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        default_reply: Reply = DEFAULT_REPLY,
        models: Sequence[str] = DEFAULT_MODELS,
        port: int = 0,
        record_path: Path | None = None,
    ) -> None:
        """Configure the server; it starts listening when entered.

        Args:
            api_key: When set, requests must carry it (`Authorization: Bearer`, or Anthropic's
                `x-api-key`), or get the provider's 401; a rejected request consumes no reply.
            default_reply: Answered when the queue is empty.
            models: What `GET /v1/models` lists.
            port: 0 for a free port chosen by the OS; a fixed one to come back on after a restart.
            record_path: Append one JSON line per request when its response ends (for the
                separate-process mode, where `requests` cannot be read).
        """
        self.api_key = api_key
        self.default_reply = default_reply
        self._models = list(models)
        self._wanted_port = port
        self._record_path = record_path
        self._queue: collections.deque[Reply] = collections.deque()
        self._recorder = Recorder()
        self._openai = OpenAIDialect()
        self._anthropic = AnthropicDialect()
        self._stopping = asyncio.Event()
        self._port: int | None = None
        self._exit_stack: contextlib.AsyncExitStack | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/chat/completions", self._chat_completions, methods=["POST"]),
                Route("/v1/messages", self._messages, methods=["POST"]),
                Route("/messages", self._messages, methods=["POST"]),
                Route("/v1/models", self._list_models, methods=["GET"]),
                Route("/models", self._list_models, methods=["GET"]),
            ]
        )

    # Scripting -----------------------------------------------------------------------------

    def enqueue(self, *replies: Reply) -> None:
        """Queue replies; model requests consume them first in, first out."""
        self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """Replies queued and not yet consumed."""
        return len(self._queue)

    # Addresses -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("ModelServer: not started; use `async with ModelServer() as server`")
        return self._port

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, the Anthropic SDK's `base_url`."""
        return f"http://{HOST}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """`http://127.0.0.1:PORT/v1`, the OpenAI SDK's `base_url`."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.url

    # Recording -----------------------------------------------------------------------------

    @property
    def requests(self) -> Sequence[RecordedRequest]:
        """Every request so far, in arrival order."""
        return self._recorder.requests

    async def wait_for_request(self, index: int) -> RecordedRequest:
        """Wait until request `index` (0-based, counting every request) has arrived.

        Unbounded, as asyncio waits are: bound it with `asyncio.timeout()` where the test's own
        timeout is too coarse.
        """
        return await self._recorder.wait_for(index)

    async def wait_ended(self, index: int) -> RecordedRequest:
        """Wait until request `index` arrived and its response ended (see `Outcome`)."""
        request = await self._recorder.wait_for(index)
        await request.wait_ended()
        return request

    # Lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._exit_stack is not None:
            raise RuntimeError("ModelServer: already started")
        self._stopping.clear()
        async with contextlib.AsyncExitStack() as stack:
            self._port = await stack.enter_async_context(serving(self.app, port=self._wanted_port))
            self._wanted_port = self._port  # started again, it comes back on the same port
            self._exit_stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stack, self._exit_stack = self._exit_stack, None
        self._stopping.set()  # responses in a scripted wait are dropped at once
        if stack is not None:
            await stack.aclose()

    async def _pause(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
                raise ServerStopping("the model server is stopping")

    # Handlers ------------------------------------------------------------------------------

    async def _chat_completions(self, request: Request) -> Playback:
        return await self._model_call(request, self._openai)

    async def _messages(self, request: Request) -> Playback:
        return await self._model_call(request, self._anthropic)

    async def _model_call(self, request: Request, dialect: Dialect) -> Playback:
        record, body = await self._record(request, dialect)
        request_id = dialect.request_id()
        plan = self._rejection(record, dialect, request_id)
        if plan is None:
            reply = self._queue.popleft() if self._queue else self.default_reply
            record.reply = reply
            turn = Turn(
                reply=reply, body=body, model=reply.model or body["model"], created=int(time.time())
            )
            plan = reply_plan(
                dialect, turn, stream=body.get("stream") is True, request_id=request_id
            )
        return self._playback(plan, record)

    async def _list_models(self, request: Request) -> Playback:
        is_anthropic = "anthropic-version" in request.headers
        dialect: Dialect = self._anthropic if is_anthropic else self._openai
        record, _ = await self._record(request, dialect)
        request_id = dialect.request_id()
        plan = self._rejection(record, dialect, request_id, check_body=False) or json_plan(
            dialect.models_body(self._models),
            request_id_header=dialect.request_id_header,
            request_id=request_id,
        )
        return self._playback(plan, record)

    async def _record(self, request: Request, dialect: Dialect) -> tuple[RecordedRequest, Any]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        record = await self._recorder.add(
            method=request.method,
            path=request.url.path,
            headers=headers,
            raw_body=raw,
            body=body,
            api=dialect.api,
        )
        return record, body

    def _rejection(
        self, record: RecordedRequest, dialect: Dialect, request_id: str, *, check_body: bool = True
    ) -> Plan | None:
        if self.api_key is not None and dialect.sent_key(record.headers) != self.api_key:
            return error_plan(dialect, dialect.unauthorized(), request_id=request_id)
        if check_body and (error := dialect.check_request(record.body, record.headers)) is not None:
            return error_plan(dialect, error, request_id=request_id)
        return None

    def _playback(self, plan: Plan, record: RecordedRequest) -> Playback:
        on_end = self._write_record if self._record_path is not None else None
        return Playback(plan, record, pause=self._pause, on_end=on_end)

    def _write_record(self, record: RecordedRequest) -> None:
        assert self._record_path is not None
        line = {
            "index": record.index,
            "received_at": record.received_at,
            "ended_at": record.ended_at,
            "method": record.method,
            "path": record.path,
            "api": record.api,
            "headers": dict(record.headers),
            "body": record.body,
            "status": record.status,
            "events_sent": record.events_sent,
            "outcome": record.outcome,
        }
        with self._record_path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(line) + "\n")
