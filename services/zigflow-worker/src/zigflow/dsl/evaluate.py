"""The document's ``evaluate``: which language runs expressions, and which strings are ones.

``evaluate.language`` must be ``jq`` (the only language Zigflow runs). ``evaluate.mode``
is ``strict`` (the default: only ``${ }`` strings are expressions) or ``loose``: then a
plain string in a *runtime-expression position* is an expression too, as if written in
``${ }``. Those positions are the fields the spec types as runtime expressions, not
arbitrary data: ``if``, ``input.from``, ``output.as``, ``export.as``, ``set`` (a string),
``switch`` ``when``, ``for.in``, ``while``, and ``when`` / ``exceptWhen`` of ``catch`` and
``retry`` (also of ``use.retries``). A string in ``with``, ``set`` maps, ``raise.error``
and the like stays literal text unless it is a ``${ }`` expression.

Loose mode is applied once at load by rewriting those strings as ``${ }`` expressions,
so the load-time checks compile them like any other and the interpreter needs no mode.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from zigflow.dsl import expressions
from zigflow.dsl.load_context import LoadContext
from zigflow.dsl.model import task_type
from zigflow.dsl.task_kind import Position, owned
from zigflow.dsl.tasks import KINDS

_CONDITIONS = ("when", "exceptWhen")


def check_evaluate(checker: LoadContext, data: dict[str, Any]) -> str:
    """The document's evaluation mode; a language other than jq is refused."""
    evaluate = data.get("evaluate")
    if evaluate is None:
        return "strict"
    if not isinstance(evaluate, dict):
        raise checker.fail("$.evaluate", "must be a map")
    unknown = sorted(set(evaluate) - {"language", "mode"})
    if unknown:
        raise checker.fail(f"$.evaluate.{unknown[0]}", "is not an evaluate setting")
    language = evaluate.get("language", expressions.LANGUAGE)
    if language != expressions.LANGUAGE:
        raise checker.fail("$.evaluate.language", f"{language!r} is not supported (only jq)")
    mode = evaluate.get("mode", "strict")
    if mode not in expressions.MODES:
        raise checker.fail("$.evaluate.mode", f"{mode!r} must be strict or loose")
    return str(mode)


def loosen(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a loose-mode document whose runtime-expression strings are ``${ }``."""
    document = copy.deepcopy(data)
    for position in positions(document):
        if isinstance(position.owner[position.key], str):
            position.owner[position.key] = expressions.as_expression(position.owner[position.key])
    return document


def positions(data: dict[str, Any]) -> Iterator[Position]:
    """Every runtime-expression field of a document, whatever its shape (it is walked
    before it is checked): the task base's of every task, what each task kind declares
    (``TaskKind.positions``), and the conditions of ``use.retries``."""
    use = data.get("use")
    if isinstance(use, dict):
        for name, retry in _items(use.get("retries")):
            yield from owned(retry, f"$.use.retries.{name}", *_CONDITIONS, condition=True)
        for name, function in _items(use.get("functions")):
            yield from _task_positions(function, f"$.use.functions.{name}")
    yield from _list_positions(data.get("do"), "$.do")
    yield from _shaping(data, "$")


def _shaping(owner: Any, path: str) -> Iterator[Position]:
    if isinstance(owner, dict):
        yield from owned(owner.get("input"), f"{path}.input", "from")
        yield from owned(owner.get("output"), f"{path}.output", "as")
        yield from owned(owner.get("export"), f"{path}.export", "as")


def _items(value: Any) -> list[tuple[str, Any]]:
    return list(value.items()) if isinstance(value, dict) else []


def _list_positions(entries: Any, path: str) -> Iterator[Position]:
    if not isinstance(entries, list):
        return
    for index, entry in enumerate(entries):
        for name, task in _items(entry):
            yield from _task_positions(task, f"{path}[{index}].{name}")


def _task_positions(task: Any, path: str) -> Iterator[Position]:
    if not isinstance(task, dict):
        return
    yield from _shaping(task, path)
    yield from owned(task, path, "if", condition=True)
    kind = KINDS.get(task_type(task) or "")
    if kind is None:
        return  # refused by the task checks
    yield from kind.positions(task, path)
    for where, entries in kind.task_lists(task, path):
        yield from _list_positions(entries, where)


# The rule a refused condition breaks, as the spec's `evaluate.mode` states it
# (dsl-reference.md, Evaluate), so the error can be checked against the spec.
STRICT_RULE = (
    "Serverless Workflow 1.0 says that in strict mode runtime expressions must be enclosed in ${ }"
)


def check_conditions(checker: LoadContext, data: dict[str, Any]) -> None:
    """Refuse a plain string in a condition position (``if``, ``while``, ``when``,
    ``exceptWhen``): in strict mode only ``${ }`` strings are expressions, so ``if: .flag``
    would be the literal text ``.flag``, which is true. Loose documents were rewritten by
    ``loosen`` before this runs, so only strict ones can fail here."""
    for position in positions(data):
        value = position.owner[position.key] if position.condition else None
        if isinstance(value, str) and not expressions.is_expression(value):
            raise checker.fail(
                position.path,
                f"{value!r} is a plain string, which strict mode reads as literal text (always "
                f"true): {STRICT_RULE}; write it as {expressions.as_expression(value)!r}, or "
                "set evaluate.mode: loose",
            )
