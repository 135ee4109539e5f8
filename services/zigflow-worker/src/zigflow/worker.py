from __future__ import annotations

import logging

from prometheus_client import Counter
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from agent_contract import ZIGFLOW_TASK_QUEUE
from callback_token import CallbackSigner
from service_kit import SettingsLoadError, Telemetry, connect_temporal, wait_for_shutdown
from stigma.agent.v1 import agent_pb2_grpc
from zigflow.agent_call import AgentCallActivities
from zigflow.dsl import load_directory
from zigflow.http_call import call_http
from zigflow.settings import ZigflowSettings
from zigflow.stigma_channel import stigma_channel
from zigflow.workflows import workflow_class

logger = logging.getLogger(__name__)


async def serve(settings: ZigflowSettings) -> None:
    """Load the definitions, then poll the zigflow task queue until SIGTERM."""
    documents, errors = load_directory(settings.workflows_dir)
    for error in errors:
        logger.error("definition refused: %s", error)
    if not documents:
        raise SettingsLoadError(
            f"ZIGFLOW_WORKFLOWS_DIR: no valid workflow definition in {settings.workflows_dir}"
        )
    async with Telemetry(
        service="zigflow-worker",
        metrics_port=settings.metrics_port,
        metrics_host=settings.metrics_host,
    ) as telemetry:
        client = await connect_temporal(
            interceptors=[telemetry.temporal_interceptor()], runtime=telemetry.runtime
        )
        async with stigma_channel(
            settings.stigma_address,
            settings.stigma_tls_config,
            interceptors=telemetry.grpc_client_interceptors(),
        ) as channel:
            activities = AgentCallActivities(
                stub=agent_pb2_grpc.AgentServiceStub(channel),  # type: ignore[no-untyped-call]
                signer=CallbackSigner(settings.keyring),
                rpc_timeout=settings.start_agent_timeout,
                calls=Counter(
                    "zigflow_start_agent_calls",
                    "StartAgent calls made by CallAgent, by gRPC status code",
                    ["code"],
                    registry=telemetry.registry,
                ),
            )
            worker = Worker(
                client,
                task_queue=ZIGFLOW_TASK_QUEUE,
                workflows=[workflow_class(document) for document in documents],
                activities=[activities.call_agent, call_http],
                workflow_runner=UnsandboxedWorkflowRunner(),
                max_concurrent_activities=settings.max_concurrent_activities,
                max_cached_workflows=settings.max_cached_workflows,
                graceful_shutdown_timeout=settings.graceful_shutdown,
            )
            async with worker:
                logger.info(
                    "zigflow-worker polling %s with workflows: %s",
                    ZIGFLOW_TASK_QUEUE,
                    ", ".join(d.workflow_type for d in documents),
                )
                await wait_for_shutdown()
