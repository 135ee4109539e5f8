from __future__ import annotations

import logging

import httpx
from prometheus_client import Counter
from temporalio.worker import Worker

from agent_contract import AI_TASK_QUEUE
from ai_worker.activities import AgentStepActivities
from ai_worker.providers import OpenAIProvider, ProviderRegistry, ScriptedProvider
from ai_worker.settings import AiWorkerSettings, OpenAISettings
from service_kit import Telemetry, connect_temporal, load_settings, wait_for_shutdown

logger = logging.getLogger(__name__)


async def serve(settings: AiWorkerSettings) -> None:
    """Poll the AI task queue until SIGTERM, then let running steps finish."""
    openai = load_settings(OpenAISettings)
    async with Telemetry(
        service="ai-worker",
        metrics_port=settings.metrics_port,
        metrics_host=settings.metrics_host,
    ) as telemetry:
        client = await connect_temporal(
            interceptors=telemetry.temporal_interceptors(), runtime=telemetry.runtime
        )
        steps = Counter(
            "stigma_agent_steps",
            "Agent steps run by this worker, by provider and outcome (ok or the error type)",
            ["provider", "outcome"],
            registry=telemetry.registry,
        )
        timeout = httpx.Timeout(openai.timeout.total_seconds())
        base_url = openai.base_url.rstrip("/") + "/"
        async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as http:
            providers = ProviderRegistry(
                {
                    "scripted": ScriptedProvider(),
                    "openai": OpenAIProvider(http=http, api_key=openai.api_key),
                }
            )
            worker = Worker(
                client,
                task_queue=AI_TASK_QUEUE,
                activities=[AgentStepActivities(providers, steps=steps).agent_step],
                max_concurrent_activities=settings.max_concurrent_activities,
                graceful_shutdown_timeout=settings.graceful_shutdown,
                max_heartbeat_throttle_interval=settings.heartbeat_throttle,
                default_heartbeat_throttle_interval=settings.heartbeat_throttle,
            )
            async with worker:
                logger.info("ai-worker polling %s", AI_TASK_QUEUE)
                await wait_for_shutdown()
