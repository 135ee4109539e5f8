"""Who may do what on stigma-api, through the real stack (docs/adr/0014).

The authorization matrix: anonymous, tenant A, tenant B and an operator against StartAgent,
GetExecution, WatchExecution, CancelExecution and DecideToolCall on a run of tenant A.
Anonymous callers are UNAUTHENTICATED; another tenant's run answers NOT_FOUND, exactly as
an unknown run does; an operator acts on every tenant's runs. Per-tenant quotas refuse
with RESOURCE_EXHAUSTED naming the limit, and never refuse a replay.

A stack of its own authenticates with JWTs: the whole handshake with the zigflow-worker
holding a JWT, refusals of bad tokens, a signing key rotated in the JWKS, the callback
key rotated with authentication on, and no credential in any log line.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2_grpc
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from agent_contract import TENANT_ATTRIBUTE, caller_request_id
from devstack import LocalStack
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from tests.reliability_support import own_stack
from tests.security_support import (
    MAX_RUNNING,
    QUOTA_RATE,
    QUOTA_RUNNING,
    START_BURST,
    TENANT_A,
    TENANT_B,
    SigningKey,
    jwt_settings,
    write_jwks,
)
from tests.support import TOKEN_SPEC, eventually, signed_token, start_dsl, unique
from zigflow.stigma_channel import StigmaTls, stigma_channel

TENANT = SearchAttributeKey.for_keyword(TENANT_ATTRIBUTE)
OK = grpc.StatusCode.OK
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
NOT_FOUND = grpc.StatusCode.NOT_FOUND
CALLERS = ("anonymous", "tenant A", "tenant B", "operator")
RPCS = ("StartAgent", "GetExecution", "WatchExecution", "CancelExecution", "DecideToolCall")
# The design (docs/adr/0014), row by row: what each caller gets on a run of tenant A
# (StartAgent: a run of the caller's own).
MATRIX: dict[str, dict[str, grpc.StatusCode]] = {
    "anonymous": dict.fromkeys(RPCS, UNAUTHENTICATED),
    "tenant A": dict.fromkeys(RPCS, OK),
    "tenant B": {"StartAgent": OK} | dict.fromkeys(RPCS[1:], NOT_FOUND),
    "operator": dict.fromkeys(RPCS, OK),
}
PRINCIPALS = {"tenant A": TENANT_A.name, "tenant B": TENANT_B.name, "operator": "operator"}
TENANTS = {"tenant A": TENANT_A.tenant, "tenant B": TENANT_B.tenant, "operator": "default"}


def waiting_spec(name: str = "authz") -> agent_pb2.AgentSpec:
    """An agent whose first model call asks for a tool that waits for approval: it stays
    running, with a decision to take, until someone decides or cancels."""
    return agent_pb2.AgentSpec(
        name=name,
        input="may I think?",
        model="scripted:echo",
        parameters={"script": json.dumps([{"tool": "think", "args": {"thought": "hm"}}])},
        tools=[agent_pb2.ToolSpec(name="think", requires_approval=True)],
    )


def instant_spec() -> agent_pb2.AgentSpec:
    return agent_pb2.AgentSpec(name="quick", input="hi", model="scripted:echo")


Stub = agent_pb2_grpc.AgentServiceStub


@dataclass
class Callers:
    stubs: dict[str, Stub]
    started: list[str]
    """Runs the tests started that may still wait: cancelled at the end."""

    def __getitem__(self, caller: str) -> Stub:
        return self.stubs[caller]


@pytest.fixture(scope="module")
async def callers(stack: LocalStack) -> AsyncIterator[Callers]:
    """One stub per caller of the matrix (anonymous: no credential at all)."""
    channels = {
        "anonymous": stigma_channel(stack.stigma_address, StigmaTls()),
        **{caller: stack.stigma_channel(name) for caller, name in PRINCIPALS.items()},
    }
    callers = Callers(
        {caller: Stub(channel) for caller, channel in channels.items()},  # type: ignore[no-untyped-call]
        [],
    )
    try:
        yield callers
    finally:
        for execution_id in callers.started:
            await _code(
                callers["operator"].CancelExecution(
                    agent_pb2.CancelExecutionRequest(execution_id=execution_id)
                )
            )
        for channel in channels.values():
            await channel.close()


async def _code(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str]:
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return err.code(), err.details() or ""
    return OK, ""


async def _pending_approval(stub: Stub, execution_id: str) -> str:
    """The tool call id the run waits on, once it waits."""
    found: list[str] = []

    async def waiting() -> bool:
        reply = await stub.GetExecution(agent_pb2.GetExecutionRequest(execution_id=execution_id))
        found[:] = [p.tool_call_id for p in reply.execution.pending_approvals]
        return bool(found)

    await eventually(waiting, within=60)
    return found[0]


async def _waiting_run(callers: Callers, owner: str = "tenant A") -> tuple[str, str]:
    """A fresh run of ``owner`` that waits for an approval: (execution id, tool call id)."""
    ack = await callers[owner].StartAgent(
        agent_pb2.StartAgentRequest(request_id=unique("authz"), spec=waiting_spec())
    )
    callers.started.append(ack.execution_id)
    return ack.execution_id, await _pending_approval(callers[owner], ack.execution_id)


@pytest.fixture(scope="module")
async def run_of_a(callers: Callers) -> tuple[str, str]:
    return await _waiting_run(callers)


async def _watch_first(stub: Stub, execution_id: str) -> None:
    async for _ in stub.WatchExecution(agent_pb2.WatchExecutionRequest(execution_id=execution_id)):
        return


async def _phase(callers: Callers, execution_id: str) -> int:
    reply = await callers["tenant A"].GetExecution(
        agent_pb2.GetExecutionRequest(execution_id=execution_id)
    )
    return int(reply.execution.phase)


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.parametrize("caller", CALLERS)
async def test_the_authorization_matrix(
    caller: str, rpc: str, callers: Callers, run_of_a: tuple[str, str], client: Client
) -> None:
    stub, expected = callers[caller], MATRIX[caller][rpc]
    execution_id, tool_call_id = run_of_a
    if rpc in ("CancelExecution", "DecideToolCall"):
        execution_id, tool_call_id = await _waiting_run(callers)  # these change the run
    request_id = unique("authz-own")
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "StartAgent": lambda: stub.StartAgent(
            agent_pb2.StartAgentRequest(request_id=request_id, spec=instant_spec())
        ),
        "GetExecution": lambda: stub.GetExecution(
            agent_pb2.GetExecutionRequest(execution_id=execution_id)
        ),
        "WatchExecution": lambda: _watch_first(stub, execution_id),
        "CancelExecution": lambda: stub.CancelExecution(
            agent_pb2.CancelExecutionRequest(execution_id=execution_id, reason="matrix")
        ),
        "DecideToolCall": lambda: stub.DecideToolCall(
            agent_pb2.DecideToolCallRequest(
                execution_id=execution_id, tool_call_id=tool_call_id, approve=True
            )
        ),
    }
    code, details = await _code(calls[rpc]())
    assert code == expected, f"{caller} {rpc}: {code.name} {details}"
    if code == UNAUTHENTICATED:
        assert details == "no credentials: send an API key in 'x-api-key'"
    if code == NOT_FOUND:
        # Exactly what an unknown run answers: nothing tells that A's run exists.
        assert details == f"execution_id: no execution {execution_id}"
    if rpc == "StartAgent" and code == OK:
        owner = await client.get_workflow_handle(f"agent-{request_id}").describe()
        assert owner.typed_search_attributes.get(TENANT) == TENANTS[caller]
    if rpc in ("CancelExecution", "DecideToolCall") and code != OK:
        # A refused caller changed nothing: the run still waits for its decision.
        assert await _pending_approval(callers["tenant A"], execution_id) == tool_call_id
        assert await _phase(callers, execution_id) == agent_pb2.EXECUTION_PHASE_RUNNING


async def test_an_unknown_run_and_another_tenants_run_answer_alike(
    callers: Callers, run_of_a: tuple[str, str]
) -> None:
    unknown = f"agent-{unique('nobody')}"
    for execution_id in (unknown, run_of_a[0]):
        code, details = await _code(
            callers["tenant B"].GetExecution(
                agent_pb2.GetExecutionRequest(execution_id=execution_id)
            )
        )
        assert (code, details) == (NOT_FOUND, f"execution_id: no execution {execution_id}")


async def test_a_request_id_of_another_tenants_run_is_refused_and_attaches_nothing(
    callers: Callers, stack: LocalStack
) -> None:
    request_id = unique("taken")
    first = await callers["tenant A"].StartAgent(
        agent_pb2.StartAgentRequest(request_id=request_id, spec=waiting_spec())
    )
    code, details = await _code(
        callers["tenant B"].StartAgent(
            agent_pb2.StartAgentRequest(request_id=request_id, spec=waiting_spec())
        )
    )
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert details == (
        f"request_id: {request_id!r} is taken by another tenant's run; choose another request_id"
    )
    # Its owner and an operator replay it as ever.
    for caller in ("tenant A", "operator"):
        again = await callers[caller].StartAgent(
            agent_pb2.StartAgentRequest(request_id=request_id, spec=waiting_spec())
        )
        assert (again.execution_id, again.already_running) == (first.execution_id, True)
    await callers["operator"].CancelExecution(
        agent_pb2.CancelExecutionRequest(execution_id=first.execution_id)
    )


async def test_a_wrong_key_is_unauthenticated_without_echoing_it(stack: LocalStack) -> None:
    wrong = "not-a-key-of-this-stack-0123456789"
    async with grpc.aio.insecure_channel(stack.stigma_address) as channel:
        code, details = await _code(
            Stub(channel).GetExecution(  # type: ignore[no-untyped-call]
                agent_pb2.GetExecutionRequest(execution_id="agent-x"),
                metadata=(("x-api-key", wrong),),
            )
        )
    assert (code, details) == (UNAUTHENTICATED, "'x-api-key': unknown API key")


async def test_health_is_open_and_reflection_is_off(stack: LocalStack) -> None:
    async with grpc.aio.insecure_channel(stack.stigma_address) as channel:
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        call = reflection.ServerReflectionInfo()

        async def ask() -> None:
            # No request is written: a server without reflection refuses the stream at
            # once, and a write racing that refusal ended in the client's own INTERNAL
            # ("Internal error from Core") about 1 time in 5 on a loaded machine. Half-closed
            # and empty, a server with reflection ends the stream OK, which fails the test.
            await call.done_writing()
            await call.read()

        code, _ = await _code(ask())
    assert code == grpc.StatusCode.UNIMPLEMENTED


async def test_a_tenant_at_its_running_limit_is_refused_naming_it_and_replays_pass(
    stack: LocalStack, client: Client
) -> None:
    async with stack.stigma_channel(QUOTA_RUNNING.name) as channel:
        stub = Stub(channel)  # type: ignore[no-untyped-call]
        first = unique("quota")
        started = [
            await stub.StartAgent(agent_pb2.StartAgentRequest(request_id=rid, spec=waiting_spec()))
            for rid in [first, *(unique("quota") for _ in range(MAX_RUNNING - 1))]
        ]
        query = f"{TENANT_ATTRIBUTE} = '{QUOTA_RUNNING.tenant}' AND ExecutionStatus = 'Running'"

        async def all_visible() -> bool:
            return (await client.count_workflows(query)).count == MAX_RUNNING

        await eventually(all_visible)
        await asyncio.sleep(1.1)  # past STIGMA_API_ADMISSION_REFRESH: the count is re-read
        code, details = await _code(
            stub.StartAgent(
                agent_pb2.StartAgentRequest(request_id=unique("quota"), spec=waiting_spec())
            )
        )
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert details == (
            f"tenant {QUOTA_RUNNING.tenant}: {MAX_RUNNING} running agents, the limit is "
            f'{MAX_RUNNING} (STIGMA_API_TENANT_QUOTAS["{QUOTA_RUNNING.tenant}"].max_running): '
            "retry later"
        )
        replay = await stub.StartAgent(
            agent_pb2.StartAgentRequest(request_id=first, spec=waiting_spec())
        )
        assert (replay.execution_id, replay.already_running) == (started[0].execution_id, True)
        for ack in started:
            await stub.CancelExecution(
                agent_pb2.CancelExecutionRequest(execution_id=ack.execution_id)
            )

        async def admitted_again() -> bool:
            code, _ = await _code(
                stub.StartAgent(
                    agent_pb2.StartAgentRequest(request_id=unique("quota"), spec=instant_spec())
                )
            )
            return bool(code == OK)

        await eventually(admitted_again, every=0.5)


async def test_a_tenant_over_its_start_rate_is_refused_naming_it_and_replays_pass(
    stack: LocalStack,
) -> None:
    async with stack.stigma_channel(QUOTA_RATE.name) as channel:
        stub = Stub(channel)  # type: ignore[no-untyped-call]
        request_ids = [unique("rate") for _ in range(START_BURST)]
        for request_id in request_ids:
            await stub.StartAgent(
                agent_pb2.StartAgentRequest(request_id=request_id, spec=instant_spec())
            )
        code, details = await _code(
            stub.StartAgent(
                agent_pb2.StartAgentRequest(request_id=unique("rate"), spec=instant_spec())
            )
        )
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert details.startswith(
            f"tenant {QUOTA_RATE.tenant}: more than 0.2 StartAgent calls per second (bursts of "
            f'{START_BURST}), the limit of STIGMA_API_TENANT_QUOTAS["{QUOTA_RATE.tenant}"]'
            ".start_rate: retry in "
        )
        replay = await stub.StartAgent(
            agent_pb2.StartAgentRequest(request_id=request_ids[0], spec=instant_spec())
        )
        assert replay.already_running
    # Another tenant is not slowed down by this one.
    async with stack.stigma_channel(TENANT_B.name) as channel:
        other = Stub(channel)  # type: ignore[no-untyped-call]
        for _ in range(START_BURST + 1):
            await other.StartAgent(
                agent_pb2.StartAgentRequest(request_id=unique("rate-b"), spec=instant_spec())
            )


# --- JWT: a stack of its own -------------------------------------------------------------


@dataclass
class JwtStack:
    stack: LocalStack
    key: SigningKey
    jwks: Path
    worker_token: str


@pytest.fixture(scope="module")
async def jwt_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[JwtStack]:
    state = tmp_path_factory.mktemp("jwt-stack")
    key = SigningKey("idp-1")
    jwks = write_jwks(state / "jwks.json", key)
    worker_token = key.token("zigflow-worker", "default")
    token_file = state / "zigflow-worker.jwt"
    token_file.write_text(worker_token)
    token_file.chmod(0o600)
    async with own_stack(
        state,
        service_env={
            "stigma-api": jwt_settings(jwks),
            "zigflow-worker": {
                "ZIGFLOW_STIGMA_API_KEY_FILE": "",  # the JWT is the worker's credential
                "ZIGFLOW_STIGMA_JWT_FILE": str(token_file),
            },
        },
    ) as stack:
        yield JwtStack(stack, key, jwks, worker_token)


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def _get_as(stack: LocalStack, token: str, execution_id: str) -> tuple[grpc.StatusCode, str]:
    async with grpc.aio.insecure_channel(stack.stigma_address) as channel:
        return await _code(
            Stub(channel).GetExecution(  # type: ignore[no-untyped-call]
                agent_pb2.GetExecutionRequest(execution_id=execution_id), metadata=_bearer(token)
            )
        )


async def _agent_call(stack: LocalStack, text: str) -> str:
    caller = await start_dsl(stack.client, "agent-call", {"input": text, "model": "scripted:upper"})
    result: dict[str, Any] = await caller.result()
    assert result["output"] == text.upper()
    return str(result["execution_id"])


async def test_the_handshake_runs_with_a_jwt(jwt_stack: JwtStack) -> None:
    execution_id = await _agent_call(jwt_stack.stack, "sealed by a jwt")
    described = await jwt_stack.stack.client.get_workflow_handle(execution_id).describe()
    assert described.typed_search_attributes.get(TENANT) == "default"
    # Readable with a token of its tenant, invisible to another tenant's.
    key = jwt_stack.key
    assert (await _get_as(jwt_stack.stack, key.token("reader", "default"), execution_id))[0] == OK
    assert (await _get_as(jwt_stack.stack, key.token("eve", "tenant-a"), execution_id))[0] == (
        NOT_FOUND
    )
    operator = key.token("ops", "tenant-a", roles=("operator",))
    assert (await _get_as(jwt_stack.stack, operator, execution_id))[0] == OK


@pytest.mark.parametrize(
    ("token_of", "expected"),
    [
        (
            lambda key: key.token("eve", "default", valid_for=timedelta(minutes=-5)),
            "bearer token: has expired",
        ),
        (
            lambda key: key.token("eve", "default", aud="another-service"),
            "bearer token: audience is not 'stigma-api'",
        ),
        (
            lambda key: key.token("eve", "default", iss="https://evil.example/"),
            "bearer token: issuer is not 'https://id.agent-handshake.test/'",
        ),
        (
            lambda key: SigningKey(key.kid).token("eve", "default"),
            "bearer token: signature does not verify with the JWKS key",
        ),
        (
            lambda key: SigningKey("made-up").token("eve", "default"),
            "bearer token: unknown key id 'made-up' (not in the JWKS ",
        ),
    ],
    ids=["expired", "wrong audience", "wrong issuer", "bad signature", "unknown key id"],
)
async def test_a_bad_jwt_is_unauthenticated_saying_why(
    jwt_stack: JwtStack, token_of: Callable[[SigningKey], str], expected: str
) -> None:
    token = token_of(jwt_stack.key)
    code, details = await _get_as(jwt_stack.stack, token, "agent-x")
    assert code == UNAUTHENTICATED
    assert details.startswith(expected)
    assert token not in details


async def test_a_signing_key_rotated_into_the_jwks_is_accepted(jwt_stack: JwtStack) -> None:
    next_key = SigningKey("idp-2")
    write_jwks(jwt_stack.jwks, jwt_stack.key, next_key)

    async def accepted() -> bool:
        code, _ = await _get_as(
            jwt_stack.stack, next_key.token("reader", "default"), f"agent-{unique('x')}"
        )
        return bool(code == NOT_FOUND)  # authenticated: the unknown run is simply not found

    # An unknown key id re-reads the set at once (at most every 10 s).
    await eventually(accepted, within=30, every=1)


def _set_callback_keys(stack: LocalStack, service: str, keys: str) -> None:
    env = stack.services[service].env
    env.pop("CALLBACK_KEYS_FILE", None)
    env["CALLBACK_KEYS"] = keys


async def _restart(stack: LocalStack, service: str) -> None:
    await stack.stop_service(service)
    await stack.start_service(service)


async def test_the_callback_key_rotates_without_downtime_with_authentication_on(
    jwt_stack: JwtStack,
) -> None:
    """The README's procedure: add the new key everywhere, make it the signing key, then
    retire the old one; the handshake (with the worker's JWT) works at every step."""
    stack = jwt_stack.stack
    old = stack.callback_keys
    new = "rotated:" + "n" * 43
    _set_callback_keys(stack, "stigma-api", f"{old},{new}")
    await _restart(stack, "stigma-api")
    await _agent_call(stack, "both keys verify")
    _set_callback_keys(stack, "zigflow-worker", f"{new},{old}")
    await _restart(stack, "zigflow-worker")
    await _agent_call(stack, "the new key signs")
    _set_callback_keys(stack, "stigma-api", new)
    await _restart(stack, "stigma-api")
    await _agent_call(stack, "the old key is retired")
    workflow_id = unique("caller")
    request_id = caller_request_id(workflow_id=workflow_id, run_id="run", activity_id="1")
    retired = signed_token(old, workflow_id=workflow_id)
    async with stack.stigma_channel() as channel:
        code, details = await _code(
            Stub(channel).StartAgent(  # type: ignore[no-untyped-call]
                agent_pb2.StartAgentRequest(
                    request_id=request_id, spec=TOKEN_SPEC, callback_token=retired
                )
            )
        )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown key id 'local'" in details


async def test_no_credential_reaches_a_log_line(jwt_stack: JwtStack) -> None:
    stack = jwt_stack.stack
    wrong_key = "a-wrong-api-key-0123456789"
    async with grpc.aio.insecure_channel(stack.stigma_address) as channel:
        await _code(
            Stub(channel).GetExecution(  # type: ignore[no-untyped-call]
                agent_pb2.GetExecutionRequest(execution_id="agent-x"),
                metadata=(("x-api-key", wrong_key),),
            )
        )
    forged = SigningKey(jwt_stack.key.kid).token("eve", "default")
    await _get_as(stack, forged, "agent-x")
    await _agent_call(stack, "logged")
    secrets = [
        wrong_key,
        forged,
        jwt_stack.worker_token,
        *(stack.api_keys.key(name) for name in stack.api_keys.principals),
    ]
    logs = "".join(path.read_text() for path in (stack.config.state_dir / "logs").glob("*.log"))
    assert "refused /stigma.agent.v1.AgentService/GetExecution" in logs
    for secret in secrets:
        assert secret not in logs
        assert secret.split(".")[-1] not in logs  # not even a JWT's signature
