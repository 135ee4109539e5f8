from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from callback_token import KeyRing
from service_kit import ServiceSettings


class ZigflowSettings(ServiceSettings):
    """Environment of the zigflow-worker (prefix ``ZIGFLOW_``, plus the shared CALLBACK_KEYS)."""

    model_config = SettingsConfigDict(env_prefix="ZIGFLOW_", extra="ignore", frozen=True)

    workflows_dir: Path = Path("examples")
    """Folder of DSL definitions (*.yaml, *.yml); each becomes a workflow type."""
    stigma_address: str = "localhost:50051"
    """host:port of stigma-api."""
    callback_keys: str = Field(validation_alias="CALLBACK_KEYS", repr=False)
    """Shared HMAC keys, ``key_id:secret,...``; the first one signs. Required."""
    max_concurrent_activities: int = 100
    """Activity slots. A pending agent call holds none, so this can stay small."""
    start_agent_timeout: timedelta = timedelta(seconds=10)
    """Deadline of one StartAgent RPC; the activity retries after it."""
    graceful_shutdown: timedelta = timedelta(seconds=10)
    """How long running activities may take to finish after SIGTERM."""

    @field_validator("callback_keys")
    @classmethod
    def _check_keys(cls, value: str) -> str:
        KeyRing.parse(value)
        return value

    @property
    def keyring(self) -> KeyRing:
        return KeyRing.parse(self.callback_keys)
