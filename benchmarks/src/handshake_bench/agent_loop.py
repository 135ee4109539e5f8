"""Issue 11: what the agent loop itself costs per step, model time excluded.

A scripted agent with no model delay and the ``think`` tool runs turns of two steps (a model
call, a tool call), each an activity on the ai-worker. A step's cost is the gap between two
consecutive activities being scheduled in the agent's history: the round trip through the
task queue, the ai-worker's activity, the agent loop's workflow task. The same gap in
``BareSteps`` (no-op activities on another task queue, served by a second worker of this
process, like the ai-worker's; same server, same run) is the floor of any activity-per-step
design on this machine: the ratio says what the agent loop adds to it.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from devstack import LocalStack
from handshake_bench.activities import BenchActivities
from handshake_bench.stats import summary
from handshake_bench.workflows import NOOP_QUEUE, BareSteps
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc

BARE_QUEUE = "bench-steps"


async def _scheduled_gaps_ms(handle: WorkflowHandle[Any, Any]) -> list[float]:
    times = [
        event.event_time.ToDatetime()
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    return [(b - a).total_seconds() * 1000 for a, b in itertools.pairwise(times)]


async def _agent(stub: agent_pb2_grpc.AgentServiceStub, client: Client, turns: int) -> list[float]:
    ack = await stub.StartAgent(
        agent_pb2.StartAgentRequest(
            request_id=f"loop-{uuid.uuid4().hex}",
            spec=agent_pb2.AgentSpec(
                input="bench",
                model="scripted:echo",
                max_steps=turns,
                parameters={"steps": str(turns)},
                tools=[agent_pb2.ToolSpec(name="think")],
            ),
        )
    )
    handle = client.get_workflow_handle(ack.execution_id)
    await handle.result()
    return await _scheduled_gaps_ms(handle)


async def _bare(client: Client, steps: int) -> list[float]:
    handle = await client.start_workflow(
        BareSteps.run, steps, id=f"bare-steps-{uuid.uuid4().hex}", task_queue=BARE_QUEUE
    )
    await handle.result()
    return await _scheduled_gaps_ms(handle)


async def step_overhead(
    stack: LocalStack,
    stub: agent_pb2_grpc.AgentServiceStub,
    bench: BenchActivities,
    *,
    quick: bool,
) -> dict[str, Any]:
    """p50/p99 per step at 1 and at 50 concurrent agents, with the bare floor beside it."""
    client = stack.client
    runs_at_1, turns = (4, 10) if quick else (10, 20)
    figures: dict[str, Any] = {}
    workflows = Worker(client, task_queue=BARE_QUEUE, workflows=[BareSteps])
    activities = Worker(client, task_queue=NOOP_QUEUE, activities=[bench.noop])
    async with workflows, activities:
        for concurrency in (1, 50):
            runs = runs_at_1 if concurrency == 1 else 1
            agent: list[float] = []
            bare: list[float] = []
            for _ in range(runs):  # the sides alternate, so a slow spell weighs on both
                for gaps in await asyncio.gather(
                    *(_agent(stub, client, turns) for _ in range(concurrency))
                ):
                    agent += gaps
                for gaps in await asyncio.gather(
                    *(_bare(client, 2 * turns - 1) for _ in range(concurrency))
                ):
                    bare += gaps
            agent_summary, bare_summary = summary(agent), summary(bare)
            figures[str(concurrency)] = {
                "agent_ms": agent_summary,
                "bare_activity_ms": bare_summary,
                "p50_ratio_vs_bare": round(agent_summary["p50"] / bare_summary["p50"], 2),
            }
    return figures
