"""call: grpc against real gRPC servers, through the CallGrpc activity.

The success path calls stigma-api's own standard health service (grpc.health.v1) with the
health.proto in tests/workflows/protos/; the error mapping uses a small grpc.aio server
started here (zigflow.test.v1.Faults, tests/workflows/protos/faults.proto) that answers
Echo and aborts Fail with the status it is asked for.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from devstack import LocalStack
from tests.containers_support import STIGMA_PORT, ContainerStack
from tests.support import start_dsl
from zigflow.grpc_protos import CompiledProto

COMMUNICATION = "https://serverlessworkflow.io/spec/1.0.0/errors/communication"
VALIDATION = "https://serverlessworkflow.io/spec/1.0.0/errors/validation"
FAULTS_PROTO = Path(__file__).resolve().parent / "workflows" / "protos" / "faults.proto"


def stigma_host_port(stack: LocalStack | ContainerStack) -> dict[str, Any]:
    """stigma-api's address as the zigflow-worker reaches it: the published loopback port
    for processes, the service name on the Docker network for containers."""
    if isinstance(stack, ContainerStack):
        return {"host": "stigma-api", "port": STIGMA_PORT}
    host, _, port = stack.stigma_address.rpartition(":")
    return {"host": host, "port": int(port)}


def activity_failure(err: WorkflowFailureError) -> ApplicationError:
    """An uncaught call: grpc failure: an ActivityError whose cause is the DSL error."""
    assert isinstance(err.cause, ActivityError)
    failure = err.cause.cause
    assert isinstance(failure, ApplicationError)
    return failure


@dataclass
class Faults:
    """What the test server saw, and how many of the next Echo calls answer UNAVAILABLE."""

    port: int = 0
    echoes: list[dict[str, Any]] = field(default_factory=list)
    fails: list[str] = field(default_factory=list)
    unavailable_left: int = 0


@pytest.fixture
async def faults() -> AsyncIterator[Faults]:
    proto = CompiledProto.load(FAULTS_PROTO)
    echo = proto.unary_method("zigflow.test.v1.Faults", "Echo")
    fail = proto.unary_method("zigflow.test.v1.Faults", "Fail")
    seen = Faults()

    async def on_echo(request: Any, context: grpc.aio.ServicerContext) -> Message:
        seen.echoes.append({"text": request.text, "tag": request.tag.name})
        if seen.unavailable_left > 0:
            seen.unavailable_left -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        return echo.response(text=request.text, attempt=len(seen.echoes), extra=request.extra)

    async def on_fail(request: Any, context: grpc.aio.ServicerContext) -> Message:
        seen.fails.append(request.code)
        await context.abort(grpc.StatusCode[request.code], request.message)
        raise AssertionError("abort returns only by raising")

    def handler(method: Any, behaviour: Any) -> Any:
        return grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=method.request.FromString,
            response_serializer=lambda message: message.SerializeToString(),
        )

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "zigflow.test.v1.Faults",
                {"Echo": handler(echo, on_echo), "Fail": handler(fail, on_fail)},
            )
        ]
    )
    seen.port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield seen
    finally:
        await server.stop(None)


def faults_input(faults: Faults, **overrides: Any) -> dict[str, Any]:
    payload = {
        "port": faults.port,
        "name": "ada",
        "extra": {"n": 1, "tags": ["a"]},
        "code": "NOT_FOUND",
        "catchStatus": 404,
    }
    return {**payload, **overrides}


async def test_health_check_of_stigma_api_and_a_caught_not_found(
    client: Client, stack: LocalStack
) -> None:
    payload = {**stigma_host_port(stack), "service": "no.such.Service"}
    result = await (await start_dsl(client, "dsl-grpc", payload)).result()
    assert result["server"] == "SERVING"
    unknown = result["unknown"]
    assert (unknown["type"], unknown["status"], unknown["title"]) == (
        COMMUNICATION,
        404,
        "gRPC NOT_FOUND",
    )
    assert unknown["detail"].startswith("grpc.health.v1.Health/Check at ")
    assert unknown["instance"].startswith("/do/1/unknown/try")


@pytest.mark.parametrize(
    ("code", "status"),
    [("NOT_FOUND", 404), ("PERMISSION_DENIED", 403), ("DEADLINE_EXCEEDED", 504)],
)
async def test_echo_then_a_status_caught_by_type_and_status(
    client: Client, faults: Faults, code: str, status: int
) -> None:
    payload = faults_input(faults, code=code, catchStatus=status)
    result = await (await start_dsl(client, "dsl-grpc-error", payload)).result()
    assert result["echo"] == {"text": "hello ada", "attempt": 1, "extra": {"n": 1, "tags": ["a"]}}
    caught = result["caught"]
    assert (caught["type"], caught["status"], caught["title"]) == (
        COMMUNICATION,
        status,
        f"gRPC {code}",
    )
    assert caught["detail"] == (
        f"zigflow.test.v1.Faults/Fail at 127.0.0.1:{faults.port} answered {code}: asked for {code}"
    )
    assert faults.fails == [code]  # a status error is not retried by Temporal


async def test_an_uncaught_status_fails_the_workflow_with_a_communication_error(
    client: Client, faults: Faults
) -> None:
    handle = await start_dsl(client, "dsl-grpc-error", faults_input(faults, code="UNAUTHENTICATED"))
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    failure = activity_failure(caught.value)
    error = failure.details[0]
    assert (failure.type, failure.non_retryable) == (COMMUNICATION, True)
    assert (error["status"], error["title"]) == (401, "gRPC UNAUTHENTICATED")
    assert error["instance"].startswith("/do/1/fail/try")
    assert faults.fails == ["UNAUTHENTICATED"]


async def test_unavailable_is_retried_by_temporal_before_the_workflow_sees_it(
    client: Client, faults: Faults
) -> None:
    faults.unavailable_left = 2
    result = await (await start_dsl(client, "dsl-grpc-error", faults_input(faults))).result()
    assert result["echo"]["attempt"] == 3  # two UNAVAILABLE answers, then the reply
    faults.unavailable_left = 100
    handle = await start_dsl(client, "dsl-grpc-error", faults_input(faults))
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    error = activity_failure(caught.value).details[0]
    assert (error["type"], error["status"], error["title"]) == (
        COMMUNICATION,
        503,
        "gRPC UNAVAILABLE",
    )
    assert len(faults.echoes) == 3 + 3  # the retry policy's three attempts


async def test_an_argument_the_message_has_no_field_for_is_a_validation_error(
    client: Client, faults: Faults
) -> None:
    payload = {"port": faults.port, "tag": {"name": "ok", "colour": "red"}}
    handle = await start_dsl(client, "dsl-grpc-bad-arguments", payload)
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    failure = activity_failure(caught.value)
    error = failure.details[0]
    assert (error["type"], error["status"]) == (VALIDATION, 400)
    assert error["instance"] == "/do/0/echo/with/arguments"
    assert 'Message type "zigflow.test.v1.Tag" has no field named "colour"' in error["detail"]
    assert faults.echoes == []  # refused before any call
