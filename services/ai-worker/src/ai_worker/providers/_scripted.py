from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from temporalio import activity

from agent_contract import StepRequest, StepResult
from ai_worker.providers._base import ProviderError

HEARTBEAT_EVERY = 1.0

_TRANSFORMS: dict[str, Callable[[str], str]] = {
    "echo": lambda text: text,
    "upper": str.upper,
    "reverse": lambda text: text[::-1],
}


@dataclass(frozen=True)
class Script:
    """The scripted agent's behaviour, read from ``AgentSpec.parameters``."""

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
                raise ProviderError(
                    f"parameters.{key} must be an integer, got {raw[:40]!r}",
                    error_type="InvalidParameters",
                    retryable=False,
                ) from None
            if value < minimum:
                raise ProviderError(
                    f"parameters.{key} must be >= {minimum}, got {value}",
                    error_type="InvalidParameters",
                    retryable=False,
                )
            return value

        return cls(
            steps=number("steps", 1, 1),
            delay_ms=number("delay_ms", 0, 0),
            fail_at_step=number("fail_at_step", 0, 0),
            output=parameters.get("output", "{result}"),
        )


class ScriptedProvider:
    """A deterministic, offline agent driven by parameters: for demos, tests and benchmarks.

    ``scripted:echo|upper|reverse`` transforms the input; parameters choose the number
    of steps, the delay per step, a step that fails, and an output template with
    ``{result}``, ``{input}``, ``{name}``, ``{steps}`` and ``{execution_id}``.
    """

    async def step(self, request: StepRequest, *, model: str) -> StepResult:
        transform = _TRANSFORMS.get(model)
        if transform is None:
            raise ProviderError(
                f"scripted model {model!r} is unknown (known: {', '.join(sorted(_TRANSFORMS))})",
                error_type="UnknownModel",
                retryable=False,
            )
        script = Script.from_parameters(request.spec.parameters)
        number = request.index + 1
        await _wait(script.delay_ms / 1000)
        if number == script.fail_at_step:
            raise ProviderError(
                f"scripted failure at step {number}", error_type="ScriptedFailure", retryable=False
            )
        done = number >= script.steps
        if not done:
            return StepResult(message=f"step {number}/{script.steps}", done=False)
        result = transform(request.spec.input)
        try:
            message = script.output.format_map(
                {
                    "result": result,
                    "input": request.spec.input,
                    "name": request.spec.name,
                    "steps": script.steps,
                    "execution_id": request.execution_id,
                }
            )
        except (KeyError, ValueError, IndexError, AttributeError, TypeError) as err:
            raise ProviderError(
                f"parameters.output is not a valid template: {err}",
                error_type="InvalidParameters",
                retryable=False,
            ) from None
        return StepResult(
            message=message,
            done=True,
            input_tokens=len(request.spec.input.split()),
            output_tokens=len(message.split()),
        )


async def _wait(seconds: float) -> None:
    """Sleep while heartbeating, so a cancellation or a dead worker is noticed quickly."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        if activity.in_activity():
            activity.heartbeat()
        await asyncio.sleep(min(left, HEARTBEAT_EVERY))
