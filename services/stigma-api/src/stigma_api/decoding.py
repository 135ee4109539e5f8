"""Requests that do not decode are INVALID_ARGUMENT naming the field, never UNKNOWN.

grpc.aio parses a request with the method's deserializer before any servicer code runs;
when protobuf raises (a string field that is not UTF-8, a truncated message), grpc answers
UNKNOWN with the Python exception's name. This interceptor, first in the server's chain,
gives every method a deserializer that never raises: an undecodable request becomes an
:class:`Undecodable` that the wrapped method refuses with INVALID_ARGUMENT and a message
naming the field (``spec.input: is not valid UTF-8``), before the inner interceptors
(tracing, authentication, metrics) or the servicer see it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor

logger = logging.getLogger(__name__)

_VARINT, _FIXED64, _LENGTH_DELIMITED, _START_GROUP, _END_GROUP, _FIXED32 = range(6)
_MAX_DEPTH = 64


@dataclass(frozen=True)
class Undecodable:
    """A request whose bytes are not a valid message; ``reason`` names the field."""

    reason: str


class _Invalid(Exception):
    """Where and why the bytes are not a valid message (internal to the diagnosis)."""


def _varint(data: bytes, position: int, where: str) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(data):
            raise _Invalid(f"{where}: is truncated")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
        if shift >= 64:
            raise _Invalid(f"{where}: has a malformed varint")


def _skip(data: bytes, position: int, size: int, where: str) -> int:
    if position + size > len(data):
        raise _Invalid(f"{where}: is truncated")
    return position + size


def _skip_group(data: bytes, position: int, number: int, where: str, depth: int) -> int:
    """The position after the group ``number`` that starts at ``position``."""
    if depth > _MAX_DEPTH:
        raise _Invalid(f"{where}: is nested too deeply")
    while True:
        key, position = _varint(data, position, where)
        inner, wire = key >> 3, key & 7
        if wire == _END_GROUP:
            if inner != number:
                raise _Invalid(f"{where}: has a group that ends as another one")
            return position
        if wire == _VARINT:
            _, position = _varint(data, position, where)
        elif wire == _FIXED64:
            position = _skip(data, position, 8, where)
        elif wire == _FIXED32:
            position = _skip(data, position, 4, where)
        elif wire == _LENGTH_DELIMITED:
            size, position = _varint(data, position, where)
            position = _skip(data, position, size, where)
        elif wire == _START_GROUP:
            position = _skip_group(data, position, inner, where, depth + 1)
        else:
            raise _Invalid(f"{where}: has wire type {wire} where no field may")


def _check(descriptor: Any, data: bytes, path: str, depth: int) -> None:
    """Walk the wire format of ``data`` as a ``descriptor`` message; raise _Invalid at the
    first field protobuf would refuse (only fields it knows are looked into)."""
    if depth > _MAX_DEPTH:
        raise _Invalid(f"{path}: is nested too deeply")
    here = path or "request"
    position = 0
    while position < len(data):
        key, position = _varint(data, position, here)
        number, wire = key >> 3, key & 7
        field = descriptor.fields_by_number.get(number)
        where = (f"{path}.{field.name}" if path else field.name) if field else here
        if number == 0:
            raise _Invalid(f"{here}: has a field numbered 0")
        if wire == _VARINT:
            _, position = _varint(data, position, where)
        elif wire == _FIXED64:
            position = _skip(data, position, 8, where)
        elif wire == _FIXED32:
            position = _skip(data, position, 4, where)
        elif wire == _LENGTH_DELIMITED:
            size, position = _varint(data, position, where)
            end = _skip(data, position, size, where)
            chunk = data[position:end]
            position = end
            if field is None:
                continue
            if field.type == FieldDescriptor.TYPE_STRING:
                try:
                    chunk.decode("utf-8")
                except UnicodeDecodeError:
                    raise _Invalid(f"{where}: is not valid UTF-8") from None
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                _check(field.message_type, chunk, where, depth + 1)
        elif wire == _START_GROUP:  # proto2 groups: kept as unknown fields, so skipped
            position = _skip_group(data, position, number, where, depth)
        else:  # an end of group without its start, and the invalid wire types 6 and 7
            raise _Invalid(f"{where}: has wire type {wire} where no field may")


def diagnose(descriptor: Any, data: bytes) -> str:
    """Why ``data`` is not a valid ``descriptor`` message, naming the field when it can."""
    try:
        _check(descriptor, data, "", 0)
    except _Invalid as err:
        return str(err)
    except Exception:  # the diagnosis must never fail the call
        logger.exception("diagnosing an undecodable %s failed", descriptor.full_name)
    return f"request: is not a valid {descriptor.full_name} message"


def _safe(deserializer: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    message_class = getattr(deserializer, "__self__", None)
    descriptor = getattr(message_class, "DESCRIPTOR", None)

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:
            if descriptor is not None:
                return Undecodable(diagnose(descriptor, data))
            return Undecodable("request: is not a valid message")

    return deserialize


async def _refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
    if isinstance(request, Undecodable):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)


async def _checked(
    requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
) -> AsyncIterator[Any]:
    async for request in requests:
        await _refuse(request, context)
        yield request


async def _stream(result: Any) -> AsyncIterator[Any]:
    """A streaming method's responses, whether it yields them or writes them itself."""
    if inspect.isasyncgen(result):
        async for response in result:
            yield response
    elif inspect.isawaitable(result):
        await result


def _wrapped(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    deserializer = _safe(handler.request_deserializer)
    serializer = handler.response_serializer
    if handler.unary_unary is not None:
        unary_unary = handler.unary_unary

        async def unary_unary_checked(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await _refuse(request, context)
            return await unary_unary(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary_unary_checked, request_deserializer=deserializer, response_serializer=serializer
        )
    if handler.unary_stream is not None:
        unary_stream = handler.unary_stream

        async def unary_stream_checked(
            request: Any, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            await _refuse(request, context)
            async for response in _stream(unary_stream(request, context)):
                yield response

        return grpc.unary_stream_rpc_method_handler(
            unary_stream_checked, request_deserializer=deserializer, response_serializer=serializer
        )
    if handler.stream_unary is not None:
        stream_unary = handler.stream_unary

        async def stream_unary_checked(
            requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
        ) -> Any:
            return await stream_unary(_checked(requests, context), context)

        return grpc.stream_unary_rpc_method_handler(
            stream_unary_checked, request_deserializer=deserializer, response_serializer=serializer
        )
    stream_stream = handler.stream_stream

    async def stream_stream_checked(
        requests: AsyncIterator[Any], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        async for response in _stream(stream_stream(_checked(requests, context), context)):
            yield response

    return grpc.stream_stream_rpc_method_handler(
        stream_stream_checked, request_deserializer=deserializer, response_serializer=serializer
    )


class RequestDecodingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Put it first in the server's interceptors: it wraps every method of every service
    (AgentService, health, reflection) so that a request that does not decode is refused
    with INVALID_ARGUMENT naming the field."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or handler.request_deserializer is None:
            return handler
        return _wrapped(handler)
