"""What a load-time check is given: the public face of the document checker.

The checks of each part of a document (``fields``, ``validation``, ``evaluate``,
``grpc_validation``) report problems and recurse into nested task lists through a
``LoadContext``; ``document.DocumentChecker`` implements it. The checks import this
module only, never ``document``, so the load path has no import cycle and a check can be
written and tested against any implementation.
"""

from __future__ import annotations

from typing import Any, Protocol

Task = dict[str, Any]
TaskList = list[tuple[str, Task]]


class DefinitionError(ValueError):
    """A definition that cannot run; says which file, JSON path and (from a file) line.

    The first problem found is the error's own; ``also`` holds the others found in the
    same file (one per task that fails its checks), so an author fixes them in one pass."""

    def __init__(
        self,
        source: str,
        path: str,
        problem: str,
        *,
        line: int | None = None,
        also: tuple[DefinitionError, ...] = (),
    ) -> None:
        where = f"{source}:{line}" if line is not None else source
        super().__init__("\n".join([f"{where}: {path}: {problem}", *map(str, also)]))
        self.source = source
        self.path = path
        self.problem = problem
        self.line = line
        self.also = also

    @property
    def every(self) -> tuple[DefinitionError, ...]:
        """Each problem of the file on its own (this one without ``also``, then the
        others), in document order: one line each."""
        alone = DefinitionError(self.source, self.path, self.problem, line=self.line)
        return (alone, *self.also)


class LoadContext(Protocol):
    """One document being checked."""

    source: str
    """The file (or name) the document came from, for error messages."""
    variables: tuple[str, ...]
    """The ``$`` variables an expression may use (the scoped ones the document declares)."""
    use: dict[str, Any]
    """The document's ``use`` components (reusable errors, retries, functions)."""

    def fail(self, path: str, problem: str) -> DefinitionError:
        """The error to raise for ``problem`` at JSON path ``path``."""
        ...

    def duration(self, value: Any, path: str) -> None:
        """Raise unless ``value`` is a duration (ISO 8601 or the spec's map)."""
        ...

    def task_list(self, value: Any, path: str) -> TaskList:
        """Check a nested task list (a ``do``, a ``for`` body, fork branches...)."""
        ...

    def task(self, task: Task, path: str, siblings: set[str]) -> None:
        """Check one task; ``siblings`` are the names ``then`` may jump to."""
        ...
