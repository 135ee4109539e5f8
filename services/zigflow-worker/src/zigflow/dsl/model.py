"""A checked definition, parsed once into typed tasks, and the shapes every phase shares.

Loading (``document``) checks a document's raw YAML map and then parses it into these: a
``TaskNode`` per task, whose ``body`` is its kind's own frozen dataclass (declared beside
its runner in ``tasks/<type>_task.py``), so the interpreter and the runners read typed
fields and never a raw map. The interpreter and the runners import this module, never
``document``, and the load path can import the runners without a cycle.

What stays untyped is what the spec leaves open until a task runs: a ``Template`` is a
value as written, literal data or data holding ``${ }`` expressions, rendered against the
task's input when it runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from agent_contract import ZIGFLOW_TASK_QUEUE
from zigflow.dsl.load_context import Task

# Every task type of the Serverless Workflow 1.0 DSL, supported or not: what makes a map a
# task. Those Zigflow runs are the kinds registered in ``tasks.KINDS``.
TASK_TYPES = frozenset(
    {"call", "do", "emit", "for", "fork", "listen", "raise", "run", "set", "switch", "try", "wait"}
)

# What `then` may name beside a sibling task.
FLOW_DIRECTIVES = frozenset({"continue", "exit", "end"})

Template: TypeAlias = Any
"""A value as the document wrote it: JSON-like data that may hold ``${ }`` expressions,
rendered (``expressions.render``) when its task runs. Its shape is known only then."""
Schema: TypeAlias = dict[str, Any]
"""A JSON Schema document (``input.schema.document`` and the like)."""


@dataclass(frozen=True)
class DataFlow:
    """The spec's data-flow fields of a task or of the whole document (``input``,
    ``output``, ``export``, ``timeout``), as the interpreter reads them."""

    input_from: Template | None = None
    input_schema: Schema | None = None
    output_as: Template | None = None
    output_schema: Schema | None = None
    export_as: Template | None = None
    """A task's only: its output, reshaped, becomes ``$context``."""
    timeout_after: Template | None = None
    """A duration (ISO 8601 or the spec's map), or an expression that gives one."""

    @classmethod
    def of(cls, owner: Mapping[str, Any]) -> DataFlow:
        """From a checked task or document map."""

        def part(name: str, key: str) -> Any:
            return (owner.get(name) or {}).get(key)

        def schema(name: str) -> Schema | None:
            found = (part(name, "schema") or {}).get("document")
            return None if found is None else dict(found)

        return cls(
            input_from=part("input", "from"),
            input_schema=schema("input"),
            output_as=part("output", "as"),
            output_schema=schema("output"),
            export_as=part("export", "as"),
            timeout_after=part("timeout", "after"),
        )


@dataclass(frozen=True)
class TaskNode:
    """One checked task: what every task has (the spec's task base) and its kind's body."""

    name: str
    kind: str
    """Its type key, the name of its ``TaskKind`` in ``tasks.KINDS``."""
    body: Any
    """Its kind's typed body (``SetBody``, ``ForBody``, ...), given to the kind's runner."""
    flow: DataFlow = field(default_factory=DataFlow)
    condition: Template | None = None
    """``if``: the task runs only when it holds."""
    then: str = "continue"
    """A flow directive (continue, exit, end) or a sibling task's name."""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The task's map as checked (for tests and messages; nothing runs from it)."""


Tasks: TypeAlias = tuple[TaskNode, ...]
"""A task list, in order."""


@dataclass(frozen=True)
class WorkflowDocument:
    """A checked definition. Its workflow type is ``document.name`` unless the Zigflow
    extension ``document.metadata.workflowType`` names another."""

    source: str
    dsl: str
    namespace: str
    name: str
    version: str
    tasks: Tasks
    raw: dict[str, Any] = field(repr=False)
    """The checked YAML map (``$workflow.definition`` shows its ``document``)."""
    flow: DataFlow = field(default_factory=DataFlow)
    """The document's own ``input``, ``output`` and ``timeout``."""
    functions: Mapping[str, TaskNode] = field(default_factory=dict)
    """``use.functions``: tasks that ``call: <name>`` runs."""
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


def task_type(task: Task) -> str | None:
    kinds = [key for key in task if key in TASK_TYPES]
    if "for" in kinds and "do" in kinds:
        kinds.remove("do")  # a for task's `do` is its body, not a second type
    return kinds[0] if len(kinds) == 1 else None


def condition_of(owner: Mapping[str, Any], key: str) -> Template | None:
    """A condition (``if``, a case's or a catch's ``when``) as the interpreter reads it:
    None when absent; ``False`` when written as null, which never held."""
    if key not in owner:
        return None
    value = owner[key]
    return False if value is None else value


def content_hash(text: str) -> str:
    """What identifies a definition's exact content: the SHA-256 of its file's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
