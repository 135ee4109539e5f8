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
    _shaping(document)
    use = document.get("use")
    if isinstance(use, dict):
        for function in _values(use.get("functions")):
            _task(function)
        for retry in _values(use.get("retries")):
            _wrap(retry, *_CONDITIONS)
    _task_list(document.get("do"))
    return document


def _values(value: Any) -> list[Any]:
    return list(value.values()) if isinstance(value, dict) else []


def _wrap(owner: Any, *keys: str) -> None:
    if not isinstance(owner, dict):
        return
    for key in keys:
        if isinstance(owner.get(key), str):
            owner[key] = expressions.as_expression(owner[key])


def _shaping(owner: dict[str, Any]) -> None:
    _wrap(owner.get("input"), "from")
    _wrap(owner.get("output"), "as")
    _wrap(owner.get("export"), "as")


def _task_list(entries: Any) -> None:
    if not isinstance(entries, list):
        return
    for entry in entries:
        for task in _values(entry):
            _task(task)


def _task(task: Any) -> None:
    if not isinstance(task, dict):
        return
    _shaping(task)
    _wrap(task, "if", "set", "while")
    _wrap(task.get("for"), "in")
    cases = task.get("switch")
    for entry in cases if isinstance(cases, list) else []:
        for case in _values(entry):
            _wrap(case, "when")
    _task_list(task.get("do"))
    _task_list(task.get("try"))
    catch = task.get("catch")
    if isinstance(catch, dict):
        _wrap(catch, *_CONDITIONS)
        _wrap(catch.get("retry"), *_CONDITIONS)
        _task_list(catch.get("do"))
    fork = task.get("fork")
    if isinstance(fork, dict):
        _task_list(fork.get("branches"))


# The rule a refused condition breaks, as the spec's `evaluate.mode` states it
# (dsl-reference.md, Evaluate), so the error can be checked against the spec.
STRICT_RULE = (
    "Serverless Workflow 1.0 says that in strict mode runtime expressions must be enclosed in ${ }"
)
# The spec's condition fields: a plain string there is a non-empty literal in strict mode,
# so it is always true. They are refused at load (``check_conditions``).
_CONDITION_FIELDS = ("if", "while")


def check_conditions(checker: LoadContext, data: dict[str, Any]) -> None:
    """Refuse a plain string in a condition position (``if``, ``while``, ``when``,
    ``exceptWhen``): in strict mode only ``${ }`` strings are expressions, so ``if: .flag``
    would be the literal text ``.flag``, which is true. Loose documents were rewritten by
    ``loosen`` before this runs, so only strict ones can fail here."""
    for path, value in _conditions(data):
        if isinstance(value, str) and not expressions.is_expression(value):
            raise checker.fail(
                path,
                f"{value!r} is a plain string, which strict mode reads as literal text (always "
                f"true): {STRICT_RULE}; write it as {expressions.as_expression(value)!r}, or "
                "set evaluate.mode: loose",
            )


def _conditions(data: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    use = data.get("use")
    if isinstance(use, dict):
        for name, retry in _items(use.get("retries")):
            yield from _owned(retry, f"$.use.retries.{name}", _CONDITIONS)
        for name, function in _items(use.get("functions")):
            yield from _task_conditions(function, f"$.use.functions.{name}")
    yield from _list_conditions(data.get("do"), "$.do")


def _items(value: Any) -> list[tuple[str, Any]]:
    return list(value.items()) if isinstance(value, dict) else []


def _owned(owner: Any, path: str, keys: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
    if isinstance(owner, dict):
        for key in keys:
            if key in owner:
                yield f"{path}.{key}", owner[key]


def _list_conditions(entries: Any, path: str) -> Iterator[tuple[str, Any]]:
    if not isinstance(entries, list):
        return
    for index, entry in enumerate(entries):
        for name, task in _items(entry):
            yield from _task_conditions(task, f"{path}[{index}].{name}")


def _task_conditions(task: Any, path: str) -> Iterator[tuple[str, Any]]:
    if not isinstance(task, dict):
        return
    yield from _owned(task, path, _CONDITION_FIELDS)
    cases = task.get("switch")
    for index, entry in enumerate(cases if isinstance(cases, list) else []):
        for name, case in _items(entry):
            yield from _owned(case, f"{path}.switch[{index}].{name}", ("when",))
    yield from _list_conditions(task.get("do"), f"{path}.do")
    yield from _list_conditions(task.get("try"), f"{path}.try")
    catch = task.get("catch")
    if isinstance(catch, dict):
        yield from _owned(catch, f"{path}.catch", _CONDITIONS)
        yield from _owned(catch.get("retry"), f"{path}.catch.retry", _CONDITIONS)
        yield from _list_conditions(catch.get("do"), f"{path}.catch.do")
    fork = task.get("fork")
    if isinstance(fork, dict):
        yield from _list_conditions(fork.get("branches"), f"{path}.fork.branches")
