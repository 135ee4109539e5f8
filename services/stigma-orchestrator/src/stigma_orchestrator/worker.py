from __future__ import annotations

import asyncio
import logging

from pydantic_ai.durable_exec.temporal import PydanticAIPlugin
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from agent_contract import KEEPER_TASK_QUEUE, ORCHESTRATOR_TASK_QUEUE
from service_kit import (
    DeploymentVersion,
    Telemetry,
    become_current_if_first,
    connect_temporal,
    wait_for_shutdown,
)
from stigma_agent import (
    ActivityOptions,
    ModelRegistry,
    StigmaAgent,
    build_agent,
    build_conversation_schema,
    load_mcp_servers,
)
from stigma_orchestrator.callbacks import CallbackActivities
from stigma_orchestrator.keeper import CallerKeeper, CallerKeeperWorkflow, start_keepers
from stigma_orchestrator.metrics import OrchestratorMetrics
from stigma_orchestrator.options import RunOptionsActivity
from stigma_orchestrator.prices import PriceTable
from stigma_orchestrator.settings import OrchestratorSettings
from stigma_orchestrator.visibility import ensure_search_attributes
from stigma_orchestrator.workflows import AgentExecutionWorkflow, RedeliverCallbackWorkflow

logger = logging.getLogger(__name__)
KEEPER_SLOTS = 64

# The sandbox still forbids non-deterministic calls (datetime.now, random, I/O) inside the
# workflow, but no longer re-imports every module the workflow file uses for each new run:
# that re-import was the orchestrator's largest CPU cost per agent call (docs/performance.md).
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
)


def workflow_agent(settings: OrchestratorSettings) -> StigmaAgent:
    """The agent as the workflow side runs it: no credentials, the operator's MCP servers
    (for their activity names) and the orchestrator's activity settings."""
    servers = load_mcp_servers(settings.mcp_config, expand_env=False) if settings.mcp_config else []
    return build_agent(
        models=ModelRegistry(),
        mcp_servers=servers,
        options=ActivityOptions(
            step_timeout=settings.step_timeout,
            step_heartbeat=settings.step_heartbeat,
            tool_timeout=settings.tool_timeout,
            model_attempts=settings.model_attempts,
            max_conversation_bytes=settings.max_conversation_bytes,
        ),
    )


def replayer(settings: OrchestratorSettings | None = None) -> Replayer:
    """A Replayer that reads histories as this worker runs them: the same workflows, sandbox,
    payload converter and agent (replay tests and the recorded-history checks use it)."""
    AgentExecutionWorkflow.configure(workflow_agent(settings or OrchestratorSettings()))
    return Replayer(
        workflows=[AgentExecutionWorkflow, RedeliverCallbackWorkflow, CallerKeeperWorkflow],
        workflow_runner=SANDBOX,
        plugins=[PydanticAIPlugin()],
    )


async def serve(settings: OrchestratorSettings) -> None:
    """Run the agent workflows and the callback activities until SIGTERM."""
    AgentExecutionWorkflow.configure(workflow_agent(settings))
    build_conversation_schema()  # not in a run's first workflow task (deadlock detection)
    prices = PriceTable.load(settings.price_table)
    async with Telemetry(
        service="stigma-orchestrator",
        metrics_port=settings.metrics_port,
        metrics_host=settings.metrics_host,
    ) as telemetry:
        client = await connect_temporal(
            interceptors=telemetry.temporal_interceptors(),
            runtime=telemetry.runtime,
            plugins=[PydanticAIPlugin()],
        )
        await ensure_search_attributes(client)
        metrics = OrchestratorMetrics(telemetry.registry)
        callbacks = CallbackActivities(client, metrics=metrics)
        keeper = CallerKeeper(
            client,
            sweep=settings.keeper_sweep,
            progress_every=settings.caller_progress_every,
            beats_in_flight=(
                settings.keeper_beats_in_flight_min,
                settings.keeper_beats_in_flight_max,
            ),
            metrics=metrics,
        )
        version = DeploymentVersion(settings.deployment_name, settings.build_id)
        worker = Worker(
            client,
            task_queue=ORCHESTRATOR_TASK_QUEUE,
            workflows=[AgentExecutionWorkflow, RedeliverCallbackWorkflow],
            workflow_runner=SANDBOX,
            activities=[
                callbacks.deliver_callback,
                callbacks.keep_caller_alive,
                RunOptionsActivity(settings, prices).run_options,
            ],
            max_concurrent_activities=settings.max_concurrent_activities,
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            max_cached_workflows=settings.max_cached_workflows,
            graceful_shutdown_timeout=settings.graceful_shutdown,
            sticky_queue_schedule_to_start_timeout=settings.sticky_queue_timeout,
            deployment_config=version.worker_config(),
        )
        keepers = Worker(
            client,
            task_queue=KEEPER_TASK_QUEUE,
            workflows=[CallerKeeperWorkflow],
            workflow_runner=SANDBOX,
            activities=[keeper.keep_callers],
            # A process may run every shard's keeper, of the old and the new shard count
            # while it changes: cheap coroutines, so room for all of them.
            max_concurrent_activities=max(KEEPER_SLOTS, 2 * settings.keeper_shards),
            graceful_shutdown_timeout=settings.graceful_shutdown,
        )
        async with worker, keepers:
            logger.info("stigma-orchestrator polling %s (%s)", ORCHESTRATOR_TASK_QUEUE, version)
            # Beside the wait, not before it: SIGTERM must drain the worker at any moment.
            adopting = asyncio.create_task(become_current_if_first(client, version))
            starting = asyncio.create_task(
                start_keepers(client, settings.keeper_shards, settings.keeper_heartbeat)
            )
            try:
                await wait_for_shutdown()
            finally:
                adopting.cancel()
                starting.cancel()
