"""The CallGrpc activity behind ``call: grpc``: one unary call over a plaintext channel.

The workflow sends only what identifies the call: the proto file's absolute path, the
service, method, address and the evaluated arguments (``GrpcRequest``). The descriptors stay
on the worker: ``GrpcCallActivities`` compiles each proto file once, on first use, and keeps
the result for the worker's life (the definitions themselves are loaded once, at start-up,
where the same file was compiled and checked). So the activity input stays small, the history
holds no descriptors, and a replay never needs the proto at all.

Errors (``DslError`` carried as a Temporal ``ApplicationError``):

- a gRPC status other than OK: the DSL ``communication`` error, non-retryable, whose
  ``status`` is the HTTP status of that gRPC code (``GRPC_TO_HTTP``, the mapping of
  google.rpc.Code) and whose detail names the gRPC code and the server's message;
  UNAVAILABLE (no connection, or the server says so) is retryable: Temporal tries again
  (the retry policy of ``dsl/tasks/grpc_calls.py``), then the workflow sees status 503;
- an argument the request message cannot take: the DSL ``validation`` error, naming it;
- a proto file that no longer compiles on this worker: the ``configuration`` error.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from temporalio import activity

from zigflow.dsl.errors import COMMUNICATION, CONFIGURATION, DslError, validation_error
from zigflow.grpc_protos import (
    CompiledProto,
    ProtoError,
    UnaryMethod,
    message_from,
    message_to_json,
)

logger = logging.getLogger(__name__)

CALL_GRPC_ACTIVITY = "CallGrpc"
# The HTTP status of each gRPC code, as google.rpc.Code documents it.
GRPC_TO_HTTP: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}
# The RPC's own deadline ends this much before the activity's start-to-close timeout, so a
# slow server is reported as DEADLINE_EXCEEDED (504) rather than as an activity timeout.
DEADLINE_MARGIN_S = 1.0


@dataclass
class GrpcRequest:
    """A ``call: grpc`` task after its expressions were evaluated."""

    proto: str
    """Absolute path of the proto file (resolved from the document's folder)."""
    service: str
    method: str
    host: str
    port: int
    arguments: dict[str, Any] = field(default_factory=dict)
    instance: str = ""

    @property
    def target(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"


def http_status(code: grpc.StatusCode) -> int:
    return GRPC_TO_HTTP.get(code, 500)


def status_error(request: GrpcRequest, code: grpc.StatusCode, message: str) -> DslError:
    """The DSL ``communication`` error of a non-OK gRPC status."""
    return DslError(
        type=COMMUNICATION,
        status=http_status(code),
        title=f"gRPC {code.name}",
        detail=f"{request.service}/{request.method} at {request.target} answered "
        f"{code.name}: {message}"[:1000],
        instance=request.instance,
    )


class GrpcCallActivities:
    """The CallGrpc activity and its per-worker cache of compiled proto files."""

    def __init__(self) -> None:
        self._compiled: dict[str, CompiledProto] = {}

    async def _method(self, request: GrpcRequest) -> UnaryMethod:
        compiled = self._compiled.get(request.proto)
        if compiled is None:
            compiled = await asyncio.to_thread(CompiledProto.load, Path(request.proto))
            self._compiled[request.proto] = compiled
        return compiled.unary_method(request.service, request.method)

    @activity.defn(name=CALL_GRPC_ACTIVITY)
    async def call_grpc(self, request: GrpcRequest) -> Any:
        """Build the request from ``arguments``, make the call, return the response as JSON
        (``message_to_json``). Failures are DSL errors, as the module docstring lists."""
        try:
            method = await self._method(request)
        except ProtoError as err:
            raise DslError(
                type=CONFIGURATION,
                status=500,
                title="Bad proto file",
                detail=str(err),
                instance=request.instance,
            ).to_failure() from None
        try:
            message = message_from(method, request.arguments)
        except json_format.ParseError as err:
            detail = f"bad arguments for {method.path}: {err}"
            raise validation_error(
                detail, f"{request.instance}/with/arguments"
            ).to_failure() from None
        info = activity.info()
        timeout = None
        if info.start_to_close_timeout is not None:
            timeout = max(info.start_to_close_timeout.total_seconds() - DEADLINE_MARGIN_S, 1.0)
        async with grpc.aio.insecure_channel(request.target) as channel:
            call = channel.unary_unary(
                method.path,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=method.response.FromString,
            )
            try:
                response = await call(message, timeout=timeout)
            except grpc.aio.AioRpcError as err:
                code = err.code()
                logger.warning("%s at %s: %s", method.path, request.target, code.name)
                failure = status_error(request, code, err.details() or "")
                retry = code == grpc.StatusCode.UNAVAILABLE
                raise failure.to_failure(non_retryable=not retry) from None
        return message_to_json(response)
