"""Stigma's agent: one Pydantic AI agent, made durable on Temporal.

Each process builds it once at start-up with what it knows: the orchestrator (which runs
the agent loop inside AgentExecutionWorkflow) without credentials, the ai-worker (which
serves the model and tool activities on the ``stigma-ai`` queue) with them. The agent's
name, its toolset ids and its tool names make up the activity names, which recorded
histories hold: they are a durable contract (docs/adr/0012).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from pydantic_ai import Agent, DeferredToolRequests
from pydantic_ai.capabilities import PrepareTools, ProcessHistory, ResolveModelId
from pydantic_ai.durable_exec.temporal import TemporalDurability
from pydantic_ai.messages import ModelMessage
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType, ActivityConfig

from agent_contract import AI_TASK_QUEUE
from stigma_agent._deps import RunDeps
from stigma_agent._mcp import McpServer, mcp_toolsets
from stigma_agent._models import ModelRegistry
from stigma_agent._policy import bound_conversation, grant_tools
from stigma_agent._streaming import StreamingModel
from stigma_agent._tools import builtin_tools
from stigma_agent.providers.scripted import scripted_model

AGENT_NAME = "stigma"
"""Part of every model and tool activity name: never change it."""

StigmaAgent = Agent[RunDeps, str | DeferredToolRequests]


@dataclass(frozen=True)
class ActivityOptions:
    """How the workflow schedules the agent's activities (the orchestrator's settings)."""

    step_timeout: timedelta = timedelta(minutes=10)
    """Longest one model call may take, streaming included."""
    step_heartbeat: timedelta = timedelta(seconds=10)
    """A killed ai-worker's step is retried elsewhere after this (it beats every second)."""
    tool_timeout: timedelta = timedelta(minutes=5)
    """Longest one tool call may take."""
    model_attempts: int = 6
    """Attempts of one model call (429, 5xx, cut streams, a dead worker) before the run fails."""
    tool_attempts: int = 3
    max_retry_interval: timedelta = timedelta(seconds=60)
    """Longest wait between attempts; a provider's Retry-After is honoured up to this."""
    max_conversation_bytes: int = 768 * 1024
    """The conversation sent to the model is bounded to this (old tool results elided)."""


def _retry(attempts: int, options: ActivityOptions) -> RetryPolicy:
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=options.max_retry_interval,
        maximum_attempts=attempts,
    )


def _bound(limit: int, messages: list[ModelMessage]) -> list[ModelMessage]:
    return bound_conversation(messages, limit)


def build_agent(
    *,
    models: ModelRegistry,
    mcp_servers: Sequence[McpServer] = (),
    options: ActivityOptions | None = None,
) -> StigmaAgent:
    """The agent, for the workflow side (``models`` without endpoints) or the activity side."""
    options = options or ActivityOptions()
    cancellation = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
    durability: TemporalDurability[RunDeps] = TemporalDurability(
        activity_config=ActivityConfig(
            task_queue=AI_TASK_QUEUE,
            start_to_close_timeout=options.tool_timeout,
            heartbeat_timeout=options.step_heartbeat,
            retry_policy=_retry(options.tool_attempts, options),
            cancellation_type=cancellation,
        ),
        model_activity_config=ActivityConfig(
            start_to_close_timeout=options.step_timeout,
            heartbeat_timeout=options.step_heartbeat,
            retry_policy=_retry(options.model_attempts, options),
            cancellation_type=cancellation,
        ),
    )
    return Agent(
        # Every run names its own model; this one only satisfies the constructor.
        StreamingModel(scripted_model("echo", None), check_finish=False),
        name=AGENT_NAME,
        deps_type=RunDeps,
        output_type=[str, DeferredToolRequests],
        toolsets=[builtin_tools, *mcp_toolsets(mcp_servers)],
        retries=2,
        capabilities=[
            ResolveModelId(models.resolve),
            PrepareTools(grant_tools),
            ProcessHistory(partial(_bound, options.max_conversation_bytes)),
            durability,
        ],
    )
