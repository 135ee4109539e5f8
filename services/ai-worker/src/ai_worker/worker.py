from __future__ import annotations

import logging

from prometheus_client import Counter
from pydantic_ai.durable_exec.temporal import AgentPlugin, PydanticAIPlugin
from pydantic_ai.models.instrumented import InstrumentationSettings
from temporalio.worker import Worker

from agent_contract import AI_TASK_QUEUE, MODEL_PROVIDERS
from ai_worker.activities import AgentStepActivities
from ai_worker.heartbeats import StepInterceptor
from ai_worker.providers import ModelProvider, ProviderRegistry, ScriptedProvider
from ai_worker.settings import AiWorkerSettings, ProviderSettings
from egress_policy import EgressPolicy
from service_kit import (
    SettingsLoadError,
    Telemetry,
    connect_temporal,
    load_settings,
    wait_for_shutdown,
)
from stigma_agent import (
    Endpoint,
    ModelRegistry,
    StigmaAgent,
    ToolRuntime,
    build_agent,
    load_mcp_servers,
)

logger = logging.getLogger(__name__)


def endpoints(providers: ProviderSettings) -> dict[str, Endpoint]:
    timeout = providers.model_request_timeout.total_seconds()
    return {
        name: Endpoint(
            base_url=getattr(providers, f"{name}_base_url"),
            api_key=getattr(providers, f"{name}_api_key"),
            request_timeout=timeout,
        )
        for name in MODEL_PROVIDERS
        if name != "scripted"
    }


def activity_agent(settings: AiWorkerSettings, models: ModelRegistry) -> StigmaAgent:
    """The agent as its activities run here: real credentials, connected MCP servers."""
    servers = load_mcp_servers(settings.mcp_config, expand_env=True) if settings.mcp_config else []
    return build_agent(models=models, mcp_servers=servers)


def model_tracing(
    settings: AiWorkerSettings, telemetry: Telemetry
) -> InstrumentationSettings | None:
    """Pydantic AI's GenAI spans for the model calls this worker sends, when tracing is on."""
    if telemetry.tracer_provider is None:
        return None
    return InstrumentationSettings(
        tracer_provider=telemetry.tracer_provider,
        include_content=settings.trace_content,
        include_binary_content=False,
        # Every tool definition again on every request; gen_ai.tool.definitions stays.
        include_model_request_parameters=False,
    )


async def serve(settings: AiWorkerSettings) -> None:
    """Serve the agents' model and tool calls until SIGTERM, then let running ones finish."""
    providers = load_settings(ProviderSettings)
    try:
        egress = EgressPolicy.parse(allow=settings.egress_allow, deny=settings.egress_deny)
    except ValueError as err:
        raise SettingsLoadError(f"AI_WORKER_EGRESS_ALLOW/DENY: {err}") from None
    runtime = ToolRuntime(egress=egress, fetch_timeout=settings.fetch_timeout.total_seconds())
    async with Telemetry(
        service="ai-worker",
        metrics_port=settings.metrics_port,
        metrics_host=settings.metrics_host,
    ) as telemetry:
        models = ModelRegistry(endpoints(providers), instrument=model_tracing(settings, telemetry))
        agent = activity_agent(settings, models)
        client = await connect_temporal(
            interceptors=telemetry.temporal_interceptors(),
            runtime=telemetry.runtime,
            plugins=[PydanticAIPlugin()],
        )
        steps = Counter(
            "stigma_agent_steps",
            "Model calls run by this worker, by provider and outcome (ok or the error type)",
            ["provider", "outcome"],
            registry=telemetry.registry,
        )
        legacy = ProviderRegistry(
            {
                "scripted": ScriptedProvider(),
                **{name: ModelProvider(models) for name in MODEL_PROVIDERS if name != "scripted"},
            }
        )
        worker = Worker(
            client,
            task_queue=AI_TASK_QUEUE,
            # The agent's model and tool activities come with its plugin; agent_step serves
            # the steps of runs opened before revision 2.
            activities=[AgentStepActivities(legacy, steps=steps).agent_step],
            plugins=[AgentPlugin(agent)],
            interceptors=[
                StepInterceptor(
                    runtime=runtime,
                    beat_every=settings.heartbeat_every.total_seconds(),
                    steps=steps,
                )
            ],
            max_concurrent_activities=settings.max_concurrent_activities,
            graceful_shutdown_timeout=settings.graceful_shutdown,
            max_heartbeat_throttle_interval=settings.heartbeat_throttle,
            default_heartbeat_throttle_interval=settings.heartbeat_throttle,
        )
        async with worker:
            logger.info(
                "ai-worker polling %s (%d MCP server(s))",
                AI_TASK_QUEUE,
                len(load_mcp_servers(settings.mcp_config, expand_env=False))
                if settings.mcp_config
                else 0,
            )
            await wait_for_shutdown()
