from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Endpoint:
    """Where a provider is reached and with which credential (ai-worker side only)."""

    base_url: str = ""
    """Empty: the provider's public API."""
    api_key: str = field(default="", repr=False)
    request_timeout: float = 600.0
    """Longest wait for the provider between two bytes (a model may think for minutes before
    its first token; the step's start-to-close timeout bounds the whole call)."""
    connect_timeout: float = 10.0


# The workflow side builds models only to read their names and profiles; they never send a
# request there, so they get no credential at all.
NO_CREDENTIAL = "the-orchestrator-never-calls-models"
