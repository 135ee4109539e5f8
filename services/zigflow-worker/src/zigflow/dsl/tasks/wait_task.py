"""``wait``: a durable Temporal timer."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow

from zigflow.dsl import expressions
from zigflow.dsl.durations import parse_duration
from zigflow.dsl.errors import validation_error
from zigflow.dsl.load_context import LoadContext, Task
from zigflow.dsl.task_kind import TaskKind

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter, Step


def check(checker: LoadContext, task: Task, path: str, siblings: set[str]) -> None:
    if not expressions.is_expression(task["wait"]):
        checker.duration(task["wait"], f"{path}.wait")


async def run_wait(interp: Interpreter, step: Step, data: Any) -> Any:
    spec = interp.render(step.task["wait"], data, f"{step.reference}/wait", step.scope)
    try:
        delay = parse_duration(spec, where=f"{step.reference}/wait")
    except ValueError as err:
        raise validation_error(str(err), f"{step.reference}/wait") from None
    if delay > timedelta(0):
        await workflow.sleep(delay)
    return data


KIND = TaskKind("wait", check, run_wait)
