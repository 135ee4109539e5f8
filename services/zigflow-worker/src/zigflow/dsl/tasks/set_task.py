"""``set``: the task's output is its ``set`` value (a map, or an expression) evaluated
against its input."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zigflow.dsl.load_context import LoadContext, Task
from zigflow.dsl.model import Template
from zigflow.dsl.task_kind import Builder, Position, TaskKind, owned

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter, Step


@dataclass(frozen=True)
class SetBody:
    value: Template
    """A map whose ``${ }`` strings are expressions, or one expression."""


def check(checker: LoadContext, task: Task, path: str, siblings: set[str]) -> None:
    if not isinstance(task["set"], dict | str):
        raise checker.fail(f"{path}.set", "must be a map or an expression")


def parse(builder: Builder, task: Task) -> SetBody:
    return SetBody(task["set"])


def positions(task: Task, path: str) -> Iterator[Position]:
    """A ``set`` string is one expression (a ``set`` map's strings stay literal)."""
    yield from owned(task, path, "set")


async def run_set(interp: Interpreter, step: Step, body: SetBody, data: Any) -> Any:
    return interp.render(body.value, data, f"{step.reference}/set", step.scope)


KIND = TaskKind("set", check, parse, run_set, positions=positions)
