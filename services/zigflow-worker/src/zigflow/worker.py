from __future__ import annotations

import asyncio
import logging
import os
from contextlib import AsyncExitStack

from prometheus_client import Counter
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from agent_contract import (
    AGENT_CALLS_PENDING_ATTRIBUTE,
    AGENT_CALLS_PENDING_SINCE_ATTRIBUTE,
    PENDING_AGENT_CALLS_QUERY,
)
from callback_token import CallbackSigner
from service_kit import (
    DeploymentVersion,
    PendingGauges,
    PendingReader,
    SettingsLoadError,
    Telemetry,
    become_current_if_first,
    connect_temporal,
    ensure_search_attributes,
    wait_for_shutdown,
)
from stigma.agent.v1 import agent_pb2_grpc
from zigflow.agent_call import AgentCallActivities
from zigflow.definitions import Definitions, prepare
from zigflow.dsl import load_directory
from zigflow.dsl.activity_share import ActivityShareSetting
from zigflow.dsl.pinning import ServedDefinitions
from zigflow.dsl.sandbox import ExpressionSandbox
from zigflow.environment import take_secrets
from zigflow.grpc_call import GrpcCallActivities
from zigflow.http_call import HttpCallActivities
from zigflow.pending_calls import GAUGES, SEARCH_ATTRIBUTES
from zigflow.secrets import SecretSource
from zigflow.settings import ZigflowSettings
from zigflow.stigma_channel import stigma_channel

logger = logging.getLogger(__name__)


async def serve(settings: ZigflowSettings) -> None:
    """Load the definitions, then poll every task queue they use until SIGTERM: one
    Temporal worker per queue, each with every activity (activities run on the queue
    of the workflow that calls them).

    The signing key and the ``ZIGFLOW_SECRET_*`` values leave the process environment
    first (zigflow.environment), and expressions run in the expression sandbox's child
    processes, which start with an empty environment and under limits (dsl/sandbox.py)."""
    environment_secrets = take_secrets(os.environ)
    documents, errors = load_directory(settings.workflows_dir, limits=settings.yaml_limits)
    with ExpressionSandbox(
        limits=settings.expression_limits, processes=settings.expression_processes
    ) as sandbox:
        logger.info(
            "expressions run in %d sandbox processes: %s", sandbox.processes, sandbox.limits
        )
        definitions = prepare(
            documents,
            secrets=SecretSource(settings.secrets_dir, environment_secrets),
            continue_as_new_after=settings.continue_as_new_after_events,
            evaluator=sandbox,
            yaml_limits=settings.yaml_limits,
        )
        for error in [*errors, *definitions.refused]:
            for problem in error.every:
                logger.error("definition refused: %s", problem)
        if not definitions.by_queue:
            raise SettingsLoadError(
                f"ZIGFLOW_WORKFLOWS_DIR: no valid workflow definition in {settings.workflows_dir}"
            )
        # The workers stop (their activations end) before the sandbox closes.
        await _poll(settings, definitions, ServedDefinitions(documents))


async def _poll(
    settings: ZigflowSettings, definitions: Definitions, served: ServedDefinitions
) -> None:
    async with Telemetry(
        service="zigflow-worker",
        metrics_port=settings.metrics_port,
        metrics_host=settings.metrics_host,
    ) as telemetry:
        client = await connect_temporal(
            interceptors=telemetry.temporal_interceptors(), runtime=telemetry.runtime
        )
        await ensure_search_attributes(client, SEARCH_ATTRIBUTES)
        gauges = PendingGauges(GAUGES)
        telemetry.registry.register(gauges)
        reader = PendingReader(
            client,
            gauges,
            query=PENDING_AGENT_CALLS_QUERY,
            count_attribute=AGENT_CALLS_PENDING_ATTRIBUTE,
            since_attribute=AGENT_CALLS_PENDING_SINCE_ATTRIBUTE,
            interval=settings.pending_poll_interval,
        )
        async with stigma_channel(
            settings.stigma_address,
            settings.stigma_tls_config,
            credentials=settings.stigma_credentials,
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
            version = DeploymentVersion(settings.deployment_name, settings.build_id)
            policy = settings.egress_policy
            logger.info("egress policy of call: http / call: grpc: %s", policy.describe())
            http_calls = HttpCallActivities(policy=policy)
            # One proto cache for every queue's worker.
            grpc_calls = GrpcCallActivities(policy=policy)
            share = ActivityShareSetting(settings.activities_per_run)
            logger.info(
                "a run has at most %d call: http / call: grpc activities out at once, of %d slots",
                share.activities_per_run,
                settings.max_concurrent_activities,
            )
            async with AsyncExitStack() as workers:
                for queue, classes in sorted(definitions.by_queue.items()):
                    worker = Worker(
                        client,
                        task_queue=queue,
                        workflows=classes,
                        activities=[
                            activities.call_agent,
                            http_calls.call_http,
                            grpc_calls.call_grpc,
                            share.read,
                            served.served,
                        ],
                        workflow_runner=UnsandboxedWorkflowRunner(),
                        max_concurrent_activities=settings.max_concurrent_activities,
                        max_cached_workflows=settings.max_cached_workflows,
                        graceful_shutdown_timeout=settings.graceful_shutdown,
                        deployment_config=version.worker_config(),
                    )
                    await workers.enter_async_context(worker)
                    logger.info(
                        "zigflow-worker polling %s (%s) with workflows: %s",
                        queue,
                        version,
                        ", ".join(cls.document.workflow_type for cls in classes),
                    )
                reading = asyncio.create_task(reader.run())
                # Beside the wait, not before it: SIGTERM must drain the worker at any moment.
                adopting = asyncio.create_task(become_current_if_first(client, version))
                try:
                    await wait_for_shutdown()
                finally:
                    reading.cancel()
                    adopting.cancel()
