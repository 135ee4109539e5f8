"""``for``: runs its ``do`` once per item of a collection, and may continue the run as new
between iterations (resume.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zigflow.dsl import expressions
from zigflow.dsl.errors import validation_error
from zigflow.dsl.fields import Part, check_part
from zigflow.dsl.load_context import LoadContext, Task
from zigflow.dsl.model import Tasks, Template
from zigflow.dsl.resume import Frame, Suspend, for_frame
from zigflow.dsl.task_kind import Builder, Position, TaskKind, owned
from zigflow.dsl.validation import as_map

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter, Step

DEFAULT_ITEM = "item"
DEFAULT_INDEX = "index"
LOOP = Part("for", frozenset({"each", "in", "at"}))


@dataclass(frozen=True)
class ForBody:
    collection: Template
    """``for.in``: a list, or a map (iterated as ``{key, value}`` items)."""
    each: str
    """The item's variable (``for.each``, ``$item`` by default)."""
    at: str
    """The index's variable (``for.at``, ``$index`` by default)."""
    condition: Template | None
    """``while``: checked before each iteration."""
    tasks: Tasks


def check(checker: LoadContext, task: Task, path: str, siblings: set[str]) -> None:
    loop = as_map(checker, task["for"], f"{path}.for")
    check_part(checker, LOOP, loop, f"{path}.for")
    if "in" not in loop:
        raise checker.fail(f"{path}.for.in", "is required")
    checker.task_list(task.get("do"), f"{path}.do")


def positions(task: Task, path: str) -> Iterator[Position]:
    yield from owned(task, path, "while", condition=True)
    yield from owned(task.get("for"), f"{path}.for", "in")


def task_lists(task: Task, path: str) -> Iterator[tuple[str, Any]]:
    yield f"{path}.do", task.get("do")


def parse(builder: Builder, task: Task) -> ForBody:
    loop = task["for"]
    return ForBody(
        collection=loop["in"],
        each=str(loop.get("each", DEFAULT_ITEM)),
        at=str(loop.get("at", DEFAULT_INDEX)),
        condition=task.get("while"),
        tasks=builder.tasks(task["do"]),
    )


async def run_for(interp: Interpreter, step: Step, body: ForBody, data: Any) -> Any:
    """Runs ``do`` once per item; each iteration's output is the next one's input,
    and the last output is the task's output (its input when the collection is empty).
    ``while`` is checked before each iteration, with the item variables bound.

    Before each iteration but the first of this run, the loop may continue the run as
    new (``Interpreter.continue_as_new_due``); a continued run resumes here."""
    each, at, tasks = body.each, body.at, body.tasks
    reference = f"{step.reference}/do"
    if step.resume:
        frame, inner = step.resume[0], step.resume[1:]
        items, offset, data = list(frame["items"]), int(frame["index"]), frame["data"]
        if frame["within"]:  # finish the iteration that was under way
            scope = {**step.scope, each: items[0], at: offset}
            where = (items, 0, offset)
            data = await _iteration(interp, tasks, reference, scope, where, None, inner)
            items, offset = items[1:], offset + 1
    else:
        items, offset = _collection(interp, step, body, data), 0
    for position, item in enumerate(items):
        index = offset + position
        if position and interp.continue_as_new_due():
            raise Suspend(for_frame(index, items[position:], data, within=False))
        scope = {**step.scope, each: item, at: index}
        if body.condition is not None and not expressions.truthy(
            interp.render(body.condition, data, f"{step.reference}/while", scope)
        ):
            break
        where = (items, position, index)
        data = await _iteration(interp, tasks, reference, scope, where, data, ())
    return data


async def _iteration(
    interp: Interpreter,
    tasks: Tasks,
    reference: str,
    scope: dict[str, Any],
    where: tuple[list[Any], int, int],
    data: Any,
    resume: tuple[Frame, ...],
) -> Any:
    """One iteration; ``where`` is (items, position in items, $index)."""
    try:
        return await interp.run_list(tasks, data, reference, scope, resume=resume)
    except Suspend as suspend:
        items, position, index = where
        raise suspend.enter(for_frame(index, items[position:], None, within=True)) from None


def _collection(interp: Interpreter, step: Step, body: ForBody, data: Any) -> list[Any]:
    reference = step.reference
    collection = interp.render(body.collection, data, f"{reference}/for/in", step.scope)
    if collection is None:
        collection = []
    if isinstance(collection, dict):
        collection = [{"key": k, "value": v} for k, v in collection.items()]
    if not isinstance(collection, list):
        raise validation_error(
            f"for.in must give a list, got {type(collection).__name__}", f"{reference}/for/in"
        )
    return collection


KIND = TaskKind(
    "for",
    check,
    parse,
    run_for,
    fields=frozenset({"while", "do"}),
    positions=positions,
    task_lists=task_lists,
    resumable=True,
)
