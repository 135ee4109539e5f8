"""StartAgent refuses bad input with INVALID_ARGUMENT naming the problem, before starting
anything: no agent workflow exists afterwards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from agent_contract import execution_id_for
from devstack import LocalStack
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from stigma.agent.v1.callback_pb2 import SignedCallback
from tests.support import signed_token, unique

GOOD_SPEC = agent_pb2.AgentSpec(name="t", input="hello", model="scripted:echo")


def _tampered(keys: str) -> bytes:
    signed = SignedCallback.FromString(signed_token(keys))
    target = bytearray(signed.target)
    target[-1] ^= 0x01
    return SignedCallback(
        target=bytes(target), key_id=signed.key_id, signature=signed.signature
    ).SerializeToString()


CASES: dict[str, tuple[Callable[[str], agent_pb2.StartAgentRequest], str]] = {
    "missing request_id": (lambda keys: (
        agent_pb2.StartAgentRequest(request_id="", spec=GOOD_SPEC)), "request_id"),
    "empty input": (lambda keys: agent_pb2.StartAgentRequest(
        spec=agent_pb2.AgentSpec(input="  ", model="scripted:echo")), "spec.input"),
    "unknown provider": (lambda keys: agent_pb2.StartAgentRequest(
        spec=agent_pb2.AgentSpec(input="x", model="nobody:model")), "unknown provider"),
    "garbage token": (lambda keys: agent_pb2.StartAgentRequest(
        spec=GOOD_SPEC, callback_token=b"\xff\x00garbage"), "callback_token"),
    "tampered token": (lambda keys: agent_pb2.StartAgentRequest(
        spec=GOOD_SPEC, callback_token=_tampered(keys)), "signature does not match"),
    "expired token": (lambda keys: agent_pb2.StartAgentRequest(
        spec=GOOD_SPEC,
        callback_token=signed_token(keys, now=datetime.now(UTC) - timedelta(hours=2))),
        "expired"),
    "unknown signing key": (lambda keys: agent_pb2.StartAgentRequest(
        spec=GOOD_SPEC,
        callback_token=signed_token("stranger:an-attackers-own-secret-key")),
        "unknown key id"),
    "other namespace": (lambda keys: agent_pb2.StartAgentRequest(
        spec=GOOD_SPEC, callback_token=signed_token(keys, namespace="someone-else")),
        "namespace"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_start_is_refused_and_starts_nothing(
    case: str, stack: LocalStack, stigma: agent_pb2_grpc.AgentServiceStub, client: Client
) -> None:
    build, expected = CASES[case]
    request = build(stack.callback_keys)
    if case != "missing request_id":
        request.request_id = unique("bad")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stigma.StartAgent(request)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in (caught.value.details() or "")
    if request.request_id:
        with pytest.raises(RPCError) as missing:
            await client.get_workflow_handle(execution_id_for(request.request_id)).describe()
        assert missing.value.status == RPCStatusCode.NOT_FOUND
