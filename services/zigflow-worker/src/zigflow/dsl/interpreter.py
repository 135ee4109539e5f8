"""Walks a document's task list inside a Temporal workflow.

Everything here must be replay-safe: time comes from ``workflow.now()``, side
effects only from activities and child workflows, and evaluation is pure jq.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from temporalio import workflow

from zigflow.dsl import expressions
from zigflow.dsl.document import TaskList, WorkflowDocument, task_type
from zigflow.dsl.errors import DslError, expression_error

RUNTIME = {"name": "zigflow", "version": "0.1.0"}

TaskRunner = Callable[["Interpreter", str, dict[str, Any], Any, str], Awaitable[Any]]


class _EndWorkflow(Exception):
    """``then: end`` unwinds every nested task list with the current data."""

    def __init__(self, data: Any) -> None:
        super().__init__("end")
        self.data = data


class Interpreter:
    """One run of one document. Task runners are looked up by task type."""

    def __init__(self, document: WorkflowDocument, runners: Mapping[str, TaskRunner]) -> None:
        self.document = document
        self._runners = runners
        self.context: Any = {}
        self.workflow_input: Any = None

    def variables(self, **extra: Any) -> dict[str, Any]:
        info = workflow.info()
        return {
            "input": self.workflow_input,
            "context": self.context,
            "secrets": {},
            "runtime": RUNTIME,
            "workflow": {
                "id": info.workflow_id,
                "runId": info.run_id,
                "definition": self.document.raw["document"],
                "input": self.workflow_input,
                "startedAt": info.start_time.isoformat(),
            },
            **extra,
        }

    def render(self, value: Any, data: Any, where: str, **extra: Any) -> Any:
        try:
            return expressions.render(value, data, self.variables(**extra))
        except expressions.ExpressionError as err:
            raise expression_error(str(err), where) from None

    async def run(self, workflow_input: Any) -> Any:
        self.workflow_input = {} if workflow_input is None else workflow_input
        data = self.workflow_input
        spec = self.document.raw
        if (source := (spec.get("input") or {}).get("from")) is not None:
            data = self.render(source, data, "/input/from")
        try:
            data = await self.run_list(self.document.tasks, data, "/do")
        except _EndWorkflow as end:
            data = end.data
        if (shape := (spec.get("output") or {}).get("as")) is not None:
            data = self.render(shape, data, "/output/as", output=data)
        return data

    async def run_list(self, tasks: TaskList, data: Any, reference: str) -> Any:
        positions = {name: index for index, (name, _) in enumerate(tasks)}
        index = 0
        while index < len(tasks):
            name, task = tasks[index]
            data, flow = await self.run_task(name, task, data, f"{reference}/{index}/{name}")
            if flow == "continue":
                index += 1
            elif flow == "exit":
                break
            elif flow == "end":
                raise _EndWorkflow(data)
            else:
                index = positions[flow]
        return data

    async def run_task(
        self, name: str, task: dict[str, Any], data: Any, reference: str
    ) -> tuple[Any, str]:
        task_vars = {"name": name, "reference": reference, "input": data}
        if "if" in task:
            condition = self.render(task["if"], data, f"{reference}/if", task=task_vars)
            if not expressions.truthy(condition):
                return data, "continue"
        task_input = data
        if (source := (task.get("input") or {}).get("from")) is not None:
            task_input = self.render(source, data, f"{reference}/input/from", task=task_vars)
        kind = task_type(task)
        runner = self._runners.get(kind or "")
        if runner is None:
            raise DslError(
                type="https://serverlessworkflow.io/spec/1.0.0/errors/configuration",
                status=400,
                title="Unsupported task",
                detail=f"task type {kind!r} has no runner",
                instance=reference,
            )
        output = await runner(self, name, task, task_input, reference)
        if (shape := (task.get("output") or {}).get("as")) is not None:
            output = self.render(shape, output, f"{reference}/output/as", task=task_vars)
        if (export := (task.get("export") or {}).get("as")) is not None:
            self.context = self.render(export, output, f"{reference}/export/as", task=task_vars)
        return output, str(task.get("then", "continue"))
