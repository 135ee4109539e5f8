"""The model providers, one module each; adding one is a module and a line in ``NETWORK``.

The names are agent_contract.MODEL_PROVIDERS: stigma-api accepts exactly those, and a test
holds this registry to them.
"""

from __future__ import annotations

from types import ModuleType

from stigma_agent.providers import anthropic, ollama, openai
from stigma_agent.providers._endpoint import Endpoint

NETWORK: dict[str, ModuleType] = {
    "anthropic": anthropic,
    "ollama": ollama,
    "openai": openai,
}
"""Providers reached over the network: each module has ``provider(endpoint)`` (one client per
process) and ``model(name, provider)``."""
SCRIPTED = "scripted"
"""The offline scripted model (stigma_agent.providers.scripted), built per run from its spec."""

__all__ = ["NETWORK", "SCRIPTED", "Endpoint"]
