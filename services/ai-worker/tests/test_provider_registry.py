"""Choosing a provider from ``provider:model``, and how the activity reports a refusal."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from agent_contract import AgentSpecData, StepRequest, StepResult
from ai_worker.activities import AgentStepActivities
from ai_worker.providers import AgentProvider, ProviderError, ProviderRegistry, ScriptedProvider


class FixedProvider:
    """A second provider, so resolution has something to choose between."""

    async def step(self, request: StepRequest, *, model: str) -> StepResult:
        return StepResult(message=f"fixed:{model}", done=True)


SCRIPTED = ScriptedProvider()
FIXED = FixedProvider()


def registry() -> ProviderRegistry:
    providers: dict[str, AgentProvider] = {"scripted": SCRIPTED, "fixed": FIXED}
    return ProviderRegistry(providers)


def test_names_are_sorted() -> None:
    assert registry().names == ["fixed", "scripted"]


@pytest.mark.parametrize(
    ("model", "provider", "name"),
    [
        ("scripted:echo", SCRIPTED, "echo"),
        ("fixed:gpt-4o-mini", FIXED, "gpt-4o-mini"),
        # Only the first colon separates: fine-tuned model names contain colons.
        ("fixed:ft:gpt-4o:org:abc", FIXED, "ft:gpt-4o:org:abc"),
        ("scripted:", SCRIPTED, ""),
    ],
)
def test_resolve(model: str, provider: AgentProvider, name: str) -> None:
    resolved, model_name = registry().resolve(model)
    assert resolved is provider
    assert model_name == name


@pytest.mark.parametrize("model", ["echo", "", ":echo", "openai:gpt-4o", "Scripted:echo"])
def test_resolve_refuses_unknown_providers(model: str) -> None:
    with pytest.raises(ProviderError) as caught:
        registry().resolve(model)
    assert caught.value.error_type == "UnknownProvider"
    assert caught.value.retryable is False
    assert repr(model) in str(caught.value)
    assert "known: fixed, scripted" in str(caught.value)


def _step_request(model: str, parameters: dict[str, str] | None = None) -> StepRequest:
    spec = AgentSpecData(input="ping", model=model, parameters=parameters or {})
    return StepRequest(execution_id="agent-req-1", spec=spec, index=0)


async def test_activity_runs_the_resolved_provider() -> None:
    activities = AgentStepActivities(registry())
    result = await ActivityEnvironment().run(activities.agent_step, _step_request("scripted:upper"))
    assert result == StepResult(message="PING", done=True, input_tokens=1, output_tokens=1)


@pytest.mark.parametrize(
    ("request_", "error_type"),
    [
        (_step_request("nobody:model"), "UnknownProvider"),
        (_step_request("scripted:shout"), "UnknownModel"),
        (_step_request("scripted:echo", {"fail_at_step": "1"}), "ScriptedFailure"),
        (_step_request("scripted:echo", {"output": "{result.x}"}), "InvalidParameters"),
    ],
)
async def test_activity_turns_provider_errors_into_non_retryable_application_errors(
    request_: StepRequest, error_type: str
) -> None:
    activities = AgentStepActivities(registry())
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities.agent_step, request_)
    assert caught.value.type == error_type
    assert caught.value.non_retryable is True
    assert isinstance(caught.value.__cause__, ProviderError)
