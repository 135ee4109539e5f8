"""The scripted provider: the offline agent behind demos and the integration suite."""

from __future__ import annotations

import pytest

from agent_contract import AgentSpecData, StepRequest, StepResult
from ai_worker.providers import ProviderError, ScriptedProvider


def request(
    text: str = "hello agent world",
    *,
    parameters: dict[str, str] | None = None,
    index: int = 0,
    name: str = "tester",
    execution_id: str = "agent-req-1",
) -> StepRequest:
    spec = AgentSpecData(
        input=text, model="scripted:echo", name=name, parameters=dict(parameters or {})
    )
    return StepRequest(execution_id=execution_id, spec=spec, index=index)


async def step(
    model: str = "echo",
    text: str = "hello agent world",
    *,
    parameters: dict[str, str] | None = None,
    index: int = 0,
) -> StepResult:
    return await ScriptedProvider().step(
        request(text, parameters=parameters, index=index), model=model
    )


async def refusal(
    model: str = "echo", *, parameters: dict[str, str] | None = None, index: int = 0
) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await step(model, parameters=parameters, index=index)
    return caught.value


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("echo", "hello agent world"),
        ("upper", "HELLO AGENT WORLD"),
        ("reverse", "dlrow tnega olleh"),
    ],
)
async def test_transforms(model: str, expected: str) -> None:
    result = await step(model)
    assert result == StepResult(message=expected, done=True, input_tokens=3, output_tokens=3)


async def test_reverse_keeps_unicode_characters_whole() -> None:
    assert (await step("reverse", "añb→c")).message == "c→bña"


async def test_several_steps_report_progress_then_finish() -> None:
    parameters = {"steps": "3"}
    first = await step(parameters=parameters, index=0)
    second = await step(parameters=parameters, index=1)
    last = await step("upper", parameters=parameters, index=2)
    assert first == StepResult(message="step 1/3", done=False)
    assert second == StepResult(message="step 2/3", done=False)
    assert last.done
    assert last.message == "HELLO AGENT WORLD"


async def test_steps_past_the_last_still_finish() -> None:
    assert (await step(parameters={"steps": "2"}, index=5)).done


async def test_empty_parameters_mean_defaults() -> None:
    result = await step(parameters={"steps": "", "delay_ms": "", "fail_at_step": ""})
    assert result.done
    assert result.message == "hello agent world"


async def test_fail_at_step_fails_that_step_only() -> None:
    parameters = {"steps": "3", "fail_at_step": "2"}
    assert not (await step(parameters=parameters, index=0)).done
    error = await refusal(parameters=parameters, index=1)
    assert error.error_type == "ScriptedFailure"
    assert error.retryable is False
    assert "step 2" in str(error)
    assert (await step(parameters=parameters, index=2)).done


async def test_fail_at_the_only_step() -> None:
    error = await refusal(parameters={"fail_at_step": "1"})
    assert error.error_type == "ScriptedFailure"


async def test_output_template_fills_every_field() -> None:
    template = "{name}|{input}|{result}|{steps}|{execution_id}|{{literal}}"
    result = await ScriptedProvider().step(
        request(
            "ab",
            parameters={"output": template, "steps": "2"},
            index=1,
            name="agent-x",
            execution_id="agent-req-9",
        ),
        model="reverse",
    )
    assert result.message == "agent-x|ab|ba|2|agent-req-9|{literal}"
    assert result.output_tokens == 1


async def test_output_template_counts_output_tokens() -> None:
    result = await step(parameters={"output": "Agent {name} says: {result}"})
    assert result.message == "Agent tester says: hello agent world"
    assert result.output_tokens == 6


@pytest.mark.parametrize(
    ("parameters", "mentions"),
    [
        ({"steps": "many"}, "parameters.steps"),
        ({"steps": "0"}, "parameters.steps"),
        ({"steps": "-2"}, "parameters.steps"),
        ({"steps": "1.5"}, "parameters.steps"),
        ({"delay_ms": "-1"}, "parameters.delay_ms"),
        ({"delay_ms": "soon"}, "parameters.delay_ms"),
        ({"fail_at_step": "-1"}, "parameters.fail_at_step"),
        ({"fail_at_step": "second"}, "parameters.fail_at_step"),
        ({"output": "{unknown}"}, "parameters.output"),
        ({"output": "{"}, "parameters.output"),
        ({"output": "{0}"}, "parameters.output"),
        ({"output": "{result:d}"}, "parameters.output"),
        ({"output": "{result.missing}"}, "parameters.output"),
        ({"output": "{steps[0]}"}, "parameters.output"),
        ({"output": "{result[99]}"}, "parameters.output"),
    ],
)
async def test_bad_parameters_are_not_retryable(parameters: dict[str, str], mentions: str) -> None:
    error = await refusal(parameters=parameters)
    assert error.error_type == "InvalidParameters"
    assert error.retryable is False
    assert str(error).startswith(mentions)


async def test_bad_parameters_fail_before_any_step_runs() -> None:
    # Even an intermediate step refuses a bad script: the run fails at its first step.
    error = await refusal(parameters={"steps": "3", "delay_ms": "x"}, index=0)
    assert error.error_type == "InvalidParameters"


async def test_unknown_model_is_not_retryable() -> None:
    error = await refusal("shout")
    assert error.error_type == "UnknownModel"
    assert error.retryable is False
    assert "'shout'" in str(error)
    assert "echo, reverse, upper" in str(error)
