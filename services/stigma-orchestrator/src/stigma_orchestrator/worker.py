from __future__ import annotations

import logging

from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from agent_contract import ORCHESTRATOR_TASK_QUEUE
from service_kit import Telemetry, connect_temporal, wait_for_shutdown
from stigma_orchestrator.callbacks import CallbackActivities
from stigma_orchestrator.metrics import OrchestratorMetrics
from stigma_orchestrator.options import RunOptionsActivity
from stigma_orchestrator.settings import OrchestratorSettings
from stigma_orchestrator.visibility import ensure_search_attributes
from stigma_orchestrator.workflows import AgentExecutionWorkflow, RedeliverCallbackWorkflow

logger = logging.getLogger(__name__)

# The sandbox still forbids non-deterministic calls (datetime.now, random, I/O) inside the
# workflow, but no longer re-imports every module the workflow file uses for each new run:
# that re-import was the orchestrator's largest CPU cost per agent call (docs/performance.md).
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_all_modules()
)


async def serve(settings: OrchestratorSettings) -> None:
    """Run the agent workflows and the callback activities until SIGTERM."""
    async with Telemetry(
        service="stigma-orchestrator",
        metrics_port=settings.metrics_port,
        metrics_host=settings.metrics_host,
    ) as telemetry:
        client = await connect_temporal(
            interceptors=telemetry.temporal_interceptors(), runtime=telemetry.runtime
        )
        await ensure_search_attributes(client)
        callbacks = CallbackActivities(client, metrics=OrchestratorMetrics(telemetry.registry))
        worker = Worker(
            client,
            task_queue=ORCHESTRATOR_TASK_QUEUE,
            workflows=[AgentExecutionWorkflow, RedeliverCallbackWorkflow],
            workflow_runner=SANDBOX,
            activities=[
                callbacks.deliver_callback,
                callbacks.keep_caller_alive,
                RunOptionsActivity(settings).run_options,
            ],
            max_concurrent_activities=settings.max_concurrent_activities,
            max_concurrent_workflow_tasks=settings.max_concurrent_workflow_tasks,
            graceful_shutdown_timeout=settings.graceful_shutdown,
            sticky_queue_schedule_to_start_timeout=settings.sticky_queue_timeout,
        )
        async with worker:
            logger.info("stigma-orchestrator polling %s", ORCHESTRATOR_TASK_QUEUE)
            await wait_for_shutdown()
