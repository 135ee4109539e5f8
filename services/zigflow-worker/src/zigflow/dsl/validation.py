"""Load-time checks of the task types beyond ``do``, ``set`` and ``call: agent``.

Called by ``document.LoadContext`` so that a definition using ``switch``, ``for``,
``try``, ``fork``, ``raise``, ``wait``, ``listen``, ``run`` or ``call: http`` is
refused at load with the JSON path of its problem.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the workspace

from zigflow.dsl import expressions
from zigflow.dsl.fields import check_part
from zigflow.dsl.load_context import LoadContext, Task

DEFAULT_SCOPED_VARIABLES = ("item", "index", "error")
_FLOW_DIRECTIVES = frozenset({"continue", "exit", "end"})
# The processes of `run` other than `workflow` (the spec's container, script, shell).
RUN_PROCESSES = frozenset({"container", "script", "shell"})


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
    components = _map(checker, use, "$.use")
    for key in components:
        if key not in SUPPORTED_USE:
            problem = "is not supported yet (supported: errors, functions, retries, secrets)"
            raise checker.fail(f"$.use.{key}", problem)
    _secrets(checker, components.get("secrets"))
    for key in sorted(SUPPORTED_USE - {"secrets"}):
        for name, value in _map(checker, components.get(key) or {}, f"$.use.{key}").items():
            _map(checker, value, f"$.use.{key}.{name}")
    for name, error in (components.get("errors") or {}).items():
        check_part(checker, "error", error, f"$.use.errors.{name}")
    for name, retry in (components.get("retries") or {}).items():
        _retry_keys(checker, retry, f"$.use.retries.{name}")
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


def check_function_call(checker: LoadContext, task: Task, path: str) -> None:
    """``call: <a use.functions name>``: its ``with`` (a map) is the function's input."""
    if task.get("with") is not None:
        _map(checker, task["with"], f"{path}.with")


def _named(checker: LoadContext, kind: str, name: str, path: str) -> dict[str, Any]:
    found = (checker.use.get(kind) or {}).get(name)
    if found is None:
        raise checker.fail(path, f"{name!r} is not defined in use.{kind}")
    return dict(found)


def _map(checker: LoadContext, value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise checker.fail(path, "must be a map")
    return value


def check_task(checker: LoadContext, kind: str, task: Task, path: str, siblings: set[str]) -> None:
    if kind == "switch":
        _switch(checker, task, path, siblings)
    elif kind == "for":
        loop = _map(checker, task["for"], f"{path}.for")
        check_part(checker, "for", loop, f"{path}.for")
        if "in" not in loop:
            raise checker.fail(f"{path}.for.in", "is required")
        checker.task_list(task.get("do"), f"{path}.do")
    elif kind == "try":
        checker.task_list(task["try"], f"{path}.try")
        _catch(checker, _map(checker, task.get("catch") or {}, f"{path}.catch"), path)
    elif kind == "fork":
        fork = _map(checker, task["fork"], f"{path}.fork")
        check_part(checker, "fork", fork, f"{path}.fork")
        checker.task_list(fork.get("branches"), f"{path}.fork.branches")
    elif kind == "raise":
        raised = _map(checker, task["raise"], f"{path}.raise")
        check_part(checker, "raise", raised, f"{path}.raise")
        error = raised.get("error")
        if isinstance(error, str):
            error = _named(checker, "errors", error, f"{path}.raise.error")
        error = _map(checker, error, f"{path}.raise.error")
        check_part(checker, "error", error, f"{path}.raise.error")
        for key in ("type", "status"):
            if key not in error:
                raise checker.fail(f"{path}.raise.error.{key}", "is required")
    elif kind == "wait":
        if not expressions.is_expression(task["wait"]):
            checker.duration(task["wait"], f"{path}.wait")
    elif kind == "listen":
        _listen(checker, task, path)
    elif kind == "run":
        run = _map(checker, task["run"], f"{path}.run")
        others = sorted(key for key in RUN_PROCESSES if key in run)
        if others:
            raise checker.fail(
                f"{path}.run.{others[0]}",
                f"run: {others[0]} is not supported (only run: workflow, with a name)",
            )
        check_part(checker, "run", run, f"{path}.run")
        target = run.get("workflow")
        if not isinstance(target, dict) or not target.get("name"):
            raise checker.fail(
                f"{path}.run.workflow", "only run: workflow (with a name) is supported"
            )
        check_part(checker, "run.workflow", target, f"{path}.run.workflow")


def check_http(checker: LoadContext, task: Task, path: str) -> None:
    args = _map(checker, task.get("with"), f"{path}.with")
    check_part(checker, "call: http with", args, f"{path}.with")
    for key in ("method", "endpoint"):
        if key not in args:
            raise checker.fail(f"{path}.with.{key}", "is required for call: http")
    check_part(checker, "endpoint", args["endpoint"], f"{path}.with.endpoint")
    if args.get("output", "content") not in ("content", "response", "raw"):
        raise checker.fail(f"{path}.with.output", "must be content, response or raw")


def _switch(checker: LoadContext, task: Task, path: str, siblings: set[str]) -> None:
    cases = task["switch"]
    if not isinstance(cases, list) or not cases:
        raise checker.fail(f"{path}.switch", "must be a non-empty list of {name: case} entries")
    defaults = 0
    for index, entry in enumerate(cases):
        where = f"{path}.switch[{index}]"
        if not isinstance(entry, dict) or len(entry) != 1:
            raise checker.fail(where, "each case must be a map with exactly one case name")
        ((name, case),) = entry.items()
        case = _map(checker, case or {}, f"{where}.{name}")
        check_part(checker, "switch case", case, f"{where}.{name}")
        defaults += "when" not in case
        then = case.get("then", "continue")
        if not isinstance(then, str) or (then not in _FLOW_DIRECTIVES and then not in siblings):
            raise checker.fail(
                f"{where}.{name}.then", f"{then!r} is neither a flow directive nor a task here"
            )
    if defaults > 1:
        raise checker.fail(f"{path}.switch", "at most one default case (a case without 'when')")


def _catch(checker: LoadContext, catch: dict[str, Any], path: str) -> None:
    where = f"{path}.catch"
    check_part(checker, "catch", catch, where)
    errors = _map(checker, catch.get("errors") or {}, f"{where}.errors")
    check_part(checker, "catch.errors", errors, f"{where}.errors")
    wanted = _map(checker, errors.get("with") or {}, f"{where}.errors.with")
    check_part(checker, "catch.errors.with", wanted, f"{where}.errors.with")
    if "do" in catch:
        checker.task_list(catch["do"], f"{where}.do")
    if "retry" in catch:
        retry = catch["retry"]
        if isinstance(retry, str):
            retry = _named(checker, "retries", retry, f"{where}.retry")
        retry = _map(checker, retry, f"{where}.retry")
        _retry_keys(checker, retry, f"{where}.retry")
        if "delay" in retry:
            checker.duration(retry["delay"], f"{where}.retry.delay")
        limit = _map(checker, retry.get("limit") or {}, f"{where}.retry.limit")
        if "duration" in limit:
            checker.duration(limit["duration"], f"{where}.retry.limit.duration")
        count = (limit.get("attempt") or {}).get("count")
        if expressions.is_expression(count):
            return
        if count is not None and (not isinstance(count, int) or count < 0):
            raise checker.fail(f"{where}.retry.limit.attempt.count", "must be a whole number >= 0")


def _retry_keys(checker: LoadContext, retry: Any, path: str) -> None:
    """The keys of a retry policy (inline in a catch, or in use.retries) and its parts."""
    check_part(checker, "retry", retry, path)
    if not isinstance(retry, dict):
        return
    check_part(checker, "retry.backoff", retry.get("backoff"), f"{path}.backoff")
    limit = retry.get("limit")
    check_part(checker, "retry.limit", limit, f"{path}.limit")
    if isinstance(limit, dict):
        check_part(checker, "retry.limit.attempt", limit.get("attempt"), f"{path}.limit.attempt")


def _listen(checker: LoadContext, task: Task, path: str) -> None:
    listen = _map(checker, task["listen"], f"{path}.listen")
    check_part(checker, "listen", listen, f"{path}.listen")
    to = _map(checker, listen.get("to"), f"{path}.listen.to")
    check_part(checker, "listen.to", to, f"{path}.listen.to")
    strategies = [key for key in ("one", "any", "all") if key in to]
    if len(strategies) != 1:
        raise checker.fail(f"{path}.listen.to", "needs exactly one of one, any, all")
    (strategy,) = strategies
    filters = [to["one"]] if strategy == "one" else to[strategy]
    if not isinstance(filters, list) or not filters:
        raise checker.fail(f"{path}.listen.to.{strategy}", "must list at least one event filter")
    for index, event in enumerate(filters):
        event_type = (
            ((event or {}).get("with") or {}).get("type") if isinstance(event, dict) else None
        )
        if not isinstance(event_type, str) or not event_type:
            raise checker.fail(f"{path}.listen.to.{strategy}[{index}].with.type", "is required")
    for index, event in enumerate(filters):
        unknown = sorted(set(event) - {"with"}) or sorted(set(event["with"]) - {"type"})
        if unknown:
            where = f"{path}.listen.to.{strategy}[{index}]"
            raise checker.fail(where, f"only with.type filters events (found {unknown})")
    if "until" in to:
        raise checker.fail(f"{path}.listen.to.until", "is not supported yet")
    if "foreach" in listen:
        raise checker.fail(f"{path}.listen.foreach", "is not supported yet")
    if listen.get("read", "data") != "data":
        raise checker.fail(f"{path}.listen.read", "only 'data' is supported")
