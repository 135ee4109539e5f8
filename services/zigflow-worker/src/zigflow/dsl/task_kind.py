"""What a task type is to the engine: one ``TaskKind`` per type, registered in ``tasks.KINDS``.

Each type's module (``tasks/<type>_task.py``) declares its keys, its load-time check, its
typed body and how a checked task becomes one, the fields that hold runtime expressions,
the task lists nested in it, and its runner, which is given the body. The
loader, the evaluation mode and the interpreter read those declarations instead of
branching on the type's name, so a new type is its module, a line in the registry, its
test and its section of docs/dsl.md (docs/adr/0023).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from zigflow.dsl.load_context import LoadContext, Task
from zigflow.dsl.model import Tasks

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter, Step

Body = TypeVar("Body")

Check = Callable[[LoadContext, Task, str, set[str]], None]
"""Checks a task's body at load: (context, task, JSON path, the names ``then`` may name)."""


class Builder(Protocol):
    """What a kind's ``parse`` is given: the way to parse the task lists nested in its
    body, and the document's reusable components. Only checked tasks are parsed."""

    def tasks(self, entries: Any) -> Tasks:
        """A nested task list (``do``, fork branches, ``catch.do``), parsed."""
        ...

    def component(self, kind: str, value: Any) -> Any:
        """``value``, or the ``use.<kind>`` entry it names when it is a name (a named
        error of ``raise``, a named retry of ``catch``)."""
        ...

    def defines(self, kind: str, name: str) -> bool:
        """Whether ``use.<kind>`` has an entry ``name`` (a function that ``call`` names)."""
        ...


Parse = Callable[[Builder, Task], Body]
"""Makes a checked task's typed body."""
TaskRunner = Callable[["Interpreter", "Step", Body, Any], Awaitable[Any]]
"""Runs a task in its workflow: (the run, the task about to run, its body, its input)
-> output."""


@dataclass(frozen=True)
class Position:
    """A field that holds a runtime expression: ``owner[key]``, at JSON path ``path``.
    A ``condition`` is read for its truth (``if``, ``while``, ``when``, ``exceptWhen``),
    so a plain string there is refused in strict mode (``evaluate.check_conditions``)."""

    owner: dict[str, Any]
    key: str
    path: str
    condition: bool = False


Positions = Callable[[Task, str], Iterator[Position]]
TaskLists = Callable[[Task, str], Iterator[tuple[str, Any]]]


def no_positions(task: Task, path: str) -> Iterator[Position]:
    return iter(())


def no_task_lists(task: Task, path: str) -> Iterator[tuple[str, Any]]:
    return iter(())


def owned(owner: Any, path: str, *keys: str, condition: bool = False) -> Iterator[Position]:
    """The positions of ``keys`` present in ``owner`` (when it is a map). Documents are not
    checked yet when they are walked, so any shape is expected here."""
    if isinstance(owner, dict):
        for key in keys:
            if key in owner:
                yield Position(owner, key, f"{path}.{key}", condition)


@dataclass(frozen=True)
class TaskKind(Generic[Body]):
    """One task type: everything the engine knows of it."""

    name: str
    """The type key (``set``, ``call``, ...)."""
    check: Check
    """Its body's load-time checks, after the checks every task gets (``document``)."""
    parse: Parse[Body]
    """Its typed body, from the task once every check of the document passed."""
    runner: TaskRunner[Body]
    fields: frozenset[str] = frozenset()
    """Its own keys beside the type key and the spec's task base (``if``, ``then``...)."""
    unsupported_fields: Mapping[str, str] = field(default_factory=dict)
    """Keys the spec gives it that Zigflow does not run, with why (refused at load)."""
    positions: Positions = no_positions
    """The runtime-expression fields of its body (loose mode wraps them; conditions among
    them are checked in strict mode)."""
    task_lists: TaskLists = no_task_lists
    """The task lists nested in it, with their paths (``do``, ``try``, fork branches)."""
    own_timeout: bool = False
    """Its runner enforces ``timeout`` itself (an activity's timeout), not the interpreter."""
    resumable: bool = False
    """A continue-as-new may cross it (see resume.py): only plain task lists and ``for``."""
