from __future__ import annotations

from datetime import timedelta

from pydantic import Field
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
    sticky_queue_timeout: timedelta = timedelta(seconds=10)
    """How long a run's workflow task waits for the process that cached it before any
    process may take it: after a crash, runs resume after this."""
    step_heartbeat: timedelta = timedelta(seconds=10)
    """Heartbeat timeout of an agent step: a killed ai-worker's step is retried after it."""
    step_timeout: timedelta = timedelta(minutes=10)
    """Start-to-close timeout of one agent step."""
    keeper_heartbeat: timedelta = timedelta(seconds=20)
    """Heartbeat timeout of keep_caller_alive: a killed orchestrator's keep-alive loop is
    resumed elsewhere after it. A caller then goes at most one beat (a third of its heartbeat
    timeout) plus this without a beat: keep the sum well under the callers' heartbeat timeout
    (60 s by default: 20 s + 20 s). Each loop also beats itself, so a shorter timeout costs
    heartbeat RPCs for every pending call (docs/performance.md)."""
    max_output_bytes: int = Field(default=512 * 1024, ge=1024, le=1536 * 1024)
    """Largest agent output plus step messages of one run. Temporal refuses payloads over
    2 MB; a run that would exceed this fails with AgentOutputTooLarge instead."""
