"""``ollama:<model>``: a local Ollama server (its OpenAI-compatible API at ``OLLAMA_BASE_URL``)."""

from __future__ import annotations

from openai import AsyncOpenAI
from pydantic_ai.models import Model
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.ollama import OllamaProvider

from stigma_agent.providers._endpoint import NO_CREDENTIAL, Endpoint

DEFAULT_BASE_URL = "http://localhost:11434/v1"


def provider(endpoint: Endpoint | None) -> OllamaProvider:
    if endpoint is None:
        return OllamaProvider(base_url=DEFAULT_BASE_URL, api_key=NO_CREDENTIAL)
    client = AsyncOpenAI(
        base_url=endpoint.base_url or DEFAULT_BASE_URL,
        api_key=endpoint.api_key or "ollama",
        max_retries=0,
        timeout=endpoint.request_timeout,
    )
    return OllamaProvider(openai_client=client)


def model(name: str, provider: object) -> Model:
    assert isinstance(provider, OllamaProvider)
    return OpenAIChatModel(name, provider=provider)
