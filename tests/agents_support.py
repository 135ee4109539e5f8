"""The agents suite's stack: its own processes, pointed at the model and MCP doubles.

The ai-worker reaches an OpenAI- and Anthropic-compatible server started by the tests
(tests/doubles), the operator's MCP configuration names one stdio and one streamable-HTTP
MCP server, a price table makes cost budgets testable, and long runs continue as new
after 1,000 history events so a few hundred steps exercise it.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack import LocalStack
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from tests.doubles import McpHttpServer, ModelServer, mcp_stdio_command
from tests.reliability_support import own_stack

API_KEY = "sk-test-double"
OPENAI_MODEL = "openai:gpt-4o-mini"
ANTHROPIC_MODEL = "anthropic:claude-haiku-4-5"
# An absurd price, so a budget of cents runs out after one small call.
PRICE_PER_MTOK = "5000"
CONTINUE_AS_NEW_AFTER_EVENTS = 1000
TERMINAL = (
    agent_pb2.EXECUTION_PHASE_COMPLETED,
    agent_pb2.EXECUTION_PHASE_FAILED,
    agent_pb2.EXECUTION_PHASE_CANCELLED,
)


def mcp_config(state: Path, http: McpHttpServer) -> Path:
    stdio = mcp_stdio_command()
    path = state / "mcp.json"
    path.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "facts": {"command": stdio.command, "args": stdio.args, "cwd": str(stdio.cwd)},
                    "calc": {"url": http.url},
                    "guarded": {"url": http.url, "requireApproval": True},
                }
            }
        )
    )
    return path


def price_table(state: Path) -> Path:
    path = state / "prices.json"
    price = {"input_usd_per_mtok": PRICE_PER_MTOK, "output_usd_per_mtok": PRICE_PER_MTOK}
    path.write_text(json.dumps({OPENAI_MODEL: price, "scripted:echo": price}))
    return path


@asynccontextmanager
async def agents_stack(
    state: Path, models: ModelServer, mcp: McpHttpServer
) -> AsyncIterator[LocalStack]:
    config = str(mcp_config(state, mcp))
    env = {
        "ai-worker": {
            "OPENAI_BASE_URL": models.openai_base_url,
            "OPENAI_API_KEY": API_KEY,
            "ANTHROPIC_BASE_URL": models.anthropic_base_url,
            "ANTHROPIC_API_KEY": API_KEY,
            "STIGMA_MCP_CONFIG": config,
        },
        "stigma-orchestrator": {
            "STIGMA_MCP_CONFIG": config,
            "STIGMA_ORCHESTRATOR_PRICE_TABLE": str(price_table(state)),
            "STIGMA_ORCHESTRATOR_CONTINUE_AS_NEW_AFTER_EVENTS": str(CONTINUE_AS_NEW_AFTER_EVENTS),
            # The streamed partial output reaches the caller at every beat, not every 6th:
            # a 15 s stream under a 10 s heartbeat timeout would fall between two reads.
            "STIGMA_ORCHESTRATOR_CALLER_PROGRESS_EVERY": "1",
        },
        "stigma-api": {"STIGMA_MCP_CONFIG": config},
    }
    async with own_stack(state, service_env=env) as stack:
        # stigmactl approve|reject, run by this stack's operator (what `make up` prints).
        variable = "STIGMACTL_STIGMA_API_KEY_FILE"
        before = os.environ.get(variable)
        os.environ[variable] = str(stack.api_keys.key_file("operator"))
        try:
            yield stack
        finally:
            if before is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = before


@dataclass
class Agents:
    """stigma-api as an API caller uses it (fire-and-forget runs, reads, decisions)."""

    stub: agent_pb2_grpc.AgentServiceStub

    async def start(self, spec: agent_pb2.AgentSpec) -> str:
        response = await self.stub.StartAgent(
            agent_pb2.StartAgentRequest(request_id=uuid.uuid4().hex, spec=spec)
        )
        return str(response.execution_id)

    async def get(self, execution_id: str) -> agent_pb2.Execution:
        reply = await self.stub.GetExecution(
            agent_pb2.GetExecutionRequest(execution_id=execution_id)
        )
        execution: agent_pb2.Execution = reply.execution
        return execution

    async def wait(
        self, execution_id: str, *, until: Any = None, within: float = 120.0
    ) -> agent_pb2.Execution:
        """The execution once ``until(execution)`` holds (default: it ended)."""
        check = until or (lambda e: e.phase in TERMINAL)
        async with asyncio.timeout(within):
            while True:
                execution = await self.get(execution_id)
                if check(execution):
                    return execution
                await asyncio.sleep(0.1)

    async def run(self, spec: agent_pb2.AgentSpec, *, within: float = 120.0) -> agent_pb2.Execution:
        return await self.wait(await self.start(spec), within=within)

    async def decide(
        self, execution_id: str, tool_call_id: str, *, approve: bool, reason: str = ""
    ) -> agent_pb2.Execution:
        reply = await self.stub.DecideToolCall(
            agent_pb2.DecideToolCallRequest(
                execution_id=execution_id,
                tool_call_id=tool_call_id,
                approve=approve,
                reason=reason,
            )
        )
        execution: agent_pb2.Execution = reply.execution
        return execution


@asynccontextmanager
async def agents_api(stack: LocalStack) -> AsyncIterator[Agents]:
    async with stack.stigma_channel() as channel:
        yield Agents(agent_pb2_grpc.AgentServiceStub(channel))  # type: ignore[no-untyped-call]


def tools(*names: str, approval: tuple[str, ...] = ()) -> list[agent_pb2.ToolSpec]:
    return [agent_pb2.ToolSpec(name=name, requires_approval=name in approval) for name in names]


def model_steps(execution: agent_pb2.Execution) -> list[agent_pb2.AgentStep]:
    return [step for step in execution.steps if step.kind == agent_pb2.STEP_KIND_MODEL]


def tool_steps(execution: agent_pb2.Execution) -> list[agent_pb2.AgentStep]:
    return [step for step in execution.steps if step.kind == agent_pb2.STEP_KIND_TOOL]
