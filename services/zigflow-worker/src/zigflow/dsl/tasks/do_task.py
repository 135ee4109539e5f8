"""``do``: a nested task list, run in order with the flow directives of its tasks."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zigflow.dsl.load_context import LoadContext, Task
from zigflow.dsl.model import Tasks
from zigflow.dsl.task_kind import Builder, TaskKind

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter, Step


@dataclass(frozen=True)
class DoBody:
    tasks: Tasks


def check(checker: LoadContext, task: Task, path: str, siblings: set[str]) -> None:
    checker.task_list(task["do"], f"{path}.do")


def task_lists(task: Task, path: str) -> Iterator[tuple[str, Any]]:
    yield f"{path}.do", task.get("do")


def parse(builder: Builder, task: Task) -> DoBody:
    return DoBody(builder.tasks(task["do"]))


async def run_do(interp: Interpreter, step: Step, body: DoBody, data: Any) -> Any:
    return await interp.run_list(
        body.tasks, data, f"{step.reference}/do", step.scope, resume=step.resume
    )


KIND = TaskKind("do", check, parse, run_do, task_lists=task_lists, resumable=True)
