"""A checked definition and the task shapes every phase shares.

Loading (``document``), the task kinds (``tasks``) and the interpreter all read these, so
they live apart from the load checks: the interpreter and the runners import this module,
never ``document``, and the load path can import the runners without a cycle.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from agent_contract import ZIGFLOW_TASK_QUEUE
from zigflow.dsl.load_context import Task, TaskList

# Every task type of the Serverless Workflow 1.0 DSL, supported or not: what makes a map a
# task. Those Zigflow runs are the kinds registered in ``tasks.KINDS``.
TASK_TYPES = frozenset(
    {"call", "do", "emit", "for", "fork", "listen", "raise", "run", "set", "switch", "try", "wait"}
)

# What `then` may name beside a sibling task.
FLOW_DIRECTIVES = frozenset({"continue", "exit", "end"})


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


def content_hash(text: str) -> str:
    """What identifies a definition's exact content: the SHA-256 of its file's text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
