"""jq runtime expressions (``${ .foo }``), as the DSL's default expression language.

A program is the expression's body wrapped so that the runtime variables ($input,
$context, ...) are bound from the program's input: one compiled program serves every
evaluation. Checking (at load) compiles in this process and refuses the builtins that
reach outside the data (:mod:`zigflow.dsl.jq_names`); running goes through an
:class:`Evaluator`: the worker's is the :class:`~zigflow.dsl.sandbox.ExpressionSandbox`
(child processes under CPU-time, memory and output limits), and
:class:`InProcessEvaluator` runs the same programs here, with no limits, for replaying
trusted histories and for tests. Both give the same value for the same program and input.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import jq

from zigflow.dsl import jq_names

VARIABLES = ("input", "output", "context", "secrets", "task", "workflow", "runtime")
LANGUAGE = "jq"
MODES = ("strict", "loose")
_BINDINGS = " | ".join(f".vars.{name} as ${name}" for name in VARIABLES)
# Run before every evaluated program (never in the load-time check, whose error messages
# count columns in the wrapped program): the environment builtins give nothing, whatever
# process runs the program. Documents using them are refused at load anyway.
_RUNTIME_PRELUDE = "def env: {}; {} as $ENV | "
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ExpressionError(ValueError):
    """A jq program that does not compile or fails at run time."""


class ExpressionLimitError(ExpressionError):
    """An expression ran past a limit of the sandbox (time, memory or output size)."""


class ProgramError(ValueError):
    """What an :class:`Evaluator` raises when program ``index`` of a batch fails:
    ``message`` is jq's; ``compiling`` tells a compile error from a run-time one."""

    def __init__(self, index: int, message: str, *, compiling: bool = False) -> None:
        super().__init__(message)
        self.index = index
        self.message = message
        self.compiling = compiling


class LimitExceeded(ValueError):
    """What an :class:`Evaluator` raises when a batch runs past a limit: ``index`` is the
    program that did, when known."""

    def __init__(self, problem: str, *, index: int | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.index = index


class Evaluator(Protocol):
    """Runs wrapped programs (see :func:`program_text`) on one JSON input."""

    def run(self, programs: Sequence[str], input_json: str) -> list[Any]:
        """The first result of each program (None when it has none), in order; every
        result of a program is computed, so an error after the first one fails it.
        Raises :class:`ProgramError` for the first program that fails, or
        :class:`LimitExceeded`."""
        ...


@functools.lru_cache(maxsize=1024)
def _compiled(text: str) -> Any:
    return jq.compile(text)


class InProcessEvaluator:
    """Runs programs in this process with no limits: only for programs and inputs that
    are trusted (replaying recorded histories, tests). The worker uses the sandbox."""

    def run(self, programs: Sequence[str], input_json: str) -> list[Any]:
        values: list[Any] = []
        for index, text in enumerate(programs):
            try:
                program = _compiled(text)
            except ValueError as err:
                raise ProgramError(index, str(err), compiling=True) from None
            try:
                results = program.input_text(input_json).all()
            except ValueError as err:
                raise ProgramError(index, str(err)) from None
            values.append(results[0] if results else None)
        return values


IN_PROCESS = InProcessEvaluator()


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


def _prefix(extra: tuple[str, ...]) -> str:
    """The engine's wrapper before the user's expression: variable bindings, then the data."""
    bindings = _BINDINGS + "".join(f" | .vars.{name} as ${name}" for name in extra)
    return f"{bindings} | .data | ("


def _wrapped(body: str, extra: tuple[str, ...]) -> str:
    # The closing parenthesis goes on a line of its own: a jq comment ending the
    # expression (`.a # the total`) runs to the end of its line and would swallow it.
    return f"{_prefix(extra)}{body}\n)"


def program_text(expression: str, extra: tuple[str, ...] = ()) -> str:
    """The program an evaluator runs for ``expression`` (with or without ``${ }``);
    ``extra`` names the scoped variables bound beyond the standard ones."""
    return _RUNTIME_PRELUDE + _wrapped(_body(expression), extra)


@functools.lru_cache(maxsize=1024)
def _check_compiles(body: str, extra: tuple[str, ...]) -> None:
    try:
        jq.compile(_wrapped(body, extra))
    except ValueError as err:
        problem = _own_problem(body, extra) or _compile_problem(str(err), body, len(_prefix(extra)))
        raise ExpressionError(f"jq does not compile {body!r}: {problem}") from None


def _own_problem(body: str, extra: tuple[str, ...]) -> str | None:
    """jq's error for the expression compiled on its own, its variables bound as
    arguments, so that the error is about the user's text alone: inside the wrapper an
    unclosed ``[`` or ``{`` meets the wrapper's ``)``, which jq reports as an
    INVALID_CHARACTER the user never wrote, and a stray ``)`` closes the wrapper's ``(``
    and is reported at the end. None when the expression compiles on its own (then the
    wrapped program's error is translated instead)."""
    try:
        jq.compile(body, args=dict.fromkeys((*VARIABLES, *extra)))
    except ValueError as err:
        return _compile_problem(str(err), body, 0)
    return None


_JQ_WHERE = re.compile(
    r"^jq: error: (?P<what>.*?)(?: at <top-level>)?, line (?P<line>\d+)"
    r"(?:, column (?P<column>\d+))?:?$"
)


def _compile_problem(message: str, body: str, prefix: int) -> str:
    """jq's first error line, with the line and column counted in the user's expression
    rather than in the engine's wrapper program (which it never shows); ``prefix`` is
    how many characters precede the expression on its first line."""
    first = message.splitlines()[0] if message else ""
    found = _JQ_WHERE.match(first)
    if found is None:
        return first.removeprefix("jq: error: ")
    what, line = found["what"], int(found["line"])
    if found["column"] is None:
        return f"{what} (line {line})"
    column = int(found["column"]) - (prefix if line == 1 else 0)
    lines = body.splitlines() or [""]
    if "unexpected end of file" in what:
        return what.replace("end of file", "end") + " at the end of the expression"
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
    _check_compiles(_body(expression), _extra_names(extra))


def check_names(expression: str) -> None:
    """Refuse the builtins that reach outside the expression's data (``$ENV``, ``env``,
    ``input``, ``halt``, ... : :mod:`zigflow.dsl.jq_names`), naming the first one."""
    found = jq_names.forbidden(_body(expression))
    if found:
        name, reason = found[0]
        raise ExpressionError(f"{str(name)!r} is not allowed in an expression: it {reason}")


def is_variable_name(name: Any) -> bool:
    """A name usable as ``$name`` in jq."""
    return isinstance(name, str) and _IDENTIFIER.match(name) is not None


def _expressions_in(value: Any) -> Iterator[str]:
    if is_expression(value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _expressions_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _expressions_in(item)


def _filled(value: Any, results: Iterator[Any]) -> Any:
    if is_expression(value):
        return next(results)
    if isinstance(value, dict):
        return {key: _filled(item, results) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(item, results) for item in value]
    return value


def render(
    value: Any,
    data: Any,
    variables: Mapping[str, Any],
    evaluator: Evaluator = IN_PROCESS,
) -> Any:
    """Evaluate every ``${ }`` string inside a value (objects and lists recursively).

    The value's expressions run as one batch on one input (one round trip to the
    sandbox); a value without any is returned as it is, without evaluating anything.
    """
    found = list(_expressions_in(value))
    if not found:
        return _filled(value, iter(()))  # a copy, as when it holds expressions
    extra = _extra_names(variables)
    names = (*VARIABLES, *extra)
    payload = {"data": data, "vars": {name: variables.get(name) for name in names}}
    bodies = [_body(expression) for expression in found]
    try:
        results = evaluator.run([program_text(body, extra) for body in bodies], json.dumps(payload))
    except ProgramError as err:
        if err.compiling:  # the load-time check's message, which counts no prelude
            check(found[err.index], extra)
            raise ExpressionError(f"jq does not compile {bodies[err.index]!r}") from None
        raise ExpressionError(f"jq failed on {bodies[err.index]!r}: {err.message}") from None
    except LimitExceeded as err:
        which = (
            repr(bodies[err.index])
            if err.index is not None
            else repr(bodies[0])
            if len(bodies) == 1
            else f"the {len(bodies)} expressions of one field"
        )
        raise ExpressionLimitError(f"jq stopped on {which}: {err.problem}") from None
    return _filled(value, iter(results))


def evaluate(
    expression: str,
    data: Any,
    variables: Mapping[str, Any],
    evaluator: Evaluator = IN_PROCESS,
) -> Any:
    """Evaluate one expression (with or without ``${ }``) and return its first result.

    Variables beyond the standard ones (loop items, caught errors) are bound too.
    """
    return render(as_expression(expression), data, variables, evaluator)


def truthy(value: Any) -> bool:
    """jq's truth: everything but false and null."""
    return value is not None and value is not False


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
