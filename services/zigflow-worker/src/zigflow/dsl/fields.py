"""The keys a document, a task and their data-flow maps may hold.

The interpreter reads only the keys it knows, so a misspelt one (``thne: end``,
``output: {ass: ...}``) would be ignored and the document would run otherwise than it
reads. docs/dsl.md promises that what does not run is refused at load, so a key outside
these sets is refused there, naming its path and the keys that are known. Keys the spec
defines but Zigflow does not run are refused as not supported, never ignored.
"""

from __future__ import annotations

from typing import Any

from zigflow.dsl.load_context import LoadContext

# The spec's document (1.0, "Workflow"); `schedule` is ignored (docs/dsl.md says so).
DOCUMENT_FIELDS = frozenset(
    {"document", "input", "use", "do", "timeout", "output", "schedule", "evaluate"}
)
# The spec's taskBase: what every task may hold beside its type's own keys.
TASK_FIELDS = frozenset({"if", "input", "output", "export", "timeout", "then", "metadata"})
# A task type's own keys beyond the type key itself.
TYPE_FIELDS: dict[str, frozenset[str]] = {
    "call": frozenset({"with"}),
    "for": frozenset({"while", "do"}),
    "try": frozenset({"catch"}),
    "listen": frozenset({"foreach"}),
}
# Keys the spec defines that Zigflow does not run.
UNSUPPORTED_TASK_FIELDS = frozenset({"foreach"})
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
# The maps inside task bodies, by what they are (the name used in errors), with the keys
# Zigflow runs. The spec's keys that it does not run are in UNSUPPORTED_PART_KEYS.
PART_KEYS: dict[str, frozenset[str]] = {
    "switch case": frozenset({"when", "then"}),
    "for": frozenset({"each", "in", "at"}),
    "fork": frozenset({"branches", "compete"}),
    "raise": frozenset({"error"}),
    "error": frozenset({"type", "status", "title", "detail", "instance"}),
    "catch": frozenset({"errors", "as", "when", "exceptWhen", "retry", "do"}),
    "catch.errors": frozenset({"with"}),
    # The spec's error filter names the detail `details`; both are read as the detail.
    "catch.errors.with": frozenset({"type", "status", "title", "detail", "details", "instance"}),
    "retry": frozenset({"when", "exceptWhen", "delay", "backoff", "limit"}),
    "retry.backoff": frozenset({"constant", "linear", "exponential"}),
    "retry.limit": frozenset({"attempt", "duration"}),
    "retry.limit.attempt": frozenset({"count", "duration"}),
    "run": frozenset({"workflow", "await"}),
    "run.workflow": frozenset({"namespace", "name", "version", "input"}),
    "listen": frozenset({"to", "read"}),
    "listen.to": frozenset({"one", "any", "all"}),
    "call: http with": frozenset(
        {"method", "endpoint", "headers", "body", "query", "output", "redirect"}
    ),
    "endpoint": frozenset({"uri"}),
}
UNSUPPORTED_PART_KEYS: dict[tuple[str, str], str] = {
    ("retry", "jitter"): "retries wait exactly their delay",
    ("run", "return"): "a run: workflow task returns the child's output",
    ("listen", "foreach"): "a listen task consumes its events once",
    ("listen.to", "until"): "a listen task waits for its events only",
    ("endpoint", "authentication"): "send credentials in headers, from $secrets",
}


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


def check_task(checker: LoadContext, kind: str, task: dict[str, Any], path: str) -> None:
    """A task's keys (the common ones and its type's own) and those of its data-flow maps."""
    own = TYPE_FIELDS.get(kind, frozenset())
    known = TASK_FIELDS | own | {kind}
    for key in task:
        if key in own and key in UNSUPPORTED_TASK_FIELDS:
            raise checker.fail(f"{path}.{key}", f"is not supported yet (in a {kind} task)")
        if key not in known:
            raise checker.fail(
                f"{path}.{key}", f"{key!r} is not a field of a {kind} task (known: {_known(known)})"
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


def check_part(checker: LoadContext, part: str, value: Any, path: str) -> None:
    """The keys of one map inside a task body (``part`` names it in PART_KEYS)."""
    if not isinstance(value, dict):
        return  # refused as not a map by the caller
    known = PART_KEYS[part]
    for key in value:
        why = UNSUPPORTED_PART_KEYS.get((part, key))
        if why is not None:
            raise checker.fail(f"{path}.{key}", f"is not supported yet ({why})")
        if key not in known:
            raise checker.fail(
                f"{path}.{key}", f"{key!r} is not a field of {part} (known: {_known(known)})"
            )
