"""One list of providers: stigma-api's (agent_contract) and the registry's are the same."""

from __future__ import annotations

import pytest
from pydantic_ai.exceptions import UserError
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.openai import OpenAIChatModel

from agent_contract import MODEL_PROVIDERS, MODEL_REQUEST_ACTIVITIES
from stigma_agent import AGENT_NAME, Endpoint, ModelRegistry, StreamingModel
from stigma_agent.providers import NETWORK, SCRIPTED


def test_the_registry_serves_exactly_the_contracts_providers() -> None:
    assert {*NETWORK, SCRIPTED} == set(MODEL_PROVIDERS)


def test_the_contract_names_the_agents_model_activities() -> None:
    assert (
        f"agent__{AGENT_NAME}__model_request",
        f"agent__{AGENT_NAME}__model_request_stream",
    ) == MODEL_REQUEST_ACTIVITIES


@pytest.mark.parametrize(
    ("model_id", "kind", "name"),
    [
        ("openai:gpt-4o-mini", OpenAIChatModel, "gpt-4o-mini"),
        ("openai:ft:gpt-4o:org:abc", OpenAIChatModel, "ft:gpt-4o:org:abc"),
        ("ollama:llama3.2", OpenAIChatModel, "llama3.2"),
        ("anthropic:claude-haiku-4-5", AnthropicModel, "claude-haiku-4-5"),
    ],
)
@pytest.mark.parametrize("side", ["workflow", "activity"])
def test_both_sides_build_the_same_model(model_id: str, kind: type, name: str, side: str) -> None:
    endpoints = None if side == "workflow" else {"openai": Endpoint(api_key="sk-1")}
    model = ModelRegistry(endpoints).model(model_id)

    assert isinstance(model, StreamingModel)
    assert isinstance(model.wrapped, kind)
    assert model.model_name == name


def test_models_are_built_once_per_process() -> None:
    registry = ModelRegistry({})
    assert registry.model("openai:gpt-4o") is registry.model("openai:gpt-4o")


@pytest.mark.parametrize("model_id", ["gpt-4o", "bedrock:claude", ":x", "Scripted:echo"])
def test_an_unknown_provider_is_refused_naming_the_known_ones(model_id: str) -> None:
    with pytest.raises(UserError, match="anthropic, ollama, openai, scripted"):
        ModelRegistry().model(model_id)
