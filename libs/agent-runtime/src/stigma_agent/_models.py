"""Turns a spec's ``provider:model`` into a Pydantic AI model, on both sides of the boundary.

Pydantic AI resolves the model string twice: in the workflow at the run's start (for the
model's name and profile; no request is ever sent from there) and in each model activity
(where the request is sent). The orchestrator builds this registry without endpoints, the
ai-worker with its credentials; both must answer the same model for the same string, which
they do, since only the credential differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic_ai.exceptions import UserError
from pydantic_ai.models import Model, ModelResolutionContext
from pydantic_ai.models.instrumented import InstrumentationSettings, InstrumentedModel

from agent_contract import MODEL_PROVIDERS
from stigma_agent._deps import RunDeps
from stigma_agent._streaming import StreamingModel
from stigma_agent.providers import NETWORK, SCRIPTED, Endpoint
from stigma_agent.providers.scripted import scripted_model


class ModelRegistry:
    """``endpoints``: per provider name, where it is and its key; None on the workflow side.

    ``instrument``: the ai-worker's tracing, when on: each request the worker sends gets
    Pydantic AI's ``chat <model>`` span with the OpenTelemetry GenAI attributes (model,
    provider, token usage) inside its model activity, where no replay can emit it twice
    (docs/adr/0017). The workflow side, which sends nothing, passes none.
    """

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint] | None = None,
        *,
        instrument: InstrumentationSettings | None = None,
    ) -> None:
        self._endpoints = endpoints
        self._instrument = instrument
        self._providers: dict[str, Any] = {}
        self._models: dict[str, Model] = {}

    @property
    def sends_requests(self) -> bool:
        return self._endpoints is not None

    def resolve(self, ctx: ModelResolutionContext[RunDeps], model_id: str) -> Model:
        """The ResolveModelId capability's resolver (deterministic, no I/O)."""
        return self.model(model_id, ctx.deps if isinstance(ctx.deps, RunDeps) else None)

    def model(self, model_id: str, deps: RunDeps | None = None) -> Model:
        """The streaming model for ``provider:model``; UserError names an unknown provider."""
        provider_name, sep, name = model_id.partition(":")
        if not sep or provider_name not in MODEL_PROVIDERS:
            raise UserError(
                f"model {model_id!r} names no known provider (known: {', '.join(MODEL_PROVIDERS)})"
            )
        if provider_name == SCRIPTED:
            # Built per run: its behaviour is the run's own parameters.
            return StreamingModel(self._traced(scripted_model(name, deps)), check_finish=False)
        cached = self._models.get(model_id)
        if cached is None:
            module = NETWORK[provider_name]
            provider = self._providers.get(provider_name)
            if provider is None:
                endpoint = None if self._endpoints is None else self._endpoints.get(provider_name)
                if self._endpoints is not None and endpoint is None:
                    endpoint = Endpoint()
                provider = module.provider(endpoint)
                self._providers[provider_name] = provider
            cached = StreamingModel(self._traced(module.model(name, provider)), check_finish=True)
            self._models[model_id] = cached
        return cached

    def _traced(self, model: Model) -> Model:
        return model if self._instrument is None else InstrumentedModel(model, self._instrument)
