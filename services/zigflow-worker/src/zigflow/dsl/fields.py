"""The keys a document, a task and their data-flow maps may hold.

The interpreter reads only the keys it knows, so a misspelt one (``thne: end``,
``output: {ass: ...}``) would be ignored and the document would run otherwise than it
reads. docs/dsl.md promises that what does not run is refused at load, so a key outside
these sets is refused there, naming its path and the keys that are known. Keys the spec
defines but Zigflow does not run are refused as not supported, never ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zigflow.dsl.load_context import LoadContext
from zigflow.dsl.task_kind import TaskKind

# The spec's document (1.0, "Workflow"); `schedule` is ignored (docs/dsl.md says so).
DOCUMENT_FIELDS = frozenset(
    {"document", "input", "use", "do", "timeout", "output", "schedule", "evaluate"}
)
# The spec's taskBase: what every task may hold beside its type's own keys.
TASK_FIELDS = frozenset({"if", "input", "output", "export", "timeout", "then", "metadata"})
# What each data-flow map holds (the spec's input, output, export and timeout).
MAP_KEYS: dict[str, frozenset[str]] = {
    "input": frozenset({"from", "schema"}),
    "output": frozenset({"as", "schema"}),
    "export": frozenset({"as", "schema"}),
    "timeout": frozenset({"after"}),
}
# Why each is refused rather than run.
UNSUPPORTED_MAP_KEYS: dict[tuple[str, str], str] = {
    ("export", "schema"): "the exported $context is not checked against a schema",
}


@dataclass(frozen=True)
class Part:
    """A map inside a task body: its name in errors, the keys Zigflow runs, and the keys
    the spec defines that it does not run, with why. Each task kind declares its own;
    those shared by several (errors, retries) are here."""

    name: str
    keys: frozenset[str]
    unsupported: Mapping[str, str] = field(default_factory=dict)


ERROR = Part("error", frozenset({"type", "status", "title", "detail", "instance"}))
RETRY = Part(
    "retry",
    frozenset({"when", "exceptWhen", "delay", "backoff", "limit"}),
    {"jitter": "retries wait exactly their delay"},
)
RETRY_BACKOFF = Part("retry.backoff", frozenset({"constant", "linear", "exponential"}))
RETRY_LIMIT = Part("retry.limit", frozenset({"attempt", "duration"}))
RETRY_LIMIT_ATTEMPT = Part("retry.limit.attempt", frozenset({"count", "duration"}))


def _known(keys: frozenset[str]) -> str:
    return ", ".join(sorted(keys))


def check_document(checker: LoadContext, data: dict[str, Any]) -> None:
    """The document's top-level keys and those of its ``input``, ``output``, ``timeout``."""
    for key in data:
        if key not in DOCUMENT_FIELDS:
            raise checker.fail(
                f"$.{key}",
                f"{key!r} is not a field of a document (known: {_known(DOCUMENT_FIELDS)})",
            )
    _check_maps(checker, data, "$")


def check_task(checker: LoadContext, kind: TaskKind[Any], task: dict[str, Any], path: str) -> None:
    """A task's keys (the common ones and its type's own) and those of its data-flow maps."""
    known = TASK_FIELDS | kind.fields | {kind.name}
    for key in task:
        if key in kind.unsupported_fields:
            why = kind.unsupported_fields[key]
            raise checker.fail(f"{path}.{key}", f"is not supported yet ({why})")
        if key not in known:
            raise checker.fail(
                f"{path}.{key}",
                f"{key!r} is not a field of a {kind.name} task (known: {_known(known)})",
            )
    _check_maps(checker, task, path)


def _check_maps(checker: LoadContext, owner: dict[str, Any], path: str) -> None:
    for name, keys in MAP_KEYS.items():
        value = owner.get(name)
        if not isinstance(value, dict):
            continue  # absent, or refused as not a map by the caller
        for key in value:
            where = f"{path}.{name}.{key}"
            why = UNSUPPORTED_MAP_KEYS.get((name, key))
            if why is not None:
                raise checker.fail(where, f"is not supported yet ({why})")
            if key not in keys:
                raise checker.fail(
                    where, f"{key!r} is not a field of {name} (known: {_known(keys)})"
                )


def check_part(checker: LoadContext, part: Part, value: Any, path: str) -> None:
    """The keys of one map inside a task body."""
    if not isinstance(value, dict):
        return  # refused as not a map by the caller
    for key in value:
        why = part.unsupported.get(key)
        if why is not None:
            raise checker.fail(f"{path}.{key}", f"is not supported yet ({why})")
        if key not in part.keys:
            raise checker.fail(
                f"{path}.{key}",
                f"{key!r} is not a field of {part.name} (known: {_known(part.keys)})",
            )
