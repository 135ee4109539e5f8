"""Agent providers: what turns one agent step into a model call.

A provider is chosen by the prefix of ``AgentSpec.model`` (``provider:model``).
"""

from ai_worker.providers._base import AgentProvider, ProviderError, ProviderRegistry
from ai_worker.providers._openai import OpenAIProvider
from ai_worker.providers._scripted import ScriptedProvider

__all__ = [
    "AgentProvider",
    "OpenAIProvider",
    "ProviderError",
    "ProviderRegistry",
    "ScriptedProvider",
]
