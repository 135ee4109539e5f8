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
from typing import TYPE_CHECKING, Any

from zigflow.dsl import expressions

if TYPE_CHECKING:
    from zigflow.dsl.document import _Checker

_CONDITIONS = ("when", "exceptWhen")


def check_evaluate(checker: _Checker, data: dict[str, Any]) -> str:
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
