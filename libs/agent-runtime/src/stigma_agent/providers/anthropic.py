"""``anthropic:<model>``: Anthropic's Messages API (``ANTHROPIC_BASE_URL`` for a proxy)."""

from __future__ import annotations

from anthropic import AsyncAnthropic
from pydantic_ai.models import Model
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.providers.anthropic import AnthropicProvider

from stigma_agent.providers._endpoint import NO_CREDENTIAL, Endpoint


def provider(endpoint: Endpoint | None) -> AnthropicProvider:
    if endpoint is None:
        return AnthropicProvider(api_key=NO_CREDENTIAL, base_url="http://127.0.0.1:9")
    client = AsyncAnthropic(
        api_key=endpoint.api_key or "none",
        base_url=endpoint.base_url or None,
        max_retries=0,  # Temporal retries the step (see the openai provider)
        timeout=endpoint.request_timeout,
    )
    return AnthropicProvider(anthropic_client=client)


def model(name: str, provider: object) -> Model:
    assert isinstance(provider, AnthropicProvider)
    return AnthropicModel(name, provider=provider)
