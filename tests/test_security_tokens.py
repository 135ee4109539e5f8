"""Issue 13's attacks on the callback token, through real processes, each with its refusal
(docs/security.md, docs/adr/0013).

The attacker holds what the issue gave them: a victim's envelope (captured), or the signing
key itself (read from a DSL document before the key left the zigflow-worker's environment)
and the victim's ids (read through Temporal's UI API). What held before must keep holding:
forged, edited, expired, rotated-out, future-dated and other-namespace envelopes are
INVALID_ARGUMENT, and a garbage task token in a valid envelope ends ``stale``.
"""

from __future__ import annotations

import base64
import json
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from agent_contract import AgentRunInput, caller_request_id, execution_id_for
from devstack import LocalStack
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from stigma.agent.v1.callback_pb2 import CallbackTarget, SignedCallback
from stigma_wire import spec_to_proto
from tests.support import TOKEN_SPEC, eventually, history_events, signed_token, start_dsl, unique

ATTACKER_SPEC = agent_pb2.AgentSpec(name="mallory", input="attacker data", model="scripted:echo")


# -- a victim's call: http, held until the test lets it answer --------------------------------


@dataclass
class HeldServer:
    """An HTTP endpoint that answers only when released (the victim's CallHttp stays pending)."""

    base: str
    released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def held() -> Iterator[HeldServer]:
    released = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output clean."""

        def do_GET(self) -> None:
            released.wait(timeout=120)
            payload = json.dumps({"genuine": True, "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    server = HeldServer(base=f"http://127.0.0.1:{httpd.server_address[1]}", released=released)
    try:
        yield server
    finally:
        released.set()
        httpd.shutdown()
        httpd.server_close()


async def _pending_activity(
    handle: WorkflowHandle[Any, Any], kind: str
) -> tuple[str, PendingActivityInfo]:
    """The run id and the pending activity of type ``kind``, once Temporal shows it."""
    found: list[tuple[str, PendingActivityInfo]] = []

    async def pending() -> bool:
        description = await handle.describe()
        for activity in description.raw_description.pending_activities:
            if activity.activity_type.name == kind:
                found.append((description.run_id, activity))
                return True
        return False

    await eventually(pending, within=60)
    return found[-1]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


async def _hand_built_task_token(
    client: Client, handle: WorkflowHandle[Any, Any], run_id: str, activity: PendingActivityInfo
) -> bytes:
    """A Temporal task token for someone else's activity, built from what Temporal's API
    shows (namespace id, ids, scheduled event id): before issue 13, Stigma completed the
    activity it names when it came inside a validly signed envelope."""
    namespace = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=client.namespace)
    )
    (scheduled,) = [
        event
        for event in await history_events(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        if event.activity_task_scheduled_event_attributes.activity_id == activity.activity_id
    ]
    return (
        _bytes_field(1, namespace.namespace_info.id.encode())
        + _bytes_field(2, handle.id.encode())
        + _bytes_field(3, run_id.encode())
        + _varint(4 << 3)
        + _varint(scheduled.event_id)
        + _varint(5 << 3)
        + _varint(activity.attempt)
        + _bytes_field(6, activity.activity_id.encode())
        + _bytes_field(8, activity.activity_type.name.encode())
    )


async def _finished(
    stigma: agent_pb2_grpc.AgentServiceStub, execution_id: str
) -> agent_pb2.Execution:
    """The execution once it ended and its callback was decided (delivered, stale, refused)."""
    seen: list[agent_pb2.Execution] = []

    async def decided() -> bool:
        reply = await stigma.GetExecution(agent_pb2.GetExecutionRequest(execution_id=execution_id))
        seen.append(reply.execution)
        return reply.execution.callback_state in ("delivered", "stale", "refused", "error")

    await eventually(decided, within=60)
    return seen[-1]


async def _refusal(
    stigma: agent_pb2_grpc.AgentServiceStub, request: agent_pb2.StartAgentRequest
) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stigma.StartAgent(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = caught.value.details() or ""
    assert details.startswith("callback_token") or "callback_token" in details
    return details


async def _never_started(client: Client, request_id: str) -> None:
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(execution_id_for(request_id)).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


# -- tokens bound to their call ------------------------------------------------------------------


@dataclass
class VictimCall:
    handle: WorkflowHandle[Any, Any]
    request_id: str
    envelope: bytes
    """The victim's envelope as Zigflow signed it (bound to its request id and spec)."""
    spec: agent_pb2.AgentSpec


@pytest.fixture
async def victim_call(stack: LocalStack, client: Client) -> VictimCall:
    """A victim's agent call that stays pending for a few seconds, and its envelope."""
    handle = await start_dsl(
        client,
        "agent-call",
        {"input": "victim's own question", "parameters": {"delay_ms": "4000"}},
    )
    run_id, activity = await _pending_activity(handle, "CallAgent")
    request_id = caller_request_id(
        workflow_id=handle.id, run_id=run_id, activity_id=activity.activity_id
    )
    execution = client.get_workflow_handle(execution_id_for(request_id))

    async def started() -> bool:
        try:
            await execution.describe()
        except RPCError:
            return False
        return True

    await eventually(started)
    run_input = await _run_input(client, execution_id_for(request_id))
    assert run_input.callback is not None
    # What the attacker captured: the envelope Zigflow sent (signed the same way here, with
    # the victim's real task token, request id and spec).
    spec = spec_to_proto(run_input.spec)
    envelope = signed_token(
        stack.callback_keys,
        workflow_id=handle.id,
        run_id=run_id,
        activity_id=activity.activity_id,
        attempt=activity.attempt,
        task_token=base64.b64decode(run_input.callback.task_token_b64),
        spec=spec,
    )
    return VictimCall(handle=handle, request_id=request_id, envelope=envelope, spec=spec)


async def _run_input(client: Client, execution_id: str) -> AgentRunInput:
    handle = client.get_workflow_handle(execution_id)
    async for event in handle.fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        (run,) = await client.data_converter.decode(payloads, [AgentRunInput])
        assert isinstance(run, AgentRunInput)
        return run
    raise AssertionError(f"{execution_id} has no start event")


async def test_a_victims_envelope_with_another_request_id_or_spec_is_refused(
    victim_call: VictimCall, stigma: agent_pb2_grpc.AgentServiceStub, client: Client
) -> None:
    stolen = unique("mallory")
    details = await _refusal(
        stigma,
        agent_pb2.StartAgentRequest(
            request_id=stolen, spec=ATTACKER_SPEC, callback_token=victim_call.envelope
        ),
    )
    assert "request_id" in details
    await _never_started(client, stolen)

    # The victim's own request id, another spec: the token is bound to the victim's spec.
    details = await _refusal(
        stigma,
        agent_pb2.StartAgentRequest(
            request_id=victim_call.request_id,
            spec=ATTACKER_SPEC,
            callback_token=victim_call.envelope,
        ),
    )
    assert "spec" in details

    # The premise holds: with its own request id and spec, the envelope is accepted (a
    # replay of the victim's own call re-attaches to its own run).
    replay = await stigma.StartAgent(
        agent_pb2.StartAgentRequest(
            request_id=victim_call.request_id,
            spec=victim_call.spec,
            callback_token=victim_call.envelope,
        )
    )
    assert replay.already_running

    # The victim receives its own agent's output, not the attacker's.
    result = await victim_call.handle.result()
    assert "attacker" not in json.dumps(result)
    assert "victim's own question" in json.dumps(result)


async def test_a_forged_envelope_for_a_victims_call_agent_with_another_request_id_is_refused(
    victim_call: VictimCall,
    stack: LocalStack,
    stigma: agent_pb2_grpc.AgentServiceStub,
    client: Client,
) -> None:
    # The attacker signs their own envelope (they hold the key) naming the victim's
    # CallAgent, bound to the attacker's own request id and spec.
    target = CallbackTarget.FromString(SignedCallback.FromString(victim_call.envelope).target)
    own = unique("mallory")
    forged = signed_token(
        stack.callback_keys,
        workflow_id=target.workflow_id,
        run_id=target.run_id,
        activity_id=target.activity_id,
        attempt=target.attempt,
        task_token=target.task_token,
        request_id=own,
        spec=ATTACKER_SPEC,
    )
    details = await _refusal(
        stigma,
        agent_pb2.StartAgentRequest(request_id=own, spec=ATTACKER_SPEC, callback_token=forged),
    )
    assert "request_id is not the request id" in details
    await _never_started(client, own)

    # Bound to the victim's request id instead: that id's run exists with the victim's spec.
    forged = signed_token(
        stack.callback_keys,
        workflow_id=target.workflow_id,
        run_id=target.run_id,
        activity_id=target.activity_id,
        attempt=target.attempt,
        task_token=target.task_token,
        spec=ATTACKER_SPEC,
    )
    details = await _refusal(
        stigma,
        agent_pb2.StartAgentRequest(
            request_id=victim_call.request_id, spec=ATTACKER_SPEC, callback_token=forged
        ),
    )
    assert "another spec" in details

    result = await victim_call.handle.result()
    assert "attacker" not in json.dumps(result)


# -- Stigma completes only CallAgent activities of the signed caller ------------------------


async def test_a_forged_envelope_naming_a_victims_call_http_completes_nothing(
    held: HeldServer, stack: LocalStack, stigma: agent_pb2_grpc.AgentServiceStub, client: Client
) -> None:
    victim = await start_dsl(client, "dsl-http-error", {"url": f"{held.base}/victim"})
    run_id, call_http = await _pending_activity(victim, "CallHttp")
    # The attack: a hand-built task token for the victim's CallHttp, in an envelope
    # signed with the (leaked) key, bound to the request id its ids make and to the
    # attacker's spec, so that stigma-api accepts it.
    token = await _hand_built_task_token(client, victim, run_id, call_http)
    request_id = caller_request_id(
        workflow_id=victim.id, run_id=run_id, activity_id=call_http.activity_id
    )
    forged = signed_token(
        stack.callback_keys,
        workflow_id=victim.id,
        run_id=run_id,
        activity_id=call_http.activity_id,
        attempt=call_http.attempt,
        task_token=token,
        request_id=request_id,
        spec=ATTACKER_SPEC,
    )
    ack = await stigma.StartAgent(
        agent_pb2.StartAgentRequest(
            request_id=request_id, spec=ATTACKER_SPEC, callback_token=forged
        )
    )

    execution = await _finished(stigma, ack.execution_id)
    assert execution.phase == agent_pb2.EXECUTION_PHASE_COMPLETED
    assert execution.callback_state == "refused"
    assert not execution.callback_delivered
    # The victim's CallHttp is untouched: still pending, nothing completed it.
    _, still = await _pending_activity(victim, "CallHttp")
    assert still.activity_id == call_http.activity_id
    assert not await history_events(victim, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)

    held.release()
    result = await victim.result()
    assert "attacker" not in json.dumps(result)
    assert result["genuine"] is True


async def test_a_garbage_task_token_in_a_valid_envelope_ends_stale_with_nothing_stuck(
    stack: LocalStack, stigma: agent_pb2_grpc.AgentServiceStub, client: Client
) -> None:
    caller = unique("nobody")
    request_id = caller_request_id(workflow_id=caller, run_id="run", activity_id="1")
    token = signed_token(stack.callback_keys, workflow_id=caller, task_token=b"\x00garbage\xff" * 4)
    ack = await stigma.StartAgent(
        agent_pb2.StartAgentRequest(request_id=request_id, spec=TOKEN_SPEC, callback_token=token)
    )
    execution = await _finished(stigma, ack.execution_id)
    assert execution.callback_state == "stale"
    assert execution.phase == agent_pb2.EXECUTION_PHASE_COMPLETED
    # Nothing stuck: the agent workflow is closed.
    description = await client.get_workflow_handle(ack.execution_id).describe()
    assert description.close_time is not None


# -- what held keeps holding -------------------------------------------------------------------


def _edited(keys: str) -> bytes:
    signed = SignedCallback.FromString(signed_token(keys))
    target = CallbackTarget.FromString(signed.target)
    target.workflow_id = "someone-elses-workflow"
    return SignedCallback(
        target=target.SerializeToString(deterministic=True),
        key_id=signed.key_id,
        signature=signed.signature,
    ).SerializeToString()


HELD: dict[str, tuple[Callable[[str], bytes], str]] = {
    "forged with the attacker's own key": (
        lambda keys: signed_token("mallory:an-attackers-own-secret-key"),
        "unknown key id 'mallory'",
    ),
    "edited": (_edited, "signature does not match"),
    "expired": (
        lambda keys: signed_token(keys, now=datetime.now(UTC) - timedelta(hours=2)),
        "expired",
    ),
    "rotated out": (
        lambda keys: signed_token("retired:a-key-removed-from-the-ring-0123"),
        "unknown key id 'retired'",
    ),
    "future-dated": (
        lambda keys: signed_token(keys, now=datetime.now(UTC) + timedelta(hours=1)),
        "issued in the future",
    ),
    "other namespace": (
        lambda keys: signed_token(keys, namespace="someone-elses-namespace"),
        "which this server does not serve",
    ),
}


@pytest.mark.parametrize("case", list(HELD))
async def test_what_held_keeps_holding(
    case: str, stack: LocalStack, stigma: agent_pb2_grpc.AgentServiceStub, client: Client
) -> None:
    make, expected = HELD[case]
    request_id = caller_request_id(workflow_id="caller", run_id="run", activity_id="1")
    details = await _refusal(
        stigma,
        agent_pb2.StartAgentRequest(
            request_id=request_id, spec=TOKEN_SPEC, callback_token=make(stack.callback_keys)
        ),
    )
    assert expected in details


# -- small leaks ---------------------------------------------------------------------------------


async def test_invalid_utf8_is_invalid_argument_naming_the_field(stack: LocalStack) -> None:
    request = agent_pb2.StartAgentRequest(
        request_id=unique("utf8"), spec=agent_pb2.AgentSpec(input="x", model="scripted:echo")
    ).SerializeToString()
    # spec (field 2) with an input (field 3) that is not UTF-8.
    bad = request + _bytes_field(2, _bytes_field(3, b"caf\xe9"))
    async with grpc.aio.insecure_channel(stack.stigma_address) as channel:
        start = channel.unary_unary("/stigma.agent.v1.AgentService/StartAgent")
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await start(bad, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "spec.input: is not valid UTF-8"


async def test_no_document_reads_the_signing_key_or_a_secret_from_the_environment(
    stack: LocalStack, client: Client
) -> None:
    # $ENV and env are refused when the definition loads (docs/dsl.md, "Expression
    # sandbox"): the worker names the expression and serves the other documents, and a run
    # of the refused type never executes a task.
    log = (stack.config.state_dir / "logs" / "zigflow-worker.log").read_text()
    assert (
        "security-env.yaml:12: $.do[0].read.set.key: '$ENV' is not allowed in an expression" in log
    )
    handle = await start_dsl(client, "security-env", {})

    async def task_failed() -> bool:
        return bool(await history_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED))

    await eventually(task_failed)
    (failed,) = (await history_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED))[:1]
    assert "security-env" in failed.workflow_task_failed_event_attributes.failure.message
    await handle.terminate("test done")


async def test_the_state_folder_and_its_files_are_private(stack: LocalStack) -> None:
    state = stack.config.state_dir
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    files = [
        state / "callback-keys",
        *state.glob("temporal.db*"),
        *(state / "logs").glob("*.log"),
    ]
    assert len(files) >= 6
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((state / "logs").stat().st_mode) == 0o700


async def test_a_core_log_line_about_an_activity_carries_no_task_token(
    held: HeldServer, stack: LocalStack, client: Client
) -> None:
    victim = await start_dsl(client, "dsl-http-error", {"url": f"{held.base}/late"})
    run_id, call_http = await _pending_activity(victim, "CallHttp")
    token_prefix = await _hand_built_task_token(client, victim, run_id, call_http)
    # An operator finishes the CallHttp by hand; when the worker's own call then answers,
    # Temporal refuses its completion and the SDK core logs a WARN line that names the
    # activity by its task token ("Activity not found on completion").
    await client.get_async_activity_handle(
        workflow_id=victim.id, run_id=run_id, activity_id=call_http.activity_id
    ).complete({"content": "finished by an operator"})
    held.release()
    log = stack.config.state_dir / "logs" / "zigflow-worker.log"

    def core_lines() -> list[dict[str, Any]]:
        lines = []
        for line in log.read_text(errors="replace").splitlines():
            if "Activity not found on completion" in line and line.startswith("{"):
                lines.append(json.loads(line))
        return lines

    async def logged() -> bool:
        return bool(core_lines())

    await eventually(logged, within=60)
    entry = core_lines()[-1]
    assert entry["logger"].startswith("temporalio.core")
    assert len(entry["core_fields"]["task_token_fp"]) == 12
    # The token's first 60 bytes (namespace id, workflow id, run id: the real token starts
    # like the hand-built one), in the forms core prints (base64) and a hex dump would.
    prefix = token_prefix[:60]
    text = "".join(path.read_text(errors="replace") for path in log.parent.glob("*.log"))
    for form in (base64.b64encode(prefix).decode(), prefix.hex()):
        assert form not in text
    assert '"task_token":' not in text
