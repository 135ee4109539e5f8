"""Tool calls that wait for an operator: list them, approve or reject them.

Listing reads Temporal's visibility (runs with ``StigmaPendingApprovals`` > 0) and each
run's status; deciding goes through stigma-api's DecideToolCall, like any API caller, so
the run itself validates the decision (an unknown or already decided call is refused).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import grpc
from temporalio.client import Client

from agent_contract import (
    PENDING_APPROVALS_QUERY,
)
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from stigma_wire import CallerCredentials, credential_interceptors
from stigmactl._statuses import Unreadable, read_statuses

DECIDE_TIMEOUT = timedelta(seconds=10)
QUERY = PENDING_APPROVALS_QUERY


@dataclass(frozen=True)
class WaitingCall:
    execution_id: str
    tool_call_id: str
    tool: str
    arguments: str
    requested_at: str


@dataclass(frozen=True)
class WaitingCalls:
    calls: list[WaitingCall]
    unreadable: list[Unreadable]
    """Runs waiting for a decision whose status could not be read: ``calls`` lacks theirs."""


async def waiting_calls(client: Client) -> WaitingCalls:
    statuses = await read_statuses(client, QUERY)
    found = [
        WaitingCall(
            execution_id=status.execution_id,
            tool_call_id=pending.tool_call_id,
            tool=pending.tool,
            arguments=pending.arguments,
            requested_at=pending.requested_at,
        )
        for _, status in statuses.read
        for pending in status.pending_approvals
    ]
    return WaitingCalls(found, statuses.unreadable)


@dataclass(frozen=True)
class StigmaEndpoint:
    """stigma-api, as stigmactl reaches it (``--stigma-address``, ``--stigma-ca``, and the
    caller's credential: ``--stigma-api-key-file`` or ``--stigma-jwt-file``)."""

    address: str
    ca_path: Path | None = None
    credentials: CallerCredentials = field(default_factory=CallerCredentials)


async def decide(
    endpoint: StigmaEndpoint, *, execution_id: str, tool_call_id: str, approve: bool, reason: str
) -> agent_pb2.Execution:
    """DecideToolCall; grpc.aio.AioRpcError says why stigma-api refused. Raises
    stigma_wire.CredentialsError when the credential file cannot be read."""
    interceptors = credential_interceptors(endpoint.credentials)
    if endpoint.ca_path is None:
        channel = grpc.aio.insecure_channel(endpoint.address, interceptors=interceptors)
    else:
        credentials = grpc.ssl_channel_credentials(endpoint.ca_path.read_bytes())
        channel = grpc.aio.secure_channel(endpoint.address, credentials, interceptors=interceptors)
    async with channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
        response = await stub.DecideToolCall(
            agent_pb2.DecideToolCallRequest(
                execution_id=execution_id,
                tool_call_id=tool_call_id,
                approve=approve,
                reason=reason,
            ),
            timeout=DECIDE_TIMEOUT.total_seconds(),
        )
    execution: agent_pb2.Execution = response.execution
    return execution
