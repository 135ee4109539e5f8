"""``openai:<model>``: OpenAI, or any server that speaks its Chat Completions API (vLLM, LM
Studio, llama.cpp, a gateway) at ``OPENAI_BASE_URL``."""

from __future__ import annotations

from openai import AsyncOpenAI
from pydantic_ai.models import Model
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

from stigma_agent.providers._endpoint import NO_CREDENTIAL, Endpoint


def provider(endpoint: Endpoint | None) -> OpenAIProvider:
    if endpoint is None:
        return OpenAIProvider(api_key=NO_CREDENTIAL, base_url="http://127.0.0.1:9/v1")
    client = AsyncOpenAI(
        base_url=endpoint.base_url or None,
        api_key=endpoint.api_key or "none",
        # Temporal retries the step (honouring Retry-After): a second retry layer here
        # would multiply attempts and hide them from the run's history.
        max_retries=0,
        timeout=endpoint.request_timeout,
    )
    return OpenAIProvider(openai_client=client)


def model(name: str, provider: object) -> Model:
    assert isinstance(provider, OpenAIProvider)
    return OpenAIChatModel(name, provider=provider)
