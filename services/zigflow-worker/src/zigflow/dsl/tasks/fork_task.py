"""``fork``: branches run concurrently on the same input; ``compete`` keeps the first."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zigflow.dsl.fields import Part, check_part
from zigflow.dsl.interpreter import Step
from zigflow.dsl.load_context import LoadContext, Task
from zigflow.dsl.model import TaskNode, Tasks
from zigflow.dsl.task_kind import Builder, TaskKind
from zigflow.dsl.validation import as_map

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter

FORK = Part("fork", frozenset({"branches", "compete"}))


@dataclass(frozen=True)
class ForkBody:
    branches: Tasks
    compete: bool
    """The first branch to succeed wins, rather than every branch's output."""


def check(checker: LoadContext, task: Task, path: str, siblings: set[str]) -> None:
    fork = as_map(checker, task["fork"], f"{path}.fork")
    check_part(checker, FORK, fork, f"{path}.fork")
    checker.task_list(fork.get("branches"), f"{path}.fork.branches")


def task_lists(task: Task, path: str) -> Iterator[tuple[str, Any]]:
    fork = task.get("fork")
    if isinstance(fork, dict):
        yield f"{path}.fork.branches", fork.get("branches")


def parse(builder: Builder, task: Task) -> ForkBody:
    fork = task["fork"]
    return ForkBody(builder.tasks(fork["branches"]), bool(fork.get("compete", False)))


async def run_fork(interp: Interpreter, step: Step, body: ForkBody, data: Any) -> Any:
    """Runs the branches concurrently on the same input. Without ``compete`` the
    output is the list of branch outputs, in branch order, and the first failure
    cancels the others; with ``compete`` the first branch to succeed wins and the
    others are cancelled (the fork fails only when every branch failed)."""

    async def branch(index: int, task: TaskNode) -> Any:
        ref = f"{step.reference}/fork/branches/{index}/{task.name}"
        output, _ = await interp.run_task(Step(task.name, task, ref, step.scope), data)
        return output

    jobs = [asyncio.ensure_future(branch(i, task)) for i, task in enumerate(body.branches)]
    try:
        if body.compete:
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


KIND = TaskKind("fork", check, parse, run_fork, task_lists=task_lists)
