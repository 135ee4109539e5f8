"""Hostile input: StartAgent never crashes and never answers INTERNAL, and a callback
token cannot be replayed against another namespace, edited, or signed by a retired key."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from devstack import LocalStack
from devstack._processes import ServiceProcess
from devstack._temporal import free_port
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from stigma.agent.v1.callback_pb2 import CallbackTarget, SignedCallback
from stigma_wire import credential_interceptors, credential_metadata
from tests.security_support import SUITE
from tests.support import SyncCredentials, eventually, signed_token, unique

ANSWERS = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED}
SPEC = agent_pb2.AgentSpec(name="t", input="hello", model="scripted:echo")


def _flip(token: bytes, position: int, mask: int) -> bytes:
    data = bytearray(token)
    data[position % len(data)] ^= mask
    return bytes(data)


text = st.text(max_size=48)
mapping = st.dictionaries(st.text(max_size=24), st.text(max_size=48), max_size=4)
specs = st.builds(
    agent_pb2.AgentSpec,
    name=text,
    instructions=text,
    input=st.text(max_size=200),
    # Valid models run a real (one-step, instant) scripted agent; the rest are refused.
    model=st.one_of(
        st.sampled_from(["scripted:echo", "scripted:upper", "scripted:nope", "nobody:x", ":"]),
        text,
    ),
    max_steps=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    parameters=mapping,
    labels=mapping,
)


PRINTABLE = st.characters(codec="utf-8", exclude_characters="\x00\r\n")
# Specs that pass validation, so that arbitrary request ids and tokens reach Temporal.
valid_specs = st.builds(
    agent_pb2.AgentSpec,
    name=st.text(alphabet=PRINTABLE, max_size=40),
    input=st.text(min_size=1, max_size=200).filter(str.strip),
    model=st.sampled_from(["scripted:echo", "scripted:reverse"]),
    parameters=st.dictionaries(
        st.text(alphabet=PRINTABLE, min_size=1, max_size=20).filter(str.strip),
        st.text(max_size=40),
        max_size=3,
    ),
)


@pytest.fixture(scope="module")
def sync_stigma(stack: LocalStack) -> agent_pb2_grpc.AgentServiceStub:
    """A synchronous client (hypothesis drives it), calling as the suite's principal."""
    channel = grpc.intercept_channel(
        grpc.insecure_channel(stack.stigma_address),
        SyncCredentials(credential_metadata(stack.api_keys.credentials(SUITE.name))),
    )
    return agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    request_id=st.one_of(st.text(max_size=80), st.text(min_size=500, max_size=520)),
    spec=st.one_of(st.none(), specs, valid_specs),
    token=st.one_of(
        st.just(b""),
        st.binary(max_size=300),
        st.builds(lambda p, m: ("flip", p, m), st.integers(0, 10_000), st.integers(1, 255)),
        st.just(("valid", 0, 0)),
    ),
)
def test_start_agent_answers_only_ok_invalid_or_exhausted(
    stack: LocalStack,
    sync_stigma: agent_pb2_grpc.AgentServiceStub,
    request_id: str,
    spec: agent_pb2.AgentSpec | None,
    token: bytes | tuple[str, int, int],
) -> None:
    if isinstance(token, tuple):
        kind, position, mask = token
        valid = signed_token(stack.callback_keys)
        token = valid if kind == "valid" else _flip(valid, position, mask)
    request = agent_pb2.StartAgentRequest(request_id=request_id, callback_token=token)
    if spec is not None:
        request.spec.CopyFrom(spec)
    code, details = grpc.StatusCode.OK, "accepted"
    try:
        sync_stigma.StartAgent(request, timeout=30)
    except grpc.RpcError as err:
        code, details = err.code(), err.details()
    event(code.name)
    assert code in ANSWERS, f"{code}: {details}"
    assert details, "a refusal names what is wrong"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(execution_id=st.one_of(st.text(max_size=80), st.text(max_size=80).map("agent-".__add__)))
def test_reads_and_cancels_answer_only_ok_invalid_or_not_found(
    sync_stigma: agent_pb2_grpc.AgentServiceStub, execution_id: str
) -> None:
    calls: list[Callable[[], object]] = [
        lambda: sync_stigma.GetExecution(
            agent_pb2.GetExecutionRequest(execution_id=execution_id), timeout=30
        ),
        lambda: sync_stigma.CancelExecution(
            agent_pb2.CancelExecutionRequest(execution_id=execution_id), timeout=30
        ),
    ]
    for call in calls:
        code, details = grpc.StatusCode.OK, "answered"
        try:
            call()
        except grpc.RpcError as err:
            code, details = err.code(), err.details()
        event(code.name)
        assert code in {
            grpc.StatusCode.OK,
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.NOT_FOUND,
        }, f"{code}: {details}"
        assert details


async def test_the_server_survived_the_hostile_input(stack: LocalStack) -> None:
    assert stack.services["stigma-api"].running
    async with grpc.aio.insecure_channel(stack.stigma_address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_an_over_large_spec_is_refused_before_temporal_sees_it(
    stigma: agent_pb2_grpc.AgentServiceStub,
) -> None:
    # Every field within its own limit, the whole larger than one Temporal payload may be.
    spec = agent_pb2.AgentSpec(
        input="x" * 200_000,
        instructions="y" * 200_000,
        model="scripted:echo",
        parameters={f"p{n}": "z" * 16_000 for n in range(60)},
        labels={f"l{n}": "w" * 16_000 for n in range(60)},
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stigma.StartAgent(agent_pb2.StartAgentRequest(request_id=unique("big"), spec=spec))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (caught.value.details() or "").startswith("spec: is ")


@dataclass
class OtherTenant:
    """A second stigma-api on the same Temporal: another namespace, rotated keys."""

    stub: agent_pb2_grpc.AgentServiceStub
    new_keys: str


@pytest.fixture(scope="module")
async def other_tenant(
    stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[OtherTenant]:
    port = free_port()
    new_keys = f"next:{secrets.token_urlsafe(32)}"
    env = {
        **stack.env_for("stigma-api"),
        "STIGMA_API_LISTEN_ADDRESS": f"127.0.0.1:{port}",
        "STIGMA_API_CALLBACK_NAMESPACES": "tenant-b",
        "STIGMA_API_METRICS_PORT": "0",
        # The session's key ("local") was rotated out: only the new one verifies.
        "CALLBACK_KEYS": new_keys,
    }
    env.pop("CALLBACK_KEYS_FILE", None)  # the session's key file: one source of keys only
    logs: Path = tmp_path_factory.mktemp("tenant-b")
    process = ServiceProcess(
        name="stigma-api-b",
        argv=stack.services["stigma-api"].argv,
        env=env,
        log_file=logs / "stigma-api.log",
    )
    await process.start()
    try:
        async with grpc.aio.insecure_channel(
            f"127.0.0.1:{port}",
            interceptors=credential_interceptors(stack.api_keys.credentials("operator")),
        ) as channel:

            async def serving() -> bool:
                process.raise_if_exited()
                try:
                    reply = await health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(), timeout=1
                    )
                except grpc.aio.AioRpcError:
                    return False
                return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

            await eventually(serving)
            yield OtherTenant(
                stub=agent_pb2_grpc.AgentServiceStub(channel),  # type: ignore[no-untyped-call]
                new_keys=new_keys,
            )
    finally:
        await process.stop()


async def _refused(stub: agent_pb2_grpc.AgentServiceStub, token: bytes) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.StartAgent(
            agent_pb2.StartAgentRequest(
                request_id=unique("hostile"), spec=SPEC, callback_token=token
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return caught.value.details() or ""


async def test_token_replayed_against_another_namespace_is_refused(
    other_tenant: OtherTenant,
) -> None:
    # Signed with a key tenant-b trusts, for a caller in namespace "default".
    token = signed_token(other_tenant.new_keys, namespace="default")
    details = await _refused(other_tenant.stub, token)
    assert "targets namespace 'default', which this server does not serve" in details


async def test_token_signed_by_a_rotated_out_key_is_refused(
    stack: LocalStack, other_tenant: OtherTenant
) -> None:
    token = signed_token(stack.callback_keys, namespace="tenant-b")
    details = await _refused(other_tenant.stub, token)
    assert "unknown key id 'local'" in details


async def test_token_with_an_edited_target_is_refused(
    stack: LocalStack, stigma: agent_pb2_grpc.AgentServiceStub
) -> None:
    signed = SignedCallback.FromString(signed_token(stack.callback_keys))
    target = CallbackTarget.FromString(signed.target)
    target.workflow_id = "someone-elses-workflow"
    edited = SignedCallback(
        target=target.SerializeToString(deterministic=True),
        key_id=signed.key_id,
        signature=signed.signature,
    ).SerializeToString()
    details = await _refused(stigma, edited)
    assert "signature does not match" in details
