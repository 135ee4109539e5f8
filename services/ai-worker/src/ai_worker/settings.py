from __future__ import annotations

from datetime import timedelta

from pydantic_settings import SettingsConfigDict

from service_kit import ServiceSettings


class AiWorkerSettings(ServiceSettings):
    """Environment of the ai-worker (prefix ``AI_WORKER_``; OpenAI settings unprefixed)."""

    model_config = SettingsConfigDict(env_prefix="AI_WORKER_", extra="ignore", frozen=True)

    max_concurrent_activities: int = 200
    """Agent steps run at once by this process (they mostly wait on I/O)."""
    graceful_shutdown: timedelta = timedelta(seconds=10)
    """How long running steps may take to finish after SIGTERM before they are cancelled."""
    heartbeat_throttle: timedelta = timedelta(seconds=1)
    """Longest gap between heartbeats actually sent. A cancellation reaches a running step
    only in a heartbeat reply, so this bounds how long a cancelled step keeps working."""


class OpenAISettings(ServiceSettings):
    """The OpenAI-compatible endpoint behind ``openai:<model>`` (standard variable names)."""

    model_config = SettingsConfigDict(env_prefix="OPENAI_", extra="ignore", frozen=True)

    base_url: str = "https://api.openai.com/v1"
    """Any chat-completions compatible endpoint (a local server works too)."""
    api_key: str = ""
    """Bearer key; empty sends no Authorization header (fine for local endpoints)."""
    timeout: timedelta = timedelta(seconds=120)
    """Per-request timeout for one completion."""
