"""``switch``: the first case whose ``when`` holds directs the flow."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zigflow.dsl import expressions
from zigflow.dsl.fields import Part, check_part
from zigflow.dsl.interpreter import Directed
from zigflow.dsl.load_context import LoadContext, Task
from zigflow.dsl.model import FLOW_DIRECTIVES, Template, condition_of
from zigflow.dsl.task_kind import Builder, Position, TaskKind, owned
from zigflow.dsl.validation import as_map

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter, Step

CASE = Part("switch case", frozenset({"when", "then"}))


@dataclass(frozen=True)
class Case:
    name: str
    when: Template | None
    """None for the default case (the one without ``when``)."""
    then: str


@dataclass(frozen=True)
class SwitchBody:
    cases: tuple[Case, ...]


def check(checker: LoadContext, task: Task, path: str, siblings: set[str]) -> None:
    cases = task["switch"]
    if not isinstance(cases, list) or not cases:
        raise checker.fail(f"{path}.switch", "must be a non-empty list of {name: case} entries")
    defaults = 0
    for index, entry in enumerate(cases):
        where = f"{path}.switch[{index}]"
        if not isinstance(entry, dict) or len(entry) != 1:
            raise checker.fail(where, "each case must be a map with exactly one case name")
        ((name, case),) = entry.items()
        case = as_map(checker, case or {}, f"{where}.{name}")
        check_part(checker, CASE, case, f"{where}.{name}")
        defaults += "when" not in case
        then = case.get("then", "continue")
        if not isinstance(then, str) or (then not in FLOW_DIRECTIVES and then not in siblings):
            raise checker.fail(
                f"{where}.{name}.then", f"{then!r} is neither a flow directive nor a task here"
            )
    if defaults > 1:
        raise checker.fail(f"{path}.switch", "at most one default case (a case without 'when')")


def positions(task: Task, path: str) -> Iterator[Position]:
    cases = task.get("switch")
    for index, entry in enumerate(cases if isinstance(cases, list) else []):
        if isinstance(entry, dict):
            for name, case in entry.items():
                yield from owned(case, f"{path}.switch[{index}].{name}", "when", condition=True)


def parse(builder: Builder, task: Task) -> SwitchBody:
    cases = []
    for entry in task["switch"]:
        ((name, case),) = entry.items()
        case = case or {}
        then = case.get("then")
        cases.append(
            Case(str(name), condition_of(case, "when"), "continue" if then is None else str(then))
        )
    return SwitchBody(tuple(cases))


async def run_switch(interp: Interpreter, step: Step, body: SwitchBody, data: Any) -> Any:
    """The first case whose ``when`` holds (or the default case, without ``when``)
    decides the flow; no match and no default means ``then`` of the task itself.
    The output is the task's input."""
    default: Case | None = None
    for index, case in enumerate(body.cases):
        if case.when is None:
            default = default or case
            continue
        where = f"{step.reference}/switch/{index}/{case.name}/when"
        if expressions.truthy(interp.render(case.when, data, where, step.scope)):
            return Directed(data, case.then)
    if default is not None:
        return Directed(data, default.then)
    return data


KIND = TaskKind("switch", check, parse, run_switch, positions=positions)
