"""``wait``: a durable Temporal timer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow

from zigflow.dsl import expressions
from zigflow.dsl.durations import parse_duration
from zigflow.dsl.errors import validation_error
from zigflow.dsl.load_context import LoadContext, Task
from zigflow.dsl.model import Template
from zigflow.dsl.task_kind import Builder, TaskKind

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter, Step


@dataclass(frozen=True)
class WaitBody:
    duration: Template
    """A duration (ISO 8601 or the spec's map), or an expression that gives one."""


def check(checker: LoadContext, task: Task, path: str, siblings: set[str]) -> None:
    if not expressions.is_expression(task["wait"]):
        checker.duration(task["wait"], f"{path}.wait")


def parse(builder: Builder, task: Task) -> WaitBody:
    return WaitBody(task["wait"])


async def run_wait(interp: Interpreter, step: Step, body: WaitBody, data: Any) -> Any:
    spec = interp.render(body.duration, data, f"{step.reference}/wait", step.scope)
    try:
        delay = parse_duration(spec, where=f"{step.reference}/wait")
    except ValueError as err:
        raise validation_error(str(err), f"{step.reference}/wait") from None
    if delay > timedelta(0):
        await workflow.sleep(delay)
    return data


KIND = TaskKind("wait", check, parse, run_wait)
