"""The CallGrpc activity against a real grpc.aio server, and its JSON <-> message mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from egress_policy import EgressPolicy
from zigflow.dsl.errors import COMMUNICATION, CONFIGURATION, VALIDATION
from zigflow.grpc_call import GrpcCallActivities, GrpcRequest, http_status, pinned_target
from zigflow.grpc_protos import CompiledProto, UnaryMethod, message_from, message_to_json

Handler = Callable[[Message, grpc.aio.ServicerContext], Any]
# The test servers listen on loopback, which the default policy refuses.
LOOPBACK = EgressPolicy.parse(allow="127.0.0.1/32")


@pytest.fixture
def get_item(shop_proto: Path) -> UnaryMethod:
    return CompiledProto.load(shop_proto).unary_method("shop.v1.Shop", "GetItem")


@asynccontextmanager
async def shop_server(method: UnaryMethod, handler: Handler) -> AsyncIterator[int]:
    """A real server of shop.v1.Shop/GetItem on 127.0.0.1 (a free port), answering with
    ``handler``; yields the port."""
    server = grpc.aio.server()
    rpc = grpc.unary_unary_rpc_method_handler(
        handler,
        request_deserializer=method.request.FromString,
        response_serializer=lambda message: message.SerializeToString(),
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler(method.service, {method.name: rpc})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield port
    finally:
        await server.stop(None)


def request_for(shop_proto: Path, port: int, **arguments: Any) -> GrpcRequest:
    return GrpcRequest(
        proto=str(shop_proto),
        service="shop.v1.Shop",
        method="GetItem",
        host="127.0.0.1",
        port=port,
        arguments=arguments,
        instance="/do/0/item",
    )


def test_arguments_take_proto_or_json_field_names(get_item: UnaryMethod) -> None:
    message = message_from(get_item, {"item_id": "lamp", "withPrice": True})
    assert (
        message.SerializeToString()
        == get_item.request(item_id="lamp", with_price=True).SerializeToString()
    )


def test_an_unknown_argument_names_the_field(get_item: UnaryMethod) -> None:
    with pytest.raises(json_format.ParseError, match='no field named "colour"'):
        message_from(get_item, {"item_id": "lamp", "colour": "red"})


def test_the_response_keeps_proto_field_names_and_every_field(shop_proto: Path) -> None:
    item_class = CompiledProto.load(shop_proto).unary_method("shop.v1.Shop", "GetItem").response
    item = json_format.ParseDict(
        {
            "itemId": "lamp",
            "quantity": "3",
            "price": {"currencyCode": "EUR", "units": 12},
            "kind": "BOOK",
            "tags": ["a", "b"],
            "addedAt": "2026-01-02T03:04:05Z",
        },
        item_class(),
    )
    assert message_to_json(item) == {
        "item_id": "lamp",
        "quantity": "3",  # int64 is a string in the proto3 JSON mapping
        "price": {"currency_code": "EUR", "units": "12"},
        "kind": "BOOK",
        "tags": ["a", "b"],
        "added_at": "2026-01-02T03:04:05Z",
    }
    assert message_to_json(item_class()) == {
        "item_id": "",
        "quantity": "0",
        "kind": "KIND_UNSPECIFIED",
        "tags": [],
    }


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, 400),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.PERMISSION_DENIED, 403),
        (grpc.StatusCode.NOT_FOUND, 404),
        (grpc.StatusCode.ALREADY_EXISTS, 409),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        (grpc.StatusCode.INTERNAL, 500),
        (grpc.StatusCode.UNIMPLEMENTED, 501),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
    ],
)
def test_grpc_codes_map_to_http_statuses(code: grpc.StatusCode, status: int) -> None:
    assert http_status(code) == status


async def test_a_unary_call_sends_the_arguments_and_returns_json(
    shop_proto: Path, get_item: UnaryMethod
) -> None:
    seen: list[Message] = []

    async def answer(request: Message, context: grpc.aio.ServicerContext) -> Message:
        seen.append(request)
        return json_format.ParseDict(
            {"item_id": request.item_id, "quantity": 2, "kind": "BOOK"},  # type: ignore[attr-defined]
            get_item.response(),
        )

    async with shop_server(get_item, answer) as port:
        request = request_for(shop_proto, port, item_id="lamp", withPrice=True)
        output = await ActivityEnvironment().run(
            GrpcCallActivities(policy=LOOPBACK).call_grpc, request
        )
    assert output == {"item_id": "lamp", "quantity": "2", "kind": "BOOK", "tags": []}
    assert [json_format.MessageToDict(m) for m in seen] == [{"itemId": "lamp", "withPrice": True}]


async def test_a_status_error_is_a_non_retryable_communication_error(
    shop_proto: Path, get_item: UnaryMethod
) -> None:
    async def missing(request: Message, context: grpc.aio.ServicerContext) -> Message:
        await context.abort(grpc.StatusCode.NOT_FOUND, "no item lamp")
        raise AssertionError("abort returns only by raising")

    async with shop_server(get_item, missing) as port:
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(
                GrpcCallActivities(policy=LOOPBACK).call_grpc,
                request_for(shop_proto, port, item_id="lamp"),
            )
    failure = caught.value
    assert (failure.type, failure.non_retryable) == (COMMUNICATION, True)
    assert failure.details[0] == {
        "type": COMMUNICATION,
        "status": 404,
        "title": "gRPC NOT_FOUND",
        "detail": f"shop.v1.Shop/GetItem at 127.0.0.1:{port} answered NOT_FOUND: no item lamp",
        "instance": "/do/0/item",
    }


async def test_no_server_is_a_retryable_unavailable(
    shop_proto: Path, get_item: UnaryMethod
) -> None:
    async def unused(request: Message, context: grpc.aio.ServicerContext) -> Message:
        raise AssertionError("the server is stopped before the call")

    async with shop_server(get_item, unused) as port:
        pass  # the port is now free again: nothing listens on it
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            GrpcCallActivities(policy=LOOPBACK).call_grpc,
            request_for(shop_proto, port, item_id="lamp"),
        )
    assert (caught.value.type, caught.value.non_retryable) == (COMMUNICATION, False)
    assert caught.value.details[0]["status"] == 503


async def test_a_bad_argument_is_a_validation_error_naming_the_field(shop_proto: Path) -> None:
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            GrpcCallActivities(policy=LOOPBACK).call_grpc, request_for(shop_proto, 1, colour="red")
        )
    error = caught.value.details[0]
    assert (caught.value.type, caught.value.non_retryable) == (VALIDATION, True)
    assert (error["status"], error["instance"]) == (400, "/do/0/item/with/arguments")
    assert 'has no field named "colour"' in error["detail"]


async def test_a_proto_gone_from_the_worker_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            GrpcCallActivities(policy=LOOPBACK).call_grpc, request_for(tmp_path / "gone.proto", 1)
        )
    assert caught.value.type == CONFIGURATION
    assert "does not exist" in caught.value.details[0]["detail"]


def test_the_channel_is_pinned_to_the_vetted_address() -> None:
    assert pinned_target("10.0.0.7", 50051) == "ipv4:10.0.0.7:50051"
    assert pinned_target("2001:db8::7", 443) == "ipv6:[2001:db8::7]:443"


async def test_a_target_the_policy_refuses_is_never_called(
    shop_proto: Path, get_item: UnaryMethod
) -> None:
    calls: list[Message] = []

    async def answer(request: Message, context: grpc.aio.ServicerContext) -> Message:
        calls.append(request)
        return get_item.response()

    async with shop_server(get_item, answer) as port:
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(
                GrpcCallActivities(policy=EgressPolicy()).call_grpc,
                request_for(shop_proto, port, item_id="lamp"),
            )
    error = caught.value.details[0]
    assert (caught.value.type, caught.value.non_retryable) == (COMMUNICATION, True)
    assert (error["status"], error["title"]) == (403, "Destination refused by the egress policy")
    assert error["detail"] == (
        f"shop.v1.Shop/GetItem at 127.0.0.1:{port}: egress to 127.0.0.1 (127.0.0.1) refused: "
        "127.0.0.1 is in 127.0.0.0/8 (loopback), refused by default; an allow rule naming it "
        "(127.0.0.1/32) lifts that "
        "(the worker's ZIGFLOW_EGRESS_ALLOW / ZIGFLOW_EGRESS_DENY decide)"
    )
    assert calls == []


async def test_a_response_over_the_limit_is_a_non_retryable_502(
    shop_proto: Path, get_item: UnaryMethod
) -> None:
    async def big(request: Message, context: grpc.aio.ServicerContext) -> Message:
        return get_item.response(item_id="x" * 500)

    small = EgressPolicy.parse(allow="127.0.0.1/32", max_response_bytes=100)
    async with shop_server(get_item, big) as port:
        with pytest.raises(ApplicationError) as caught:
            await ActivityEnvironment().run(
                GrpcCallActivities(policy=small).call_grpc,
                request_for(shop_proto, port, item_id="lamp"),
            )
    error = caught.value.details[0]
    assert (caught.value.type, caught.value.non_retryable) == (COMMUNICATION, True)
    assert (error["status"], error["title"]) == (502, "Response too large")
    assert "over the limit of 100 bytes" in error["detail"]
    assert "ZIGFLOW_MAX_RESPONSE_BYTES" in error["detail"]
