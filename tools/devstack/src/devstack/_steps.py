"""``make demo`` prints the agent's steps as they happen, through stigma-api's
WatchExecution: what an API client of Stigma sees (authenticated as the stack's
operator), not a peek into Temporal."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TextIO

import grpc
from temporalio.client import Client

from agent_contract import AGENT_WORKFLOW
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc

FIND_WITHIN = 60.0
LINE_CHARS = 96


async def _execution_of(client: Client, caller_id: str) -> str:
    """The agent execution a caller workflow started (its id starts with the caller's)."""
    query = f"WorkflowType = '{AGENT_WORKFLOW}' AND WorkflowId STARTS_WITH 'agent-{caller_id}/'"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FIND_WITHIN
    while loop.time() < deadline:
        async for execution in client.list_workflows(query):
            return execution.id
        await asyncio.sleep(0.2)
    raise TimeoutError(f"no agent execution of {caller_id} within {FIND_WITHIN:.0f}s")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 1] + "…"


def describe_step(step: agent_pb2.AgentStep) -> str:
    took = ""
    if step.HasField("started_at") and step.HasField("finished_at"):
        seconds = (step.finished_at.ToDatetime() - step.started_at.ToDatetime()).total_seconds()
        took = f" ({seconds:.1f}s)"
    if step.kind == agent_pb2.STEP_KIND_TOOL:
        return (
            f"  step {step.index:>2}  tool   {step.tool}({_short(step.arguments)}) "
            f"-> {step.outcome}: {_short(step.message)}{took}"
        )
    tokens = f" [{step.input_tokens} in / {step.output_tokens} out tokens]"
    return f"  step {step.index:>2}  model  {_short(step.message)}{took}{tokens}"


async def print_steps(
    client: Client, stigma: Callable[[], grpc.aio.Channel], caller_id: str, out: TextIO
) -> None:
    """Print each step of the caller's agent as it ends, until the agent ends; ``stigma``
    opens an authenticated channel to stigma-api (``LocalStack.stigma_channel``)."""
    execution_id = await _execution_of(client, caller_id)
    out.write(f"agent {execution_id}\n")
    printed = -1
    async with stigma() as channel:
        stub = agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
        stream = stub.WatchExecution(agent_pb2.WatchExecutionRequest(execution_id=execution_id))
        with contextlib.suppress(grpc.aio.AioRpcError):
            async for update in stream:
                for step in update.execution.steps:
                    if step.index > printed:
                        out.write(describe_step(step) + "\n")
                        printed = step.index
                out.flush()
