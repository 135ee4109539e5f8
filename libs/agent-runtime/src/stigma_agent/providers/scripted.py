"""``scripted:echo|upper|reverse``: a deterministic, offline model for demos, tests and
benchmarks, built on Pydantic AI's own ``FunctionModel`` and driving the real agent loop.

It streams like a provider (text in chunks, paced over ``delay_ms``) and calls tools.
Parameters (all optional, strings as ``AgentSpec.parameters`` carries them):

- ``script``: a JSON list of turns, one per model call: ``{"tool": NAME, "args": {...}}``,
  ``{"tools": [{"tool": ..., "args": ...}, ...]}`` (parallel calls) or ``{"text": "..."}``
  (the final answer, a template like ``output``). After the script, the answer is ``output``.
- ``steps`` (default 1, without ``script``): model calls in all; each but the last calls the
  built-in ``think`` tool, so a multi-step agent needs ``think`` granted.
- ``delay_ms`` (default 0): how long each model call takes, spread over its stream.
- ``fail_at_step`` (1-based model call, default never): that call fails for good.
- ``output`` (default ``{result}``): the final answer; ``{result}`` (the input transformed by
  the model name), ``{input}``, ``{name}``, ``{steps}``, ``{execution_id}``, ``{tool_result}``
  (the latest tool result).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from temporalio.exceptions import ApplicationError

from stigma_agent._deps import RunDeps

TRANSFORMS: dict[str, Callable[[str], str]] = {
    "echo": lambda text: text,
    "upper": str.upper,
    "reverse": lambda text: text[::-1],
}
CHUNK_CHARS = 16
"""Text is streamed in pieces of about this size (as providers stream tokens)."""
INVALID_PARAMETERS = "InvalidParameters"
SCRIPTED_FAILURE = "ScriptedFailure"


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID_PARAMETERS, non_retryable=True)


@dataclass(frozen=True)
class Script:
    """The scripted agent's behaviour, read from the spec's parameters."""

    turns: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 1
    delay_ms: int = 0
    fail_at_step: int = 0
    output: str = "{result}"

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, str]) -> Script:
        def number(key: str, default: int, minimum: int) -> int:
            raw = parameters.get(key)
            if raw is None or raw == "":
                return default
            try:
                value = int(raw)
            except ValueError:
                raise _invalid(f"parameters.{key} must be an integer, got {raw[:40]!r}") from None
            if value < minimum:
                raise _invalid(f"parameters.{key} must be >= {minimum}, got {value}")
            return value

        turns: list[dict[str, Any]] = []
        if raw_script := parameters.get("script"):
            try:
                loaded = json.loads(raw_script)
            except json.JSONDecodeError as err:
                raise _invalid(f"parameters.script is not JSON: {err}") from None
            if not isinstance(loaded, list) or not all(isinstance(t, dict) for t in loaded):
                raise _invalid("parameters.script must be a JSON list of objects (turns)")
            for number_, turn in enumerate(loaded, 1):
                if not ({"tool", "tools", "text"} & turn.keys()):
                    raise _invalid(
                        f"parameters.script turn {number_} needs one of tool, tools, text"
                    )
            turns = loaded
        return cls(
            turns=turns,
            steps=number("steps", 1, 1),
            delay_ms=number("delay_ms", 0, 0),
            fail_at_step=number("fail_at_step", 0, 0),
            output=parameters.get("output", "{result}"),
        )

    def turn(self, number: int) -> dict[str, Any]:
        """What model call ``number`` (1-based) does."""
        if self.turns:
            if number <= len(self.turns):
                return self.turns[number - 1]
            return {"text": self.output}
        if number < self.steps:
            return {"tool": "think", "args": {"thought": f"step {number}/{self.steps}"}}
        return {"text": self.output}


def _prompt(messages: list[ModelMessage]) -> str:
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    return part.content
    return ""


def _latest_tool_result(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in reversed(message.parts):
                if isinstance(part, ToolReturnPart):
                    content = part.content
                    return content if isinstance(content, str) else json.dumps(content)
    return ""


def scripted_model(name: str, deps: RunDeps | None) -> Model:
    """The scripted model for ``scripted:<name>``; ``deps`` None builds it for naming only."""
    transform = TRANSFORMS.get(name)
    if transform is None:
        raise _invalid(
            f"scripted model {name!r} is unknown (known: {', '.join(sorted(TRANSFORMS))})"
        )

    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        script = Script.from_parameters(deps.parameters if deps else {})
        number = 1 + sum(1 for m in messages if isinstance(m, ModelResponse))
        turn = script.turn(number)
        delay = script.delay_ms / 1000
        if number == script.fail_at_step:
            await asyncio.sleep(delay)
            raise ApplicationError(
                f"scripted failure at step {number}", type=SCRIPTED_FAILURE, non_retryable=True
            )
        if "text" not in turn:
            await asyncio.sleep(delay)
            calls = turn.get("tools") or [turn]
            delta: DeltaToolCalls = {
                index: DeltaToolCall(
                    name=str(call.get("tool", "")),
                    json_args=json.dumps(call.get("args") or {}),
                    tool_call_id=f"scripted-{number}-{index}",
                )
                for index, call in enumerate(calls)
            }
            yield delta
            return
        prompt = _prompt(messages)
        try:
            text = str(turn["text"]).format_map(
                {
                    "result": transform(prompt),
                    "input": prompt,
                    "name": deps.agent_name if deps else "",
                    "steps": script.steps if not script.turns else len(script.turns) + 1,
                    "execution_id": deps.execution_id if deps else "",
                    "tool_result": _latest_tool_result(messages),
                }
            )
        except (KeyError, ValueError, IndexError, AttributeError, TypeError) as err:
            raise _invalid(f"parameters.output is not a valid template: {err}") from None
        chunks = [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]
        pause = delay / len(chunks)
        for chunk in chunks:
            if pause:
                await asyncio.sleep(pause)
            yield chunk

    return FunctionModel(stream_function=stream, model_name=f"scripted:{name}")
