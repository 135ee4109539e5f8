"""``set``: the task's output is its ``set`` value (a map, or an expression) evaluated
against its input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from zigflow.dsl.load_context import LoadContext, Task
from zigflow.dsl.task_kind import Position, TaskKind, owned

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter, Step


def check(checker: LoadContext, task: Task, path: str, siblings: set[str]) -> None:
    if not isinstance(task["set"], dict | str):
        raise checker.fail(f"{path}.set", "must be a map or an expression")


def positions(task: Task, path: str) -> Iterator[Position]:
    """A ``set`` string is one expression (a ``set`` map's strings stay literal)."""
    yield from owned(task, path, "set")


async def run_set(interp: Interpreter, step: Step, data: Any) -> Any:
    return interp.render(step.task["set"], data, f"{step.reference}/set", step.scope)


KIND = TaskKind("set", check, run_set, positions=positions)
