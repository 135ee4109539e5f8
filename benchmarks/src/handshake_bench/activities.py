"""Activities of the baseline workflows (run in the benchmark process)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.exceptions import ApplicationError

from handshake_bench.workflows import (
    BARE_ACTIVITY,
    BLOCKING_ACTIVITY,
    NOOP_ACTIVITY,
    POLL_ACTIVITY,
    START_ACTIVITY,
)
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc

_DONE = (
    agent_pb2.EXECUTION_PHASE_COMPLETED,
    agent_pb2.EXECUTION_PHASE_FAILED,
    agent_pb2.EXECUTION_PHASE_CANCELLED,
)


@dataclass
class RpcCounter:
    """Counts the RPCs each design sends to Stigma."""

    calls: dict[str, int] = field(default_factory=dict)

    def add(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1


class BenchActivities:
    def __init__(self, stub: agent_pb2_grpc.AgentServiceStub, rpcs: RpcCounter) -> None:
        self._stub = stub
        self._rpcs = rpcs
        self.tokens: asyncio.Queue[bytes] = asyncio.Queue()

    @activity.defn(name=BARE_ACTIVITY)
    async def bare_pending(self, payload: str) -> str:
        await self.tokens.put(activity.info().task_token)
        activity.raise_complete_async()

    @activity.defn(name=NOOP_ACTIVITY)
    async def noop(self, step: int) -> int:
        return step

    @activity.defn(name=START_ACTIVITY)
    async def start_agent(self, delay_ms: int) -> str:
        self._rpcs.add("StartAgent")
        ack = await self._stub.StartAgent(
            agent_pb2.StartAgentRequest(
                request_id=f"bench-{uuid.uuid4().hex}",
                spec=agent_pb2.AgentSpec(
                    input="bench", model="scripted:echo", parameters={"delay_ms": str(delay_ms)}
                ),
            )
        )
        return str(ack.execution_id)

    @activity.defn(name=BLOCKING_ACTIVITY)
    async def wait_blocking(self, execution_id: str) -> str:
        self._rpcs.add("WatchExecution")
        request = agent_pb2.WatchExecutionRequest(execution_id=execution_id)
        async for update in self._stub.WatchExecution(request):
            activity.heartbeat()
            if update.execution.phase in _DONE:
                return str(update.execution.output)
        raise ApplicationError("watch ended before the agent did")

    @activity.defn(name=POLL_ACTIVITY)
    async def poll_once(self, execution_id: str) -> str:
        self._rpcs.add("GetExecution")
        reply = await self._stub.GetExecution(
            agent_pb2.GetExecutionRequest(execution_id=execution_id)
        )
        if reply.execution.phase in _DONE:
            return str(reply.execution.output)
        raise ApplicationError("agent still running", type="StillRunning")
