"""The scripted model drives Pydantic AI's real agent loop (no Temporal here): tool calls,
steps, failures, templates and streaming, through the framework's own run API."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, UserPromptPart
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.toolsets import FunctionToolset
from temporalio.exceptions import ApplicationError

from stigma_agent import ModelRegistry, RunDeps
from stigma_agent.providers.scripted import Script, scripted_model


def agent_with_tools() -> Agent[RunDeps, str]:
    tools: FunctionToolset[RunDeps] = FunctionToolset()

    @tools.tool_plain
    def think(thought: str) -> str:
        """Think."""
        return "noted"

    @tools.tool_plain
    def lookup(key: str) -> str:
        """Look up a key."""
        return {"answer": "42"}.get(key, "unknown")

    return Agent(deps_type=RunDeps, toolsets=[tools])


async def run(name: str, parameters: dict[str, str], prompt: str = "hello world") -> Any:
    deps = RunDeps(execution_id="agent-1", parameters=parameters, agent_name="tester")
    # As the ai-worker builds it: the registry's streaming wrapper around the scripted model.
    model = ModelRegistry().model(f"scripted:{name}", deps)
    return await agent_with_tools().run(prompt, model=model, deps=deps)


async def test_steps_think_between_model_calls_and_end_with_the_transformed_input() -> None:
    result = await run("upper", {"steps": "3"})

    assert result.output == "HELLO WORLD"
    responses = [m for m in result.all_messages() if isinstance(m, ModelResponse)]
    assert len(responses) == 3
    calls = [p.args_as_dict() for r in responses for p in r.tool_calls]
    assert calls == [{"thought": "step 1/3"}, {"thought": "step 2/3"}]


async def test_a_script_calls_tools_and_answers_with_their_result() -> None:
    script = [{"tool": "lookup", "args": {"key": "answer"}}, {"text": "it is {tool_result}"}]
    result = await run("echo", {"script": json.dumps(script)})

    assert result.output == "it is 42"


async def test_parallel_tool_calls_in_one_turn() -> None:
    turn = {
        "tools": [
            {"tool": "lookup", "args": {"key": "answer"}},
            {"tool": "think", "args": {"thought": "x"}},
        ]
    }
    result = await run("echo", {"script": json.dumps([turn])})

    (first, *_) = [m for m in result.all_messages() if isinstance(m, ModelResponse)]
    assert [p.tool_name for p in first.tool_calls] == ["lookup", "think"]


async def test_the_output_template_sees_input_name_steps_and_execution() -> None:
    result = await run("reverse", {"output": "{name}/{execution_id}/{steps}: {result} <- {input}"})

    assert result.output == "tester/agent-1/1: dlrow olleh <- hello world"


async def test_fail_at_step_fails_for_good_with_a_named_error() -> None:
    with pytest.raises(ApplicationError) as failed:
        await run("echo", {"steps": "3", "fail_at_step": "2"})
    assert failed.value.type == "ScriptedFailure"
    assert failed.value.non_retryable


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"steps": "many"}, "parameters.steps"),
        ({"steps": "0"}, "parameters.steps"),
        ({"delay_ms": "-1"}, "parameters.delay_ms"),
        ({"script": "not json"}, "parameters.script"),
        ({"script": '{"tool": "x"}'}, "parameters.script"),
        ({"script": '[{"nothing": 1}]'}, "parameters.script turn 1"),
    ],
)
def test_bad_parameters_are_refused_naming_them(parameters: dict[str, str], named: str) -> None:
    with pytest.raises(ApplicationError) as refused:
        Script.from_parameters(parameters)
    assert named in refused.value.message
    assert refused.value.type == "InvalidParameters"
    assert refused.value.non_retryable


def test_an_unknown_scripted_model_names_the_known_ones() -> None:
    with pytest.raises(ApplicationError, match="known: echo, reverse, upper"):
        scripted_model("shout", None)


async def test_it_streams_the_answer_in_pieces() -> None:
    model = scripted_model("echo", RunDeps(execution_id="e", parameters={"delay_ms": "50"}))
    messages: list[ModelMessage] = [ModelRequest(parts=[UserPromptPart("a" * 100)])]
    async with model.request_stream(messages, None, ModelRequestParameters()) as stream:
        events = [event async for event in stream]
    assert len(events) >= 100 // 16
    assert stream.get().parts[0].content == "a" * 100  # type: ignore[union-attr]
