"""From a checked document's task maps to typed ``TaskNode``s, once, at load.

``document`` runs every check first; only a document that passed them all is built, so a
builder meets no shape its kind's checks refused and asserts rather than reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zigflow.dsl.load_context import Task
from zigflow.dsl.model import DataFlow, TaskNode, Tasks, condition_of, task_type
from zigflow.dsl.tasks import KINDS


class TaskBuilder:
    """Builds the tasks of one document (implements ``task_kind.Builder``)."""

    def __init__(self, use: Mapping[str, Any]) -> None:
        self._use = use

    def tasks(self, entries: Any) -> Tasks:
        # The DSL's list of one-key maps, checked: (name, task) pairs in order.
        return tuple(self.task(name, task) for entry in entries for name, task in entry.items())

    def task(self, name: str, task: Task) -> TaskNode:
        kind = task_type(task)
        assert kind is not None, f"task {name!r} was not checked"
        then = task.get("then")
        return TaskNode(
            name=name,
            kind=kind,
            body=KINDS[kind].parse(self, task),
            flow=DataFlow.of(task),
            condition=condition_of(task, "if"),
            then="continue" if then is None else str(then),
            raw=task,
        )

    def component(self, kind: str, value: Any) -> Any:
        if isinstance(value, str):
            return self._use[kind][value]
        return value

    def defines(self, kind: str, name: str) -> bool:
        return name in (self._use.get(kind) or {})

    def functions(self) -> dict[str, TaskNode]:
        """``use.functions``, each a task that ``call: <name>`` runs."""
        found = self._use.get("functions") or {}
        return {name: self.task(name, function) for name, function in found.items()}
