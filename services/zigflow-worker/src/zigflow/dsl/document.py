"""Loading and checking Serverless Workflow DSL 1.0 documents.

A definition is refused at load time, with the file and the JSON path of the
problem, rather than failing halfway through a run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from zigflow.dsl import evaluate, expressions, fields, validation, yaml_source
from zigflow.dsl.builder import TaskBuilder
from zigflow.dsl.durations import parse_duration
from zigflow.dsl.lines import line_of
from zigflow.dsl.load_context import DefinitionError, Task, TaskList
from zigflow.dsl.model import (
    FLOW_DIRECTIVES,
    TASK_TYPES,
    DataFlow,
    WorkflowDocument,
    content_hash,
    task_type,
)
from zigflow.dsl.tasks import KINDS
from zigflow.dsl.yaml_source import YamlLimits

# Task and document fields the interpreter reads as maps ({from: ...}, {as: ...}, {after: ...}).
MAP_FIELDS = ("input", "output", "export", "timeout")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DSL_VERSION = re.compile(r"^1\.0(\.\d+)?(-[0-9A-Za-z.]+)?$")
# A Temporal task queue name for document.metadata.taskQueue (no spaces, not too long).
_TASK_QUEUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$")


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
        known = KINDS.get(kind)
        if known is None:
            raise self.fail(f"{path}.{kind}", f"task type {kind!r} is not supported yet")
        fields.check_task(self, known, task, path)
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
        known.check(self, task, path, siblings)

    def duration(self, value: Any, path: str) -> None:
        try:
            parse_duration(value, where=path)
        except ValueError as err:
            raise self.fail(path, str(err).removeprefix(f"{path}: ")) from None


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
    checker.task_list(data.get("do"), "$.do")
    checker.raise_problems()
    builder = TaskBuilder(checker.use)  # every check passed: parse once, typed
    return WorkflowDocument(
        source=source,
        dsl=document["dsl"],
        namespace=document["namespace"],
        name=document["name"],
        version=document["version"],
        tasks=builder.tasks(data["do"]),
        raw=data,
        flow=DataFlow.of(data),
        functions=builder.functions(),
    )


def load_document(path: Path, *, limits: YamlLimits | None = None) -> WorkflowDocument:
    """Read, parse and check one definition file. Anything wrong with it, its YAML past
    the limits (``yaml_source``) included, is a ``DefinitionError`` naming the file."""
    limits = limits or YamlLimits()
    try:
        text = yaml_source.read_text(path, limits)
    except yaml_source.YamlLimitError as err:
        raise DefinitionError(str(path), "$", str(err)) from None
    except UnicodeDecodeError as err:
        raise DefinitionError(str(path), "$", f"not UTF-8 text: {err}") from None
    except OSError as err:
        raise DefinitionError(str(path), "$", f"cannot be read: {err.strerror or err}") from None
    return parse_text(text, source=str(path), limits=limits)


def parse_text(text: str, *, source: str, limits: YamlLimits | None = None) -> WorkflowDocument:
    """A definition from its text, as a file, a run's pinned copy (pinned_texts.py) and a
    test give it: parsed within the YAML limits, checked, and identified by its hash. Every
    problem is a ``DefinitionError`` naming ``source`` and the line of its JSON path."""
    limits = limits or YamlLimits()
    try:
        data = yaml_source.load(text, limits)
    except yaml_source.YamlLimitError as err:
        raise DefinitionError(source, "$", str(err)) from None
    except yaml.YAMLError as err:
        raise DefinitionError(source, "$", f"not valid YAML: {err}") from None
    try:
        document = parse_document(data, source=source)
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
