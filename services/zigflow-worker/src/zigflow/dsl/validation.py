"""Load-time checks of what belongs to the document rather than to one task type: its
metadata, ``use`` components, secrets, scoped variables and schemas, and the helpers the
task kinds' checks share (a map, a named component, a retry policy's keys).

Each task type's own checks are in its module (``tasks/<type>_task.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the workspace

from zigflow.dsl import expressions
from zigflow.dsl.fields import (
    ERROR,
    RETRY,
    RETRY_BACKOFF,
    RETRY_LIMIT,
    RETRY_LIMIT_ATTEMPT,
    check_part,
)
from zigflow.dsl.load_context import LoadContext

DEFAULT_SCOPED_VARIABLES = ("item", "index", "error")


def declared_variables(value: Any) -> Iterator[Any]:
    """Every ``for.each`` / ``for.at`` / ``catch.as`` name in a raw document."""
    if isinstance(value, dict):
        loop, catch = value.get("for"), value.get("catch")
        if isinstance(loop, dict):
            yield from (loop[key] for key in ("each", "at") if key in loop)
        if isinstance(catch, dict) and "as" in catch:
            yield catch["as"]
        for item in value.values():
            yield from declared_variables(item)
    elif isinstance(value, list):
        for item in value:
            yield from declared_variables(item)


def check_variables(checker: LoadContext, raw: dict[str, Any]) -> tuple[str, ...]:
    names = list(declared_variables(raw))
    for name in names:
        if not expressions.is_variable_name(name) or name in expressions.VARIABLES:
            raise checker.fail("$", f"{name!r} cannot name a variable (for.each, for.at, catch.as)")
    return (*DEFAULT_SCOPED_VARIABLES, *names)


def check_schemas(checker: LoadContext, owner: dict[str, Any], path: str) -> None:
    """``input.schema`` and ``output.schema`` of a document (path ``$``) or a task."""
    for key in ("input", "output"):
        config = owner.get(key)
        if not isinstance(config, dict) or "schema" not in config:
            continue
        where = f"{path}.{key}.schema"
        schema = config["schema"]
        if not isinstance(schema, dict) or not isinstance(schema.get("document"), dict):
            raise checker.fail(where, "needs a 'document' map (inline JSON Schema)")
        if schema.get("format", "json") != "json":
            raise checker.fail(f"{where}.format", "only 'json' (JSON Schema) is supported")
        try:
            jsonschema.validators.validator_for(schema["document"]).check_schema(schema["document"])
        except jsonschema.SchemaError as err:
            problem = f"not a valid JSON Schema: {err.message}"
            raise checker.fail(f"{where}.document", problem) from None


SUPPORTED_USE = frozenset({"errors", "retries", "functions", "secrets"})
# `$secrets.name` or `$secrets["name"]` in an expression: the secret it reads.
_SECRET_REFERENCE = re.compile(
    r"\$secrets\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*\"([^\"]*)\"\s*\])"
)
_METADATA_COUNT_MIN = 1


def check_metadata(checker: LoadContext, metadata: dict[str, Any], queue: re.Pattern[str]) -> None:
    """The Zigflow extensions in ``document.metadata``: ``workflowType``, ``taskQueue``
    and ``continueAsNewAfter``; other metadata is informational."""
    for key in ("workflowType", "taskQueue"):
        value = metadata.get(key)
        if value is not None and (not isinstance(value, str) or not queue.match(value)):
            problem = "must be a name of letters, digits and . _ : / - (at most 200)"
            raise checker.fail(f"$.document.metadata.{key}", problem)
    count = metadata.get("continueAsNewAfter")
    if count is not None and (
        isinstance(count, bool) or not isinstance(count, int) or count < _METADATA_COUNT_MIN
    ):
        raise checker.fail(
            "$.document.metadata.continueAsNewAfter", "must be a whole number of history events"
        )


def check_use(checker: LoadContext, use: Any) -> dict[str, Any]:
    """``use.errors``, ``use.retries`` and ``use.functions`` (named, reusable) and
    ``use.secrets`` (names); other components are refused. A function is a task (its
    body is checked like one)."""
    if use is None:
        return {}
    components = as_map(checker, use, "$.use")
    for key in components:
        if key not in SUPPORTED_USE:
            problem = "is not supported yet (supported: errors, functions, retries, secrets)"
            raise checker.fail(f"$.use.{key}", problem)
    _secrets(checker, components.get("secrets"))
    for key in sorted(SUPPORTED_USE - {"secrets"}):
        for name, value in as_map(checker, components.get(key) or {}, f"$.use.{key}").items():
            as_map(checker, value, f"$.use.{key}.{name}")
    for name, error in (components.get("errors") or {}).items():
        check_part(checker, ERROR, error, f"$.use.errors.{name}")
    for name, retry in (components.get("retries") or {}).items():
        check_retry_keys(checker, retry, f"$.use.retries.{name}")
    checker.use = components
    for name, function in (components.get("functions") or {}).items():
        if function.get("call") == name:
            raise checker.fail(f"$.use.functions.{name}.call", "a function cannot call itself")
        checker.task(function, f"$.use.functions.{name}", set())
    return components


def _secrets(checker: LoadContext, names: Any) -> None:
    """``use.secrets``: a list of distinct names usable as ``$secrets.<name>``. Whether
    the worker has them is only known at its start-up (a missing one refuses the
    definition there)."""
    if names is None:
        return
    if not isinstance(names, list):
        raise checker.fail("$.use.secrets", "must be a list of secret names")
    for index, name in enumerate(names):
        if not expressions.is_variable_name(name):
            raise checker.fail(
                f"$.use.secrets[{index}]", f"{name!r} must be letters, digits and _ (a jq key)"
            )
        if name in names[:index]:
            raise checker.fail(f"$.use.secrets[{index}]", f"{name!r} is declared twice")


def check_secret_references(
    checker: LoadContext, raw: dict[str, Any], found: Iterable[tuple[str, str]]
) -> None:
    """Only declared secrets are visible: ``$secrets.x`` of an undeclared ``x`` is refused."""
    declared = set((raw.get("use") or {}).get("secrets") or ())
    for where, expression in found:
        for match in _SECRET_REFERENCE.finditer(expression):
            name = match.group(1) or match.group(2)
            if name not in declared:
                raise checker.fail(where, f"secret {name!r} is not declared in use.secrets")


def named(checker: LoadContext, kind: str, name: str, path: str) -> dict[str, Any]:
    """The component ``name`` of ``use.<kind>`` (an error, a retry) that a task names."""
    found = (checker.use.get(kind) or {}).get(name)
    if found is None:
        raise checker.fail(path, f"{name!r} is not defined in use.{kind}")
    return dict(found)


def as_map(checker: LoadContext, value: Any, path: str) -> dict[str, Any]:
    """``value``, refused unless it is a map."""
    if not isinstance(value, dict):
        raise checker.fail(path, "must be a map")
    return value


def check_retry_keys(checker: LoadContext, retry: Any, path: str) -> None:
    """The keys of a retry policy (inline in a catch, or in use.retries) and its parts."""
    check_part(checker, RETRY, retry, path)
    if not isinstance(retry, dict):
        return
    check_part(checker, RETRY_BACKOFF, retry.get("backoff"), f"{path}.backoff")
    limit = retry.get("limit")
    check_part(checker, RETRY_LIMIT, limit, f"{path}.limit")
    if isinstance(limit, dict):
        check_part(checker, RETRY_LIMIT_ATTEMPT, limit.get("attempt"), f"{path}.limit.attempt")
