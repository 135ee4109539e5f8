"""``do``: a nested task list, run in order with the flow directives of its tasks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from zigflow.dsl.load_context import LoadContext, Task
from zigflow.dsl.model import as_task_list
from zigflow.dsl.task_kind import TaskKind

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter, Step


def check(checker: LoadContext, task: Task, path: str, siblings: set[str]) -> None:
    checker.task_list(task["do"], f"{path}.do")


def task_lists(task: Task, path: str) -> Iterator[tuple[str, Any]]:
    yield f"{path}.do", task.get("do")


async def run_do(interp: Interpreter, step: Step, data: Any) -> Any:
    tasks = as_task_list(step.task["do"])
    return await interp.run_list(
        tasks, data, f"{step.reference}/do", step.scope, resume=step.resume
    )


KIND = TaskKind("do", check, run_do, task_lists=task_lists, resumable=True)
