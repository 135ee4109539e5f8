from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from agent_contract import StepRequest, StepResult


class ProviderError(Exception):
    """A step failed. ``retryable`` says whether trying again can help (a 429 can, a 400 can't)."""

    def __init__(self, message: str, *, error_type: str, retryable: bool) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.retryable = retryable


class AgentProvider(Protocol):
    """Runs one step of an agent. Long steps must heartbeat through the activity context."""

    async def step(self, request: StepRequest, *, model: str) -> StepResult: ...


class ProviderRegistry:
    """Maps the ``provider`` part of ``provider:model`` to its implementation."""

    def __init__(self, providers: Mapping[str, AgentProvider]) -> None:
        self._providers = dict(providers)

    @property
    def names(self) -> list[str]:
        return sorted(self._providers)

    def resolve(self, model: str) -> tuple[AgentProvider, str]:
        name, sep, model_name = model.partition(":")
        provider = self._providers.get(name)
        if not sep or provider is None:
            raise ProviderError(
                f"model {model!r} names no known provider (known: {', '.join(self.names)})",
                error_type="UnknownProvider",
                retryable=False,
            )
        return provider, model_name
