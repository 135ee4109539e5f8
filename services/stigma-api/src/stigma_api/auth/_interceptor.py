"""The server interceptor that authenticates every call but health checks.

gRPC hands an interceptor the method and metadata but not the TLS peer, so the check
runs inside the wrapped handler, where the servicer context has both. The principal
reaches the servicer through a context variable, set in the call's own task.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import grpc

from stigma_api.auth._authenticator import Authenticator
from stigma_api.auth._errors import AuthenticationFailed, Refusal
from stigma_api.auth._principal import Principal

logger = logging.getLogger(__name__)

OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
"""Methods served without credentials: orchestrators and load balancers probe them."""

_principal: ContextVar[Principal | None] = ContextVar("stigma_api_principal", default=None)


class NotAuthenticated(RuntimeError):
    """A handler asked for the principal of a call the interceptor did not authenticate."""


def current_principal() -> Principal:
    """The authenticated caller of the RPC being served."""
    principal = _principal.get()
    if principal is None:
        raise NotAuthenticated("no principal: is AuthInterceptor installed on this server?")
    return principal


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(
        self,
        authenticator: Authenticator,
        *,
        on_refused: Callable[[Refusal], None] | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._on_refused = on_refused

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(OPEN_PREFIXES):
            return handler
        return _guarded(handler, self._admit, details.method)

    async def _admit(self, context: Any, method: str) -> None:
        try:
            principal = await self._authenticator.authenticate(
                tuple(context.invocation_metadata() or ()), context.auth_context()
            )
        except AuthenticationFailed as err:
            if self._on_refused is not None:
                self._on_refused(err.reason)
            logger.warning("refused %s from %s: %s", method, context.peer(), err)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(err))
            raise  # unreachable: abort raises
        _principal.set(principal)


Admit = Callable[[Any, str], Awaitable[None]]


async def _responses(result: Any) -> AsyncIterator[Any]:
    """A streaming behaviour either yields its responses or writes them through the
    context and returns a coroutine: serve both."""
    if inspect.isawaitable(result):
        await result
        return
    async for response in result:
        yield response


def _guarded(handler: grpc.RpcMethodHandler, admit: Admit, method: str) -> grpc.RpcMethodHandler:
    serializers = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        unary_unary = handler.unary_unary

        async def guarded_unary_unary(request: Any, context: Any) -> Any:
            await admit(context, method)
            return await unary_unary(request, context)

        return grpc.unary_unary_rpc_method_handler(guarded_unary_unary, **serializers)
    if handler.unary_stream is not None:
        unary_stream = handler.unary_stream

        async def guarded_unary_stream(request: Any, context: Any) -> AsyncIterator[Any]:
            await admit(context, method)
            async for response in _responses(unary_stream(request, context)):
                yield response

        return grpc.unary_stream_rpc_method_handler(guarded_unary_stream, **serializers)
    if handler.stream_unary is not None:
        stream_unary = handler.stream_unary

        async def guarded_stream_unary(requests: Any, context: Any) -> Any:
            await admit(context, method)
            return await stream_unary(requests, context)

        return grpc.stream_unary_rpc_method_handler(guarded_stream_unary, **serializers)
    stream_stream = handler.stream_stream

    async def guarded_stream_stream(requests: Any, context: Any) -> AsyncIterator[Any]:
        await admit(context, method)
        async for response in _responses(stream_stream(requests, context)):
            yield response

    return grpc.stream_stream_rpc_method_handler(guarded_stream_stream, **serializers)
