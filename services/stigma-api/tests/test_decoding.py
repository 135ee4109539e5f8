"""A request that does not decode is INVALID_ARGUMENT naming the field, for every RPC.

Through a real grpc.aio server on 127.0.0.1: raw request bytes go over the wire and grpc
parses them with each method's deserializer, exactly where invalid UTF-8 used to surface
as UNKNOWN with a Python exception's name. The servicer behind the interceptor is a stub
(the decoding happens before any servicer code runs).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from stigma_api.decoding import RequestDecodingInterceptor, diagnose

SERVICE = agent_pb2.DESCRIPTOR.services_by_name["AgentService"]
HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"]
EXECUTION = agent_pb2.Execution(execution_id="agent-x")


class StubAgentService(agent_pb2_grpc.AgentServiceServicer):
    """Answers every call that reaches it: what matters here is what never reaches it."""

    async def StartAgent(self, request: Any, context: Any) -> agent_pb2.StartAgentResponse:
        return agent_pb2.StartAgentResponse(execution_id="agent-x", accepted=True)

    async def GetExecution(self, request: Any, context: Any) -> agent_pb2.GetExecutionResponse:
        return agent_pb2.GetExecutionResponse(execution=EXECUTION)

    async def WatchExecution(
        self, request: Any, context: Any
    ) -> AsyncIterator[agent_pb2.WatchExecutionResponse]:
        yield agent_pb2.WatchExecutionResponse(execution=EXECUTION)

    async def CancelExecution(
        self, request: Any, context: Any
    ) -> agent_pb2.CancelExecutionResponse:
        return agent_pb2.CancelExecutionResponse(execution=EXECUTION)

    async def DecideToolCall(self, request: Any, context: Any) -> agent_pb2.DecideToolCallResponse:
        return agent_pb2.DecideToolCallResponse(execution=EXECUTION)


@dataclass(frozen=True)
class Rpc:
    path: str
    request: Any  # a Descriptor (upb's or the pure-Python one)
    streaming: bool


RPCS = [
    *(
        Rpc(
            f"/{SERVICE.full_name}/{method.name}",
            method.input_type,
            method.server_streaming,
        )
        for method in SERVICE.methods
    ),
    *(
        Rpc(f"/{HEALTH.full_name}/{method.name}", method.input_type, method.server_streaming)
        for method in HEALTH.methods
    ),
]


@pytest.fixture(scope="module")
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server(interceptors=[RequestDecodingInterceptor()])
    agent_pb2_grpc.add_AgentServiceServicer_to_server(StubAgentService(), server)  # type: ignore[no-untyped-call]
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as opened:
        yield opened
    await server.stop(0)


async def call(channel: grpc.aio.Channel, rpc: Rpc, data: bytes) -> tuple[grpc.StatusCode, str]:
    """Send raw ``data`` as the request of ``rpc``; the status code and details."""
    try:
        if rpc.streaming:
            stream = channel.unary_stream(rpc.path)(data, timeout=10)
            async for _ in stream:
                break  # health Watch streams forever: the first answer is enough
            stream.cancel()
        else:
            await channel.unary_unary(rpc.path)(data, timeout=10)
    except grpc.aio.AioRpcError as err:
        return err.code(), err.details() or ""
    return grpc.StatusCode.OK, ""


def _decodes(rpc: Rpc, data: bytes) -> bool:
    message_class: type[Message] = _message_class(rpc.request)
    try:
        message_class.FromString(data)
    except DecodeError:
        return False
    return True


def _message_class(descriptor: Any) -> Any:
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


def _string_paths(descriptor: Any, prefix: str = "", depth: int = 0) -> list[str]:
    """Every string field a request has, nested ones as ``spec.input``."""
    paths: list[str] = []
    for field in descriptor.fields:
        path = f"{prefix}{field.name}"
        if field.type == FieldDescriptor.TYPE_STRING:
            paths.append(path)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and depth < 3:
            paths.extend(_string_paths(field.message_type, f"{path}.", depth + 1))
    return paths


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _with_bad_utf8(descriptor: Any, path: str, bad: bytes) -> bytes:
    """A message whose string field ``path`` (through nested messages) holds ``bad``."""
    name, _, rest = path.partition(".")
    field = descriptor.fields_by_name[name]
    if not rest:
        return _length_delimited(field.number, bad)
    return _length_delimited(field.number, _with_bad_utf8(field.message_type, rest, bad))


# Bytes that are never UTF-8: a lone continuation byte, an overlong form, a surrogate.
INVALID_UTF8 = st.tuples(
    st.text(max_size=8).map(str.encode),
    st.sampled_from([b"\xff", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]),
    st.text(max_size=8).map(str.encode),
).map(b"".join)
BAD_STRINGS = st.sampled_from([rpc for rpc in RPCS if _string_paths(rpc.request)]).flatmap(
    lambda rpc: st.tuples(st.just(rpc), st.sampled_from(_string_paths(rpc.request)), INVALID_UTF8)
)

HOSTILE = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@HOSTILE
@given(rpc=st.sampled_from(RPCS), data=st.binary(max_size=300))
async def test_raw_bytes_are_answered_ok_or_invalid_argument_never_unknown(
    channel: grpc.aio.Channel, rpc: Rpc, data: bytes
) -> None:
    code, details = await call(channel, rpc, data)
    if _decodes(rpc, data):
        # Health answers NOT_FOUND for a service name it does not know, and grpcio-health's
        # aio servicer does not implement List (UNIMPLEMENTED, not a decode error).
        expected = {grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND}
        if rpc.path.endswith(".Health/List"):
            expected.add(grpc.StatusCode.UNIMPLEMENTED)
        assert code in expected, f"{rpc.path}: {code} {details}"
    else:
        assert code == grpc.StatusCode.INVALID_ARGUMENT, f"{rpc.path}: {code} {details}"
        assert details == diagnose(rpc.request, data)
        assert "Error" not in details
        assert "Exception" not in details


@HOSTILE
@given(case=BAD_STRINGS)
async def test_invalid_utf8_in_any_string_field_names_that_field(
    channel: grpc.aio.Channel, case: tuple[Rpc, str, bytes]
) -> None:
    rpc, path, bad = case
    code, details = await call(channel, rpc, _with_bad_utf8(rpc.request, path, bad))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, f"{rpc.path} {path}: {code} {details}"
    assert details.startswith(f"{path}"), details
    assert "UTF-8" in details


async def test_the_reported_case_names_spec_input(channel: grpc.aio.Channel) -> None:
    # StartAgent with invalid UTF-8 in spec.input answered UNKNOWN ("Unexpected <class
    # 'google.protobuf.message.DecodeError'>") before the interceptor.
    start = next(rpc for rpc in RPCS if rpc.path.endswith("/StartAgent"))
    good = agent_pb2.StartAgentRequest(
        request_id="r", spec=agent_pb2.AgentSpec(input="x", model="scripted:echo")
    ).SerializeToString()
    code, details = await call(
        channel, start, good + _with_bad_utf8(start.request, "spec.input", b"\xff")
    )
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, "spec.input: is not valid UTF-8")
    assert await call(channel, start, good) == (grpc.StatusCode.OK, "")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x0a\x05ab", "request_id: is truncated"),
        (b"\x12\x03\x08\x01", "spec: is truncated"),
        (b"\x0f", "request_id: has wire type 7 where no field may"),
        (b"\xff" * 10 + b"\x01", "request: has a malformed varint"),
        (b"\x12\x05\x3a\x03\x0a\x01\xff", "spec.labels.key: is not valid UTF-8"),
        (b"\x13\x14\x0a\x01\xff", "request_id: is not valid UTF-8"),
    ],
)
def test_the_diagnosis_names_the_field(data: bytes, expected: str) -> None:
    descriptor = agent_pb2.StartAgentRequest.DESCRIPTOR
    assert not _decodes(Rpc("", descriptor, False), data)
    assert diagnose(descriptor, data) == expected


def test_every_rpc_of_the_service_is_covered() -> None:
    covered: set[str] = {rpc.path.rsplit("/", 1)[1] for rpc in RPCS}
    assert {method.name for method in SERVICE.methods} <= covered
    assert all(_string_paths(rpc.request) for rpc in RPCS if rpc.path.startswith("/stigma."))
