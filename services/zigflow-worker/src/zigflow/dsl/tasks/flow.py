"""Data and control flow: ``set``, ``do``, ``switch``, ``for`` and ``fork``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from zigflow.dsl import expressions
from zigflow.dsl.document import as_task_list
from zigflow.dsl.errors import validation_error
from zigflow.dsl.interpreter import Directed, Step
from zigflow.dsl.resume import Suspend, for_frame

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter

DEFAULT_ITEM = "item"
DEFAULT_INDEX = "index"


async def run_set(interp: Interpreter, step: Step, data: Any) -> Any:
    return interp.render(step.task["set"], data, f"{step.reference}/set", step.scope)


async def run_do(interp: Interpreter, step: Step, data: Any) -> Any:
    tasks = as_task_list(step.task["do"])
    return await interp.run_list(
        tasks, data, f"{step.reference}/do", step.scope, resume=step.resume
    )


async def run_switch(interp: Interpreter, step: Step, data: Any) -> Any:
    """The first case whose ``when`` holds (or the default case, without ``when``)
    decides the flow; no match and no default means ``then`` of the task itself.
    The output is the task's input."""
    default: dict[str, Any] | None = None
    for index, entry in enumerate(step.task["switch"]):
        ((name, case),) = entry.items()
        case = case or {}
        if "when" not in case:
            default = default or case
            continue
        where = f"{step.reference}/switch/{index}/{name}/when"
        if expressions.truthy(interp.render(case["when"], data, where, step.scope)):
            return Directed(data, str(case.get("then", "continue")))
    if default is not None:
        return Directed(data, str(default.get("then", "continue")))
    return data


async def run_for(interp: Interpreter, step: Step, data: Any) -> Any:
    """Runs ``do`` once per item; each iteration's output is the next one's input,
    and the last output is the task's output (its input when the collection is empty).
    ``while`` is checked before each iteration, with the item variables bound.

    Before each iteration but the first of this run, the loop may continue the run as
    new (``Interpreter.continue_as_new_due``); a continued run resumes here."""
    loop = step.task["for"]
    each = loop.get("each", DEFAULT_ITEM)
    at = loop.get("at", DEFAULT_INDEX)
    tasks = as_task_list(step.task["do"])
    body = f"{step.reference}/do"
    if step.resume:
        frame, inner = step.resume[0], step.resume[1:]
        items, offset, data = list(frame["items"]), int(frame["index"]), frame["data"]
        if frame["within"]:  # finish the iteration that was under way
            scope = {**step.scope, each: items[0], at: offset}
            data = await _iteration(interp, tasks, body, scope, (items, 0, offset), None, inner)
            items, offset = items[1:], offset + 1
    else:
        items, offset = _collection(interp, step, data), 0
    for position, item in enumerate(items):
        index = offset + position
        if position and interp.continue_as_new_due():
            raise Suspend(for_frame(index, items[position:], data, within=False))
        scope = {**step.scope, each: item, at: index}
        condition = step.task.get("while")
        if condition is not None and not expressions.truthy(
            interp.render(condition, data, f"{step.reference}/while", scope)
        ):
            break
        data = await _iteration(interp, tasks, body, scope, (items, position, index), data, ())
    return data


async def _iteration(
    interp: Interpreter,
    tasks: list[tuple[str, dict[str, Any]]],
    body: str,
    scope: dict[str, Any],
    where: tuple[list[Any], int, int],
    data: Any,
    resume: tuple[dict[str, Any], ...],
) -> Any:
    """One iteration; ``where`` is (items, position in items, $index)."""
    try:
        return await interp.run_list(tasks, data, body, scope, resume=resume)
    except Suspend as suspend:
        items, position, index = where
        raise suspend.enter(for_frame(index, items[position:], None, within=True)) from None


def _collection(interp: Interpreter, step: Step, data: Any) -> list[Any]:
    reference = step.reference
    collection = interp.render(step.task["for"]["in"], data, f"{reference}/for/in", step.scope)
    if collection is None:
        collection = []
    if isinstance(collection, dict):
        collection = [{"key": k, "value": v} for k, v in collection.items()]
    if not isinstance(collection, list):
        raise validation_error(
            f"for.in must give a list, got {type(collection).__name__}", f"{reference}/for/in"
        )
    return collection


async def run_fork(interp: Interpreter, step: Step, data: Any) -> Any:
    """Runs the branches concurrently on the same input. Without ``compete`` the
    output is the list of branch outputs, in branch order, and the first failure
    cancels the others; with ``compete`` the first branch to succeed wins and the
    others are cancelled (the fork fails only when every branch failed)."""
    fork = step.task["fork"]
    compete = bool(fork.get("compete", False))
    branches = as_task_list(fork["branches"])

    async def branch(index: int, name: str, task: dict[str, Any]) -> Any:
        ref = f"{step.reference}/fork/branches/{index}/{name}"
        output, _ = await interp.run_task(Step(name, task, ref, step.scope), data)
        return output

    jobs = [asyncio.ensure_future(branch(i, name, task)) for i, (name, task) in enumerate(branches)]
    try:
        if compete:
            return await _first_success(jobs)
        return await _all(jobs)
    finally:
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)


async def _all(jobs: Sequence[asyncio.Future[Any]]) -> list[Any]:
    pending = set(jobs)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        for job in sorted(done, key=jobs.index):
            if (error := job.exception()) is not None:
                raise error
    return [job.result() for job in jobs]


async def _first_success(jobs: Sequence[asyncio.Future[Any]]) -> Any:
    pending = set(jobs)
    first_error: BaseException | None = None
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        # Several may finish in one workflow task: pick by branch order, deterministically.
        for job in sorted(done, key=jobs.index):
            if job.exception() is None:
                return job.result()
            first_error = first_error or job.exception()
    assert first_error is not None
    raise first_error
