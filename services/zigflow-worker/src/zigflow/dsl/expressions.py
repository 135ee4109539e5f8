"""jq runtime expressions (``${ .foo }``), as the DSL's default expression language.

Programs are compiled once and cached; runtime variables ($input, $context, ...)
are bound per evaluation through the program's input, which keeps the cache valid.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import jq

VARIABLES = ("input", "output", "context", "secrets", "task", "workflow", "runtime")
LANGUAGE = "jq"
MODES = ("strict", "loose")
_BINDINGS = " | ".join(f".vars.{name} as ${name}" for name in VARIABLES)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ExpressionError(ValueError):
    """A jq program that does not compile or fails at run time."""


def is_expression(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    text = value.strip()
    return text.startswith("${") and text.endswith("}")


def as_expression(value: str) -> str:
    """A loose-mode string in a runtime-expression position, written as a strict one:
    ``.stock == 0`` becomes ``${ .stock == 0 }``; a ``${ }`` string is kept as it is."""
    return value if is_expression(value) else "${ " + value + " }"


def _body(expression: str) -> str:
    text = expression.strip()
    return text[2:-1].strip() if is_expression(text) else text


@functools.lru_cache(maxsize=1024)
def _compile(body: str, extra: tuple[str, ...] = ()) -> Any:
    bindings = _BINDINGS + "".join(f" | .vars.{name} as ${name}" for name in extra)
    prefix = f"{bindings} | .data | ("
    try:
        return jq.compile(f"{prefix}{body})")
    except ValueError as err:
        raise ExpressionError(
            f"jq does not compile {body!r}: {_compile_problem(str(err), body, len(prefix))}"
        ) from None


_JQ_WHERE = re.compile(
    r"^jq: error: (?P<what>.*?)(?: at <top-level>)?, line (?P<line>\d+)"
    r"(?:, column (?P<column>\d+))?:?$"
)


def _compile_problem(message: str, body: str, prefix: int) -> str:
    """jq's first error line, with the line and column counted in the user's expression
    rather than in the engine's wrapper program (which it never shows)."""
    first = message.splitlines()[0] if message else ""
    found = _JQ_WHERE.match(first)
    if found is None:
        return first.removeprefix("jq: error: ")
    what, line = found["what"], int(found["line"])
    if found["column"] is None:
        return f"{what} (line {line})"
    column = int(found["column"]) - (prefix if line == 1 else 0)
    lines = body.splitlines() or [""]
    if line > len(lines) or column > len(lines[line - 1]):
        # What jq found there is the wrapper's closing parenthesis: the expression ended.
        return what.replace("unexpected ')'", "unexpected end") + " at the end of the expression"
    return f"{what} at line {line}, column {max(column, 1)}"


def _extra_names(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(names) - set(VARIABLES)))


def check(expression: str, extra: Iterable[str] = ()) -> None:
    """Compile only: used by validation to report bad jq before anything runs.

    ``extra`` names the scoped variables the document declares (``for.each``,
    ``for.at``, ``catch.as``), so ``$item`` compiles where a loop defines it.
    """
    _compile(_body(expression), _extra_names(extra))


def is_variable_name(name: Any) -> bool:
    """A name usable as ``$name`` in jq."""
    return isinstance(name, str) and _IDENTIFIER.match(name) is not None


def evaluate(expression: str, data: Any, variables: Mapping[str, Any]) -> Any:
    """Evaluate one expression (with or without ``${ }``) and return its first result.

    Variables beyond the standard ones (loop items, caught errors) are bound too.
    """
    extra = _extra_names(variables)
    program = _compile(_body(expression), extra)
    names = (*VARIABLES, *extra)
    payload = {"data": data, "vars": {name: variables.get(name) for name in names}}
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
