from __future__ import annotations

from datetime import timedelta

from pydantic_settings import SettingsConfigDict

from service_kit import ServiceSettings


class OrchestratorSettings(ServiceSettings):
    """Environment of the orchestrator (prefix ``STIGMA_ORCHESTRATOR_``)."""

    model_config = SettingsConfigDict(
        env_prefix="STIGMA_ORCHESTRATOR_", extra="ignore", frozen=True
    )

    max_concurrent_activities: int = 5000
    """Activities at once. Each pending call holds one cheap keep-alive coroutine, so this
    bounds how many agent calls one process can keep alive."""
    max_concurrent_workflow_tasks: int = 100
    """Workflow tasks processed at once."""
    graceful_shutdown: timedelta = timedelta(seconds=10)
    """How long activities may take to finish after SIGTERM."""
