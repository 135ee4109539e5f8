"""The CallGrpc activity behind ``call: grpc``: one unary call over a plaintext channel.

The target is vetted by the worker's egress policy first, and the channel is pinned to the
vetted address (``ipv4:`` / ``ipv6:`` target, the original ``host:port`` as the HTTP/2
authority), so a name cannot resolve differently between the check and the connection.

The workflow sends only what identifies the call: the proto file's absolute path, the
service, method, address and the evaluated arguments (``GrpcRequest``). The descriptors stay
on the worker: ``GrpcCallActivities`` compiles each proto file once, on first use, and keeps
the result for the worker's life (the definitions themselves are loaded once, at start-up,
where the same file was compiled and checked). So the activity input stays small, the history
holds no descriptors, and a replay never needs the proto at all.

Errors (``DslError`` carried as a Temporal ``ApplicationError``):

- a target the worker's egress policy refuses (``check_host``, before any connection): the
  ``communication`` error with status 403, non-retryable, naming the host, the address and
  the rule; a host that does not resolve is UNAVAILABLE (below);
- a response message larger than the policy's ``max_response_bytes`` (the channel's
  ``grpc.max_receive_message_length``): ``communication`` with status 502, non-retryable;
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
import ipaddress
import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from temporalio import activity

from egress_policy import EgressDenied, EgressPolicy
from zigflow.dsl.errors import (
    COMMUNICATION,
    CONFIGURATION,
    DslError,
    egress_refused_error,
    response_too_large_error,
    validation_error,
)
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
# What grpc's RESOURCE_EXHAUSTED says of a response over grpc.max_receive_message_length
# ("Stream removed (CLIENT: Received message larger than max (503 vs. 100))").
TOO_LARGE_DETAILS = "Received message larger than max"


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


def pinned_target(address: str, port: int) -> str:
    """A channel target that connects to exactly this address (no name resolution)."""
    if ipaddress.ip_address(address).version == 6:
        return f"ipv6:[{address}]:{port}"
    return f"ipv4:{address}:{port}"


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

    def __init__(self, *, policy: EgressPolicy) -> None:
        self._policy = policy
        self._compiled: dict[str, CompiledProto] = {}

    async def _vetted_address(self, request: GrpcRequest) -> str:
        """The first address of the target the policy allows, or the failure to raise."""
        call = f"{request.service}/{request.method} at {request.target}"
        try:
            addresses = await self._policy.check_host(request.host, request.port)
        except EgressDenied as err:
            logger.warning("%s: %s", call, err)
            raise egress_refused_error(f"{call}: {err}", request.instance).to_failure() from None
        except (socket.gaierror, ValueError) as err:
            failure = status_error(
                request, grpc.StatusCode.UNAVAILABLE, f"cannot resolve {request.host}: {err}"
            )
            raise failure.to_failure(non_retryable=False) from None
        return addresses[0]

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
        address = await self._vetted_address(request)
        options = [
            ("grpc.default_authority", request.target),
            ("grpc.max_receive_message_length", self._policy.max_response_bytes),
        ]
        async with grpc.aio.insecure_channel(
            pinned_target(address, request.port), options=options
        ) as channel:
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
                details = err.details() or ""
                if code == grpc.StatusCode.RESOURCE_EXHAUSTED and TOO_LARGE_DETAILS in details:
                    detail = (
                        f"{request.service}/{request.method} at {request.target}: response "
                        f"over the limit of {self._policy.max_response_bytes} bytes ({details})"
                    )
                    raise response_too_large_error(detail, request.instance).to_failure() from None
                failure = status_error(request, code, details)
                retry = code == grpc.StatusCode.UNAVAILABLE
                raise failure.to_failure(non_retryable=not retry) from None
        return message_to_json(response)
