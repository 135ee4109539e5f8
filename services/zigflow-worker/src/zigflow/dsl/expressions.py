"""jq runtime expressions (``${ .foo }``), as the DSL's default expression language.

Programs are compiled once and cached; runtime variables ($input, $context, ...)
are bound per evaluation through the program's input, which keeps the cache valid.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import jq

VARIABLES = ("input", "output", "context", "secrets", "task", "workflow", "runtime")
_BINDINGS = " | ".join(f".vars.{name} as ${name}" for name in VARIABLES)


class ExpressionError(ValueError):
    """A jq program that does not compile or fails at run time."""


def is_expression(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    text = value.strip()
    return text.startswith("${") and text.endswith("}")


def _body(expression: str) -> str:
    text = expression.strip()
    return text[2:-1].strip() if is_expression(text) else text


@functools.lru_cache(maxsize=1024)
def _compile(body: str) -> Any:
    try:
        return jq.compile(f"{_BINDINGS} | .data | ({body})")
    except ValueError as err:
        raise ExpressionError(f"jq does not compile {body!r}: {err}") from None


def check(expression: str) -> None:
    """Compile only: used by validation to report bad jq before anything runs."""
    _compile(_body(expression))


def evaluate(expression: str, data: Any, variables: Mapping[str, Any]) -> Any:
    """Evaluate one expression (with or without ``${ }``) and return its first result."""
    program = _compile(_body(expression))
    payload = {"data": data, "vars": {name: variables.get(name) for name in VARIABLES}}
    try:
        results = program.input_value(payload).all()
    except ValueError as err:
        raise ExpressionError(f"jq failed on {_body(expression)!r}: {err}") from None
    return results[0] if results else None


def render(value: Any, data: Any, variables: Mapping[str, Any]) -> Any:
    """Evaluate every ``${ }`` string inside a value (objects and lists recursively)."""
    if is_expression(value):
        return evaluate(value, data, variables)
    if isinstance(value, dict):
        return {key: render(item, data, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, data, variables) for item in value]
    return value


def truthy(value: Any) -> bool:
    """jq's truth: everything but false and null."""
    return value is not None and value is not False


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
