"""A callback token is a capability: it never reaches a log line or a read RPC."""

from __future__ import annotations

import base64
from datetime import timedelta

from temporalio.client import Client

from agent_contract import AgentRunInput, caller_request_id
from callback_token import CallbackSigner, KeyRing
from devstack import LocalStack
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from tests.support import eventually, start_dsl, unique


def _forms(secret: bytes) -> list[bytes]:
    return [
        secret,
        secret.hex().encode(),
        base64.b64encode(secret),
        base64.urlsafe_b64encode(secret),
        base64.b64encode(secret).rstrip(b"="),
    ]


async def _agent_task_token(client: Client, execution_id: str) -> bytes:
    """The caller's real task token, as the agent workflow holds it in its input."""
    handle = client.get_workflow_handle(execution_id)
    async for event in handle.fetch_history_events():
        attributes = event.workflow_execution_started_event_attributes
        if attributes.input.payloads:
            (run,) = await client.data_converter.decode(attributes.input.payloads, [AgentRunInput])
            assert isinstance(run, AgentRunInput)
            assert run.callback is not None
            return base64.b64decode(run.callback.task_token_b64)
    raise AssertionError("no start event")


async def test_tokens_never_appear_in_logs_or_reads(
    stack: LocalStack, client: Client, stigma: agent_pb2_grpc.AgentServiceStub
) -> None:
    # A real handshake through Zigflow ...
    handle = await start_dsl(client, "agent-call", {"input": "keep it secret"})
    result = await handle.result()
    task_token = await _agent_task_token(client, result["execution_id"])

    # ... and a token we hand over ourselves, so the exact envelope bytes are known.
    own_task_token = b"task-token-" + unique("secret").encode()
    spec = agent_pb2.AgentSpec(input="hello", model="scripted:echo")
    outsider = unique("outsider")
    request_id = caller_request_id(workflow_id=outsider, run_id="run", activity_id="1")
    envelope = CallbackSigner(KeyRing.parse(stack.callback_keys)).sign(
        namespace="default",
        workflow_id=outsider,
        run_id="run",
        activity_id="1",
        attempt=1,
        task_token=own_task_token,
        request_id=request_id,
        spec=spec,
        valid_for=timedelta(minutes=5),
    )
    ack = await stigma.StartAgent(
        agent_pb2.StartAgentRequest(request_id=request_id, spec=spec, callback_token=envelope)
    )

    async def delivered_or_stale() -> bool:
        reply = await stigma.GetExecution(
            agent_pb2.GetExecutionRequest(execution_id=ack.execution_id)
        )
        return reply.execution.callback_state in ("delivered", "stale")

    await eventually(delivered_or_stale)

    reads = [
        (
            await stigma.GetExecution(agent_pb2.GetExecutionRequest(execution_id=eid))
        ).SerializeToString()
        for eid in (ack.execution_id, result["execution_id"])
    ]
    logs = [path.read_bytes() for path in (stack.config.state_dir / "logs").glob("*.log")]
    assert len(logs) >= 5
    for secret in (task_token, own_task_token, envelope):
        for form in _forms(secret):
            for text in [*logs, *reads]:
                assert form not in text
