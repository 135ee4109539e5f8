from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from service_kit import ServiceSettings


class AiWorkerSettings(ServiceSettings):
    """Environment of the ai-worker (prefix ``AI_WORKER_``; providers have their own names)."""

    model_config = SettingsConfigDict(env_prefix="AI_WORKER_", extra="ignore", frozen=True)

    max_concurrent_activities: int = 200
    """Model and tool calls run at once by this process (they mostly wait on I/O)."""
    graceful_shutdown: timedelta = timedelta(seconds=10)
    """How long running calls may take to finish after SIGTERM before they are cancelled."""
    heartbeat_every: timedelta = timedelta(seconds=1)
    """How often a running call heartbeats, on a clock and whatever the model streams. A
    cancellation reaches a running call only in a heartbeat reply, so this (plus the
    throttle) bounds how long a cancelled call keeps its provider request open."""
    heartbeat_throttle: timedelta = timedelta(seconds=1)
    """Longest gap between heartbeats actually sent to Temporal."""
    egress_allow: str = ""
    """``http_fetch``'s allow list (hosts, ``*.domain``, CIDRs); empty allows everything
    public. Loopback, link-local and metadata addresses are refused unless allowed here."""
    egress_deny: str = ""
    """``http_fetch``'s deny list; it wins over the allow list."""
    fetch_timeout: timedelta = timedelta(seconds=30)
    """Connect and read timeout of one ``http_fetch``."""
    mcp_config: Path | None = Field(default=None, validation_alias="STIGMA_MCP_CONFIG")
    """The operator's MCP servers (``mcpServers`` JSON); the orchestrator reads the same file."""
    trace_content: bool = Field(
        default=False, validation_alias="OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
    )
    """Whether model-call spans carry the prompts and answers (``gen_ai.input.messages``,
    ``gen_ai.output.messages``): off by default, since a conversation may hold secrets and
    runs to hundreds of kilobytes. Model, provider and token usage are always recorded."""


class ProviderSettings(ServiceSettings):
    """Where each model provider is and its key (the providers' own variable names).

    A key may come from the variable or from a file (``*_API_KEY_FILE``, a mounted secret).
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    openai_base_url: str = ""
    """Any OpenAI-compatible server (vLLM, LM Studio, a gateway); empty: OpenAI itself."""
    openai_api_key: str = Field(default="", repr=False)
    openai_api_key_file: Path | None = None
    anthropic_base_url: str = ""
    anthropic_api_key: str = Field(default="", repr=False)
    anthropic_api_key_file: Path | None = None
    ollama_base_url: str = ""
    """Ollama's OpenAI-compatible API (default http://localhost:11434/v1)."""
    ollama_api_key: str = Field(default="", repr=False)
    ollama_api_key_file: Path | None = None
    model_request_timeout: timedelta = timedelta(minutes=10)
    """Longest silence between two bytes of a model's answer (a reasoning model may think
    for minutes before its first token)."""

    @model_validator(mode="after")
    def _read_key_files(self) -> ProviderSettings:
        for provider in ("openai", "anthropic", "ollama"):
            path: Path | None = getattr(self, f"{provider}_api_key_file")
            if path is None:
                continue
            try:
                key = path.read_text().strip()
            except OSError as err:
                raise ValueError(
                    f"{provider.upper()}_API_KEY_FILE: cannot read {path}: {err}"
                ) from None
            object.__setattr__(self, f"{provider}_api_key", key)
        return self
