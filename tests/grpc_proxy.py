"""A pass-through gRPC proxy that can refuse or delay chosen methods, put in front of one
service's Temporal connection to give it an outage or a slow spell of one kind of call (for
example every completion by id) while everything else it does keeps working.

Messages are forwarded as raw bytes, so it knows no service's protos; Temporal's RPCs are
all unary. Refused calls get UNAVAILABLE, as from a server that is overloaded or going
away, the status a Temporal client treats as retryable.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from devstack import free_port

# Temporal histories and polls can be large; the proxy must not be the smaller limit.
_MAX_MESSAGE = 256 * 1024 * 1024
_OPTIONS = [
    ("grpc.max_send_message_length", _MAX_MESSAGE),
    ("grpc.max_receive_message_length", _MAX_MESSAGE),
]
# Pseudo-headers and those the channel sets itself.
_HOP_HEADERS = frozenset({"user-agent", "te", "content-type", "grpc-accept-encoding"})


class GrpcProxy:
    """Listens on loopback and forwards every unary call to ``upstream``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        # Method names (the last part of the path, e.g. "RespondActivityTaskCompletedById")
        # answered with UNAVAILABLE instead of forwarded.
        self.refused: set[str] = set()
        self.refusals: dict[str, int] = {}
        # Method names held this many seconds before they are forwarded: a slow server.
        self.delays: dict[str, float] = {}
        self._server: grpc.aio.Server | None = None
        self._channel: grpc.aio.Channel | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._channel = grpc.aio.insecure_channel(self.upstream, options=_OPTIONS)
        self._server = grpc.aio.server(options=_OPTIONS)
        self._server.add_generic_rpc_handlers((_Forward(self),))
        self._server.add_insecure_port(self.address)
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
        if self._channel is not None:
            await self._channel.close()

    async def __aenter__(self) -> GrpcProxy:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def forward(
        self, method: str, request: bytes, context: grpc.aio.ServicerContext
    ) -> bytes:
        name = method.rsplit("/", 1)[-1]
        if name in self.refused:
            self.refusals[name] = self.refusals.get(name, 0) + 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{name} refused by the test proxy")
        if (delay := self.delays.get(name)) is not None:
            await asyncio.sleep(delay)
        assert self._channel is not None
        call = self._channel.unary_unary(method)
        metadata = [
            (key, value)
            for key, value in context.invocation_metadata() or ()
            if not key.startswith(":") and key not in _HOP_HEADERS
        ]
        try:
            response: bytes = await call(
                request, metadata=metadata, timeout=context.time_remaining()
            )
        except grpc.aio.AioRpcError as err:
            # Temporal puts its typed failure (NotFound, AlreadyStarted...) in the trailers.
            context.set_trailing_metadata(err.trailing_metadata() or ())
            await context.abort(err.code(), err.details() or "")
        return response


class _Forward(grpc.GenericRpcHandler):  # type: ignore[misc]
    def __init__(self, proxy: GrpcProxy) -> None:
        self._proxy = proxy

    def service(self, details: grpc.HandlerCallDetails) -> Any:
        method = details.method

        async def handle(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            return await self._proxy.forward(method, request, context)

        return grpc.unary_unary_rpc_method_handler(handle)
