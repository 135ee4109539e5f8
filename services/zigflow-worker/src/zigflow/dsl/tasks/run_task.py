"""``run: workflow``: another document of this worker's, as a child workflow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from temporalio import workflow

from zigflow.dsl.fields import Part, check_part
from zigflow.dsl.load_context import LoadContext, Task
from zigflow.dsl.model import Template
from zigflow.dsl.task_kind import Builder, TaskKind
from zigflow.dsl.validation import as_map

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter, Step

# The processes of `run` other than `workflow` (the spec's container, script, shell).
RUN_PROCESSES = frozenset({"container", "script", "shell"})
RUN = Part(
    "run",
    frozenset({"workflow", "await"}),
    {"return": "a run: workflow task returns the child's output"},
)
RUN_WORKFLOW = Part("run.workflow", frozenset({"namespace", "name", "version", "input"}))


@dataclass(frozen=True)
class RunBody:
    workflow: Template
    """``run.workflow``: the child's ``name`` and its ``input`` (may be expressions)."""
    wait: bool
    """``run.await``: wait for the child's output, or start it and move on."""


def check(checker: LoadContext, task: Task, path: str, siblings: set[str]) -> None:
    run = as_map(checker, task["run"], f"{path}.run")
    others = sorted(key for key in RUN_PROCESSES if key in run)
    if others:
        raise checker.fail(
            f"{path}.run.{others[0]}",
            f"run: {others[0]} is not supported (only run: workflow, with a name)",
        )
    check_part(checker, RUN, run, f"{path}.run")
    target = run.get("workflow")
    if not isinstance(target, dict) or not target.get("name"):
        raise checker.fail(f"{path}.run.workflow", "only run: workflow (with a name) is supported")
    check_part(checker, RUN_WORKFLOW, target, f"{path}.run.workflow")


def parse(builder: Builder, task: Task) -> RunBody:
    run = task["run"]
    return RunBody(run["workflow"], bool(run.get("await", True)))


async def run_run(interp: Interpreter, step: Step, body: RunBody, data: Any) -> Any:
    """``run: workflow`` starts the document named ``name`` as a child workflow (its
    workflow type) on that document's task queue. ``await: false`` starts it and moves on with
    the task's input; the child then outlives this workflow."""
    where = f"{step.reference}/run/workflow"
    target = interp.render(body.workflow, data, where, step.scope)
    child_input = target.get("input", data)
    child_id = f"{workflow.info().workflow_id}/{step.name}-{workflow.uuid4().hex[:12]}"
    queue = interp.options.task_queue_of(str(target["name"]))
    if body.wait:
        return await workflow.execute_child_workflow(
            str(target["name"]), child_input, id=child_id, task_queue=queue
        )
    await workflow.start_child_workflow(
        str(target["name"]),
        child_input,
        id=child_id,
        task_queue=queue,
        parent_close_policy=workflow.ParentClosePolicy.ABANDON,
    )
    return data


KIND = TaskKind("run", check, parse, run_run)
