"""Providers of the legacy ``agent_step`` activity: the steps of runs opened before
revision 2 (docs/adr/0012), which keep running after an upgrade. New runs do not use it.

A provider is chosen by the prefix of ``AgentSpec.model`` (``provider:model``).
"""

from ai_worker.providers._base import AgentProvider, ProviderError, ProviderRegistry
from ai_worker.providers._model import ModelProvider
from ai_worker.providers._scripted import ScriptedProvider

__all__ = [
    "AgentProvider",
    "ModelProvider",
    "ProviderError",
    "ProviderRegistry",
    "ScriptedProvider",
]
