"""Walks a document's task list inside a Temporal workflow.

Everything here must be replay-safe: time comes from ``workflow.now()`` and
Temporal timers, side effects only from activities and child workflows, and
evaluation is pure jq (in the worker's expression sandbox, see dsl/sandbox.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the workspace
from temporalio import workflow
from temporalio.exceptions import ActivityError, ChildWorkflowError

from zigflow.dsl import expressions
from zigflow.dsl.activity_share import ActivityShare
from zigflow.dsl.durations import parse_duration
from zigflow.dsl.errors import (
    CONFIGURATION,
    INSTANCE_ATTRIBUTE,
    DslError,
    expression_error,
    timeout_error,
    validation_error,
)
from zigflow.dsl.model import Schema, TaskNode, Tasks, WorkflowDocument
from zigflow.dsl.options import RunOptions
from zigflow.dsl.pinning import PinnedDefinition
from zigflow.dsl.resume import (
    Frame,
    Resume,
    Suspend,
    list_frame,
    read_resume,
    resume_payload,
    task_frame,
)
from zigflow.dsl.task_kind import TaskKind
from zigflow.pending_calls import PendingAgentCalls

RUNTIME = {"name": "zigflow", "version": "0.1.0"}


@dataclass(frozen=True)
class Step:
    """One task about to run: its name, checked definition, JSON-pointer reference and
    the scoped runtime variables visible to it (``$item``, ``$index``, ``$error``, ...)."""

    name: str
    task: TaskNode
    reference: str
    scope: Mapping[str, Any] = field(default_factory=dict)
    resume: tuple[Frame, ...] = ()
    """Set when a continued run fast-forwards into this task (see resume.py)."""


@dataclass(frozen=True)
class Directed:
    """A runner's output with the flow directive to follow instead of the task's
    ``then`` (a ``switch`` case's ``then``)."""

    output: Any
    then: str


class _EndWorkflow(Exception):
    """``then: end`` unwinds every nested task list with the current data."""

    def __init__(self, data: Any) -> None:
        super().__init__("end")
        self.data = data


class Interpreter:
    """One run of one document. Each task runs through its type's ``TaskKind``
    (the registry is ``tasks.KINDS``)."""

    def __init__(
        self,
        document: WorkflowDocument,
        kinds: Mapping[str, TaskKind[Any]],
        options: RunOptions | None = None,
        definition: PinnedDefinition | None = None,
    ) -> None:
        self.document = document
        # The text this run pinned, handed on when it continues as new (dsl/pinning.py).
        self.definition = definition
        self._kinds = kinds
        self.options = options or RunOptions()
        self._secrets = dict(self.options.secrets)  # $secrets, built once per run
        self.context: Any = {}
        self.workflow_input: Any = None
        self.started_at = ""
        # Signals received so far, by name, for `listen` (see tasks/listen_task.py).
        self.inbox: dict[str, list[Any]] = {}
        # Tasks under way that a continue-as-new cannot cross (fork, try, ...).
        self.barriers = 0
        self._continued = 0
        # `call: agent` activities that wait, counted in the run's search attributes.
        self.agent_calls = PendingAgentCalls()
        # Bounds the `call: http` / `call: grpc` activities this run has out at once.
        self.activity_share = ActivityShare()

    def continue_as_new_due(self) -> bool:
        """True when a loop here may, and should, continue the run as new."""
        if self.barriers:
            return False
        info = workflow.info()
        limit = self.document.continue_as_new_after or self.options.continue_as_new_after
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= limit

    def variables(self, scope: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        info = workflow.info()
        return {
            "input": self.workflow_input,
            "context": self.context,
            "secrets": self._secrets,
            "runtime": RUNTIME,
            "workflow": {
                "id": info.workflow_id,
                "runId": info.run_id,
                "definition": self.document.raw["document"],
                "input": self.workflow_input,
                "startedAt": self.started_at,
            },
            **scope,
            **extra,
        }

    def render(
        self,
        value: Any,
        data: Any,
        where: str,
        scope: Mapping[str, Any] | None = None,
        **extra: Any,
    ) -> Any:
        try:
            return expressions.render(
                value, data, self.variables(scope or {}, **extra), self.options.evaluator
            )
        except expressions.ExpressionError as err:
            raise expression_error(str(err), where) from None

    async def run(self, workflow_input: Any) -> Any:
        info = workflow.info()
        resume = read_resume(workflow_input, continued_run=info.continued_run_id is not None)
        if resume is None:
            self.workflow_input = {} if workflow_input is None else workflow_input
            self.started_at = info.start_time.isoformat()
            self.check_schema(self.document.flow.input_schema, "input", self.workflow_input, "")
        else:
            self._restore(resume)
        cursor = resume.cursor if resume else ()
        try:
            return await self._run_in_time(cursor)
        except Suspend as suspend:
            await workflow.wait_condition(workflow.all_handlers_finished)
            state = Resume(
                input=self.workflow_input,
                started_at=self.started_at,
                context=self.context,
                inbox={kind: list(events) for kind, events in self.inbox.items() if events},
                continued=self._continued + 1,
                cursor=tuple(suspend.frames),
                definition=self.definition,
            )
            workflow.continue_as_new(resume_payload(state))

    def _restore(self, resume: Resume) -> None:
        self.workflow_input = resume.input
        self.started_at = resume.started_at
        self.context = resume.context
        self._continued = resume.continued
        for kind, events in resume.inbox.items():
            # Kept events are older than any that reached this run before its first task.
            self.inbox[kind] = [*events, *self.inbox.get(kind, [])]

    async def _run_in_time(self, cursor: tuple[Frame, ...]) -> Any:
        timeout = self.document.flow.timeout_after
        if timeout is None:
            return await self._run_document(cursor)
        limit = parse_duration(timeout, where="/timeout/after")
        remaining = limit.total_seconds()
        if cursor:  # a continued run has what is left of the first run's time
            elapsed = workflow.now() - datetime.fromisoformat(self.started_at)
            remaining = max((limit - elapsed).total_seconds(), 0.0)
        try:
            return await asyncio.wait_for(self._run_document(cursor), remaining)
        except TimeoutError:
            raise timeout_error(f"the workflow did not finish within {timeout}", "/") from None

    def check_schema(self, schema: Schema | None, key: str, value: Any, reference: str) -> None:
        """Validate ``value`` against the JSON Schema of ``key`` (``input`` or ``output``),
        if there is one."""
        if schema is None:
            return
        try:
            jsonschema.validate(value, schema)
        except jsonschema.ValidationError as err:
            where = "/" + "/".join(str(part) for part in err.absolute_path)
            raise validation_error(
                f"{key} does not match {key}.schema at {where}: {err.message}",
                f"{reference}/{key}/schema",
            ) from None

    async def _run_document(self, cursor: tuple[Frame, ...] = ()) -> Any:
        flow = self.document.flow
        data = self.workflow_input
        if not cursor and flow.input_from is not None:
            data = self.render(flow.input_from, data, "/input/from")
        try:
            data = await self.run_list(self.document.tasks, data, "/do", resume=cursor)
        except _EndWorkflow as end:
            data = end.data
        if flow.output_as is not None:
            data = self.render(flow.output_as, data, "/output/as", output=data)
        self.check_schema(flow.output_schema, "output", data, "")
        return data

    async def run_list(
        self,
        tasks: Tasks,
        data: Any,
        reference: str,
        scope: Mapping[str, Any] | None = None,
        *,
        resume: tuple[Frame, ...] = (),
    ) -> Any:
        """Runs the list; ``resume`` (a continued run) starts at its first frame's task."""
        positions = {task.name: index for index, task in enumerate(tasks)}
        index = int(resume[0]["index"]) if resume else 0
        inner = resume[1:]
        while index < len(tasks):
            task = tasks[index]
            step = Step(task.name, task, f"{reference}/{index}/{task.name}", scope or {}, inner)
            inner = ()
            try:
                data, flow = await self.run_task(step, data)
            except Suspend as suspend:
                raise suspend.enter(list_frame(index)) from None
            if flow == "continue":
                index += 1
            elif flow == "exit":
                break
            elif flow == "end":
                raise _EndWorkflow(data)
            else:
                index = positions[flow]
        return data

    async def run_task(self, step: Step, data: Any) -> tuple[Any, str]:
        resuming = bool(step.resume)
        if resuming:
            # `if`, input.schema and input.from ran before the run continued as new.
            data = step.resume[0]["input"]
            step = replace(step, resume=step.resume[1:])
        task, reference = step.task, step.reference
        # $task, the spec's task descriptor, in every expression of the task: its `if`,
        # input / output / export, and its body (`set`, `with`, ...).
        task_vars = {"name": step.name, "reference": reference, "input": data}
        step = replace(step, scope={**step.scope, "task": task_vars})
        if not resuming and task.condition is not None:
            condition = self.render(task.condition, data, f"{reference}/if", step.scope)
            if not expressions.truthy(condition):
                return data, "continue"
        flow = task.flow
        if not resuming:
            self.check_schema(flow.input_schema, "input", data, reference)
        task_input = data
        if resuming:
            task_input = None
        elif flow.input_from is not None:
            task_input = self.render(flow.input_from, data, f"{reference}/input/from", step.scope)
        known = self._kinds.get(task.kind)
        if known is None:
            raise DslError(
                type=CONFIGURATION,
                status=400,
                title="Unsupported task",
                detail=f"task type {task.kind!r} has no runner",
                instance=reference,
            )
        barrier = not known.resumable or flow.timeout_after is not None
        self.barriers += barrier
        try:
            result = await self._with_timeout(
                known, known.runner(self, step, task.body, task_input), step, data
            )
        except (ActivityError, ChildWorkflowError) as err:
            # Remember the innermost task that failed: a catch reports it as `instance`.
            if not hasattr(err, INSTANCE_ATTRIBUTE):
                setattr(err, INSTANCE_ATTRIBUTE, reference)
            raise
        except Suspend as suspend:
            raise suspend.enter(task_frame(data)) from None
        finally:
            self.barriers -= barrier
        then = task.then
        if isinstance(result, Directed):
            result, then = result.output, result.then
        if flow.output_as is not None:
            result = self.render(
                flow.output_as, result, f"{reference}/output/as", step.scope, output=result
            )
        self.check_schema(flow.output_schema, "output", result, reference)
        if flow.export_as is not None:
            self.context = self.render(flow.export_as, result, f"{reference}/export/as", step.scope)
        return result, then

    def task_timeout(self, step: Step, data: Any) -> timedelta | None:
        """The task's ``timeout.after`` (a duration or an expression giving one)."""
        after = step.task.flow.timeout_after
        if after is None:
            return None
        where = f"{step.reference}/timeout/after"
        try:
            return parse_duration(self.render(after, data, where, step.scope), where=where)
        except ValueError as err:
            raise validation_error(str(err), where) from None

    async def _with_timeout(
        self, kind: TaskKind[Any], work: Awaitable[Any], step: Step, data: Any
    ) -> Any:
        limit = None if kind.own_timeout else self.task_timeout(step, data)
        if limit is None:
            return await work
        after = step.task.flow.timeout_after
        try:
            return await asyncio.wait_for(work, limit.total_seconds())
        except TimeoutError:
            raise timeout_error(
                f"task {step.name!r} did not finish within {after}", step.reference
            ) from None
