"""Loading and checking Serverless Workflow DSL 1.0 documents.

A definition is refused at load time, with the file and the JSON path of the
problem, rather than failing halfway through a run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from agent_contract import ZIGFLOW_TASK_QUEUE
from zigflow.agent_spec import (
    AGENT_ARGUMENTS,
    budget_from_arguments,
    tools_from_arguments,
)
from zigflow.dsl import evaluate, expressions, fields, grpc_validation, validation, yaml_source
from zigflow.dsl.durations import parse_duration
from zigflow.dsl.lines import line_of
from zigflow.dsl.load_context import DefinitionError, Task, TaskList
from zigflow.dsl.yaml_source import YamlLimits

TASK_TYPES = frozenset(
    {"call", "do", "emit", "for", "fork", "listen", "raise", "run", "set", "switch", "try", "wait"}
)
SUPPORTED_TASK_TYPES = TASK_TYPES - {"emit"}
SUPPORTED_CALLS = frozenset({"agent", "grpc", "http"})
FLOW_DIRECTIVES = frozenset({"continue", "exit", "end"})
# Task and document fields the interpreter reads as maps ({from: ...}, {as: ...}, {after: ...}).
MAP_FIELDS = ("input", "output", "export", "timeout")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DSL_VERSION = re.compile(r"^1\.0(\.\d+)?(-[0-9A-Za-z.]+)?$")
# A Temporal task queue name for document.metadata.taskQueue (no spaces, not too long).
_TASK_QUEUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$")


@dataclass(frozen=True)
class WorkflowDocument:
    """A checked definition. Its workflow type is ``document.name`` unless the Zigflow
    extension ``document.metadata.workflowType`` names another."""

    source: str
    dsl: str
    namespace: str
    name: str
    version: str
    tasks: TaskList
    raw: dict[str, Any] = field(repr=False)
    content_hash: str = ""
    """SHA-256 of the file's text (``content_hash``); empty for a document not read from
    a file. ``zigflow run`` sends it, so a worker serving other content refuses the run."""
    text: str = field(default="", repr=False)
    """The file's text, which a run records to keep it (dsl/pinning.py)."""

    @property
    def workflow_type(self) -> str:
        metadata = self.raw["document"].get("metadata") or {}
        return str(metadata.get("workflowType") or self.name)

    @property
    def task_queue(self) -> str:
        """The Temporal task queue its runs (and their activities) use: the Zigflow
        extension ``document.metadata.taskQueue``, else ``zigflow``."""
        metadata = self.raw["document"].get("metadata") or {}
        return str(metadata.get("taskQueue") or ZIGFLOW_TASK_QUEUE)

    @property
    def continue_as_new_after(self) -> int | None:
        """``document.metadata.continueAsNewAfter``: the history length after which a
        long ``for`` continues as new (the worker's setting when absent)."""
        metadata = self.raw["document"].get("metadata") or {}
        value = metadata.get("continueAsNewAfter")
        return None if value is None else int(value)

    @property
    def secret_names(self) -> tuple[str, ...]:
        """The secrets the document declares in ``use.secrets`` (``$secrets.<name>``)."""
        return tuple((self.raw.get("use") or {}).get("secrets") or ())


def as_task_list(entries: list[dict[str, Task]]) -> TaskList:
    """The DSL's list of one-key maps as (name, task) pairs; the list was checked at load."""
    return [(name, task) for entry in entries for name, task in entry.items()]


def task_type(task: Task) -> str | None:
    kinds = [key for key in task if key in TASK_TYPES]
    if "for" in kinds and "do" in kinds:
        kinds.remove("do")  # a for task's `do` is its body, not a second type
    return kinds[0] if len(kinds) == 1 else None


def _expressions(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if expressions.is_expression(value):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _expressions(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _expressions(item, f"{path}[{index}]")


class DocumentChecker:
    """Checks one document (implements ``load_context.LoadContext``)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.variables: tuple[str, ...] = validation.DEFAULT_SCOPED_VARIABLES
        self.use: dict[str, Any] = {}  # the document's reusable errors and retries
        # Problems of tasks already checked: each task is checked on its own, so one
        # load reports every task that fails (``DefinitionError.also``).
        self.problems: list[DefinitionError] = []

    def fail(self, path: str, problem: str) -> DefinitionError:
        return DefinitionError(self.source, path, problem)

    def task_list(self, value: Any, path: str) -> TaskList:
        if not isinstance(value, list) or not value:
            raise self.fail(path, "must be a non-empty list of {name: task} entries")
        tasks: TaskList = []
        for index, entry in enumerate(value):
            where = f"{path}[{index}]"
            if not isinstance(entry, dict) or len(entry) != 1:
                raise self.fail(where, "each entry must be a map with exactly one task name")
            ((name, task),) = entry.items()
            if not isinstance(name, str) or not name:
                raise self.fail(where, "task name must be a non-empty string")
            if any(existing == name for existing, _ in tasks):
                raise self.fail(f"{where}.{name}", f"duplicate task name {name!r}")
            if not isinstance(task, dict):
                raise self.fail(f"{where}.{name}", "task must be a map")
            tasks.append((name, task))
        names = {name for name, _ in tasks}
        for index, (name, task) in enumerate(tasks):
            try:
                self.task(task, f"{path}[{index}].{name}", names)
            except DefinitionError as err:
                self.problems.append(err)
        return tasks

    def raise_problems(self) -> None:
        """Raise what the task checks found: the first, with the others as ``also``."""
        if self.problems:
            first, *others = self.problems
            raise DefinitionError(first.source, first.path, first.problem, also=tuple(others))

    def task(self, task: Task, path: str, siblings: set[str]) -> None:
        kind = task_type(task)
        if kind is None:
            found = sorted(k for k in task if k in TASK_TYPES) or "none"
            raise self.fail(
                path, f"a task needs exactly one type key of {sorted(TASK_TYPES)} (found {found})"
            )
        if kind not in SUPPORTED_TASK_TYPES:
            raise self.fail(f"{path}.{kind}", f"task type {kind!r} is not supported yet")
        fields.check_task(self, kind, task, path)
        then = task.get("then")
        if then is not None and (
            not isinstance(then, str) or (then not in FLOW_DIRECTIVES and then not in siblings)
        ):
            raise self.fail(f"{path}.then", f"{then!r} is neither a flow directive nor a task here")
        for key in MAP_FIELDS:
            if task.get(key) is not None and not isinstance(task[key], dict):
                raise self.fail(f"{path}.{key}", "must be a map")
        validation.check_schemas(self, task, path)
        for where, expression in _expressions(task, path):
            try:
                expressions.check(expression, self.variables)
            except expressions.ExpressionError as err:
                raise self.fail(where, str(err)) from None
        after = (task.get("timeout") or {}).get("after")
        if "timeout" in task and not expressions.is_expression(after):
            self.duration(after, f"{path}.timeout.after")
        if kind == "do":
            self.task_list(task["do"], f"{path}.do")
        elif kind == "set":
            if not isinstance(task["set"], dict | str):
                raise self.fail(f"{path}.set", "must be a map or an expression")
        elif kind == "call":
            self.call(task, path)
        else:
            validation.check_task(self, kind, task, path, siblings)

    def call(self, task: Task, path: str) -> None:
        if isinstance(task["call"], str) and task["call"] in (self.use.get("functions") or {}):
            validation.check_function_call(self, task, path)
            return
        if not isinstance(task["call"], str) or task["call"] not in SUPPORTED_CALLS:
            raise self.fail(
                f"{path}.call",
                f"call {task['call']!r} is not supported yet (supported: agent, grpc, http)",
            )
        if task["call"] == "http":
            validation.check_http(self, task, path)
            return
        if task["call"] == "grpc":
            grpc_validation.check_grpc(self, task, path)
            return
        args = task.get("with")
        if not isinstance(args, dict):
            raise self.fail(f"{path}.with", "call: agent needs a 'with' map")
        for key in ("model", "input"):
            if key not in args:
                raise self.fail(f"{path}.with.{key}", "is required for call: agent")
        unknown = sorted(set(args) - AGENT_ARGUMENTS)
        if unknown:
            raise self.fail(
                f"{path}.with.{unknown[0]}",
                f"is not an argument of call: agent (known: {', '.join(sorted(AGENT_ARGUMENTS))})",
            )
        if "heartbeat" in args:
            self.duration(args["heartbeat"], f"{path}.with.heartbeat")
        for key, parse in (("tools", tools_from_arguments), ("budget", budget_from_arguments)):
            value = args.get(key)
            if value is None or _holds_expression(value):
                continue
            try:
                parse(value)
            except (TypeError, ValueError) as err:
                raise self.fail(f"{path}.with.{key}", str(err)) from None

    def duration(self, value: Any, path: str) -> None:
        try:
            parse_duration(value, where=path)
        except ValueError as err:
            raise self.fail(path, str(err).removeprefix(f"{path}: ")) from None


def _holds_expression(value: Any) -> bool:
    """Whether a value is, or contains, a runtime expression (checked when it runs)."""
    if isinstance(value, dict):
        return any(_holds_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_expression(v) for v in value)
    return expressions.is_expression(value)


def parse_document(data: Any, *, source: str) -> WorkflowDocument:
    checker = DocumentChecker(source)
    if not isinstance(data, dict):
        raise checker.fail("$", "a workflow definition must be a YAML map")
    document = data.get("document")
    if not isinstance(document, dict):
        raise checker.fail("$.document", "is required")
    for key in ("dsl", "namespace", "name", "version"):
        if not isinstance(document.get(key), str) or not document[key]:
            raise checker.fail(f"$.document.{key}", "is required and must be a string")
    if not _DSL_VERSION.match(document["dsl"]):
        raise checker.fail("$.document.dsl", f"version {document['dsl']!r} is not 1.0.x")
    for key in ("namespace", "name"):
        if not _NAME.match(document[key]):
            raise checker.fail(
                f"$.document.{key}", "must be lowercase letters, digits and dashes (RFC 1123)"
            )
    if not isinstance(document.get("metadata") or {}, dict):
        raise checker.fail("$.document.metadata", "must be a map")
    validation.check_metadata(checker, document.get("metadata") or {}, _TASK_QUEUE)
    fields.check_document(checker, data)
    if evaluate.check_evaluate(checker, data) == "loose":
        data = evaluate.loosen(data)
    evaluate.check_conditions(checker, data)
    for where, expression in _expressions(data, "$"):
        try:
            expressions.check_names(expression)
        except expressions.ExpressionError as err:
            raise checker.fail(where, str(err)) from None
    for key in ("input", "output", "timeout"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise checker.fail(f"$.{key}", "must be a map")
    checker.variables = validation.check_variables(checker, data)
    checker.use = validation.check_use(checker, data.get("use"))
    validation.check_secret_references(checker, data, _expressions(data, "$"))
    validation.check_schemas(checker, data, "$")
    if data.get("timeout") is not None:
        checker.duration((data["timeout"] or {}).get("after"), "$.timeout.after")
    tasks = checker.task_list(data.get("do"), "$.do")
    checker.raise_problems()
    return WorkflowDocument(
        source=source,
        dsl=document["dsl"],
        namespace=document["namespace"],
        name=document["name"],
        version=document["version"],
        tasks=tasks,
        raw=data,
    )


def load_document(path: Path, *, limits: YamlLimits | None = None) -> WorkflowDocument:
    """Read, parse and check one definition file. Anything wrong with it, its YAML past
    the limits (``yaml_source``) included, is a ``DefinitionError`` naming the file."""
    limits = limits or YamlLimits()
    try:
        text = yaml_source.read_text(path, limits)
        data = yaml_source.load(text, limits)
    except yaml_source.YamlLimitError as err:
        raise DefinitionError(str(path), "$", str(err)) from None
    except yaml.YAMLError as err:
        raise DefinitionError(str(path), "$", f"not valid YAML: {err}") from None
    except UnicodeDecodeError as err:
        raise DefinitionError(str(path), "$", f"not UTF-8 text: {err}") from None
    except OSError as err:
        raise DefinitionError(str(path), "$", f"cannot be read: {err.strerror or err}") from None
    try:
        document = parse_document(data, source=str(path))
    except DefinitionError as err:
        lined = [
            DefinitionError(e.source, e.path, e.problem, line=line_of(text, e.path, limits))
            for e in err.every
        ]
        first, *others = lined
        raise DefinitionError(
            first.source, first.path, first.problem, line=first.line, also=tuple(others)
        ) from None
    return replace(document, content_hash=content_hash(text), text=text)


def content_hash(text: str) -> str:
    """What identifies a definition's exact content: the SHA-256 of its file's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_directory(
    directory: Path, *, limits: YamlLimits | None = None
) -> tuple[list[WorkflowDocument], list[DefinitionError]]:
    """Load every *.yaml / *.yml definition; invalid ones are reported, the rest still load."""
    documents: list[WorkflowDocument] = []
    errors: list[DefinitionError] = []
    seen: dict[str, str] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            document = load_document(path, limits=limits)
        except DefinitionError as err:
            errors.append(err)
            continue
        except (RecursionError, TypeError, AttributeError, KeyError, ValueError) as err:
            # A shape the checks did not foresee: refused like any invalid file, so one
            # file never keeps the worker from serving the others.
            problem = f"cannot be checked ({type(err).__name__}: {err})"
            errors.append(DefinitionError(str(path), "$", problem))
            continue
        if document.workflow_type in seen:
            errors.append(
                DefinitionError(
                    str(path),
                    "$.document.name",
                    f"workflow type {document.workflow_type!r} is already defined by "
                    f"{seen[document.workflow_type]}",
                )
            )
            continue
        seen[document.workflow_type] = str(path)
        documents.append(document)
    return documents, errors
