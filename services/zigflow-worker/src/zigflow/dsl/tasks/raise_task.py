"""``raise``: fails the task with a DSL error (inline, or named in ``use.errors``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zigflow.dsl.errors import ERROR_TYPE_BASE, DslError
from zigflow.dsl.fields import ERROR, Part, check_part
from zigflow.dsl.load_context import LoadContext, Task
from zigflow.dsl.model import Template
from zigflow.dsl.task_kind import Builder, TaskKind
from zigflow.dsl.validation import as_map, named

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter, Step

RAISE = Part("raise", frozenset({"error"}))


@dataclass(frozen=True)
class RaiseBody:
    error: Template
    """The error's map (a name of ``use.errors`` is resolved at load); its values may be
    expressions."""


def check(checker: LoadContext, task: Task, path: str, siblings: set[str]) -> None:
    raised = as_map(checker, task["raise"], f"{path}.raise")
    check_part(checker, RAISE, raised, f"{path}.raise")
    error = raised.get("error")
    if isinstance(error, str):
        error = named(checker, "errors", error, f"{path}.raise.error")
    error = as_map(checker, error, f"{path}.raise.error")
    check_part(checker, ERROR, error, f"{path}.raise.error")
    for key in ("type", "status"):
        if key not in error:
            raise checker.fail(f"{path}.raise.error.{key}", "is required")


def parse(builder: Builder, task: Task) -> RaiseBody:
    return RaiseBody(builder.component("errors", task["raise"]["error"]))


async def run_raise(interp: Interpreter, step: Step, body: RaiseBody, data: Any) -> Any:
    """Raises the task's error; ``instance`` defaults to the task's reference and a
    type without a scheme is read as one of the spec's standard types."""
    spec = interp.render(body.error, data, f"{step.reference}/raise", step.scope)
    error_type = str(spec["type"])
    if ":" not in error_type:
        error_type = ERROR_TYPE_BASE + error_type
    raise DslError(
        type=error_type,
        status=int(spec["status"]),
        title=str(spec.get("title") or error_type.rsplit("/", 1)[-1]),
        detail=str(spec.get("detail") or ""),
        instance=str(spec.get("instance") or step.reference),
    )


KIND = TaskKind("raise", check, parse, run_raise)
