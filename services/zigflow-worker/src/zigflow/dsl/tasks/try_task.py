"""``try`` / ``catch``: a caught error is retried (``catch.retry``), handled
(``catch.do``) or swallowed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow

from zigflow.dsl import expressions
from zigflow.dsl.durations import parse_duration
from zigflow.dsl.errors import ERROR_TYPE_BASE, DslError, from_exception
from zigflow.dsl.fields import Part, check_part
from zigflow.dsl.load_context import LoadContext, Task
from zigflow.dsl.model import Tasks, Template, condition_of
from zigflow.dsl.task_kind import Builder, Position, TaskKind, owned
from zigflow.dsl.validation import as_map, check_retry_keys, named

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter, Step

DEFAULT_ERROR_VARIABLE = "error"
SPEC_SITE = "https://serverlessworkflow.io/"
_CONDITIONS = ("when", "exceptWhen")
CATCH = Part("catch", frozenset({"errors", "as", "when", "exceptWhen", "retry", "do"}))
CATCH_ERRORS = Part("catch.errors", frozenset({"with"}))
# The spec's error filter names the detail `details`; both are read as the detail.
ERROR_FILTER = Part(
    "catch.errors.with", frozenset({"type", "status", "title", "detail", "details", "instance"})
)


@dataclass(frozen=True)
class Catch:
    errors: Mapping[str, Any]
    """``errors.with``: the properties a caught error must have (none: every error)."""
    variable: str
    """``as``: the caught error's variable (``$error`` by default)."""
    when: Template | None
    except_when: Template | None
    retry: Template | None
    """The retry policy (a name of ``use.retries`` is resolved at load), evaluated once
    when the task starts."""
    tasks: Tasks | None
    """``do``: handles the error; without it the error is swallowed."""


@dataclass(frozen=True)
class TryBody:
    tasks: Tasks
    catch: Catch


def check(checker: LoadContext, task: Task, path: str, siblings: set[str]) -> None:
    checker.task_list(task["try"], f"{path}.try")
    catch = as_map(checker, task.get("catch") or {}, f"{path}.catch")
    where = f"{path}.catch"
    check_part(checker, CATCH, catch, where)
    errors = as_map(checker, catch.get("errors") or {}, f"{where}.errors")
    check_part(checker, CATCH_ERRORS, errors, f"{where}.errors")
    wanted = as_map(checker, errors.get("with") or {}, f"{where}.errors.with")
    check_part(checker, ERROR_FILTER, wanted, f"{where}.errors.with")
    if "do" in catch:
        checker.task_list(catch["do"], f"{where}.do")
    if "retry" in catch:
        _check_retry(checker, catch["retry"], f"{where}.retry")


def _check_retry(checker: LoadContext, retry: Any, where: str) -> None:
    if isinstance(retry, str):
        retry = named(checker, "retries", retry, where)
    retry = as_map(checker, retry, where)
    check_retry_keys(checker, retry, where)
    if "delay" in retry:
        checker.duration(retry["delay"], f"{where}.delay")
    limit = as_map(checker, retry.get("limit") or {}, f"{where}.limit")
    if "duration" in limit:
        checker.duration(limit["duration"], f"{where}.limit.duration")
    count = (limit.get("attempt") or {}).get("count")
    if expressions.is_expression(count):
        return
    if count is not None and (not isinstance(count, int) or count < 0):
        raise checker.fail(f"{where}.limit.attempt.count", "must be a whole number >= 0")


def positions(task: Task, path: str) -> Iterator[Position]:
    """The catch's and its inline retry's conditions (a named retry is in ``use``)."""
    catch = task.get("catch")
    if isinstance(catch, dict):
        yield from owned(catch, f"{path}.catch", *_CONDITIONS, condition=True)
        retry = catch.get("retry")
        yield from owned(retry, f"{path}.catch.retry", *_CONDITIONS, condition=True)


def task_lists(task: Task, path: str) -> Iterator[tuple[str, Any]]:
    yield f"{path}.try", task.get("try")
    catch = task.get("catch")
    if isinstance(catch, dict):
        yield f"{path}.catch.do", catch.get("do")


def parse(builder: Builder, task: Task) -> TryBody:
    catch = task.get("catch") or {}
    handler = catch.get("do")
    return TryBody(
        tasks=builder.tasks(task["try"]),
        catch=Catch(
            errors=dict((catch.get("errors") or {}).get("with") or {}),
            variable=str(catch.get("as", DEFAULT_ERROR_VARIABLE)),
            when=condition_of(catch, "when"),
            except_when=catch.get("exceptWhen"),
            retry=builder.component("retries", catch.get("retry")),
            tasks=None if handler is None else builder.tasks(handler),
        ),
    )


def matches(error: DslError, wanted: Mapping[str, Any]) -> bool:
    """``catch.errors.with``: every given property must match. A ``type`` matches the
    full URI or its last path segment (``communication``, ``AgentFailed``, see
    ``_same_type``); ``details``
    (the spec's name in a filter) is the error's ``detail``."""
    actual = error.as_dict()
    for key, value in wanted.items():
        key = "detail" if key == "details" else key  # the spec's filter says `details`
        if key == "type":
            if not _same_type(str(value), error.type):
                return False
        elif key == "status":
            if int(value) != error.status:
                return False
        elif actual.get(key) != value:
            return False
    return True


def _same_type(wanted: str, actual: str) -> bool:
    """A filter's type names the error's type: its URI, its last path segment, or, for
    the spec's standard types, their URI as the conformance kit spells it
    (``https://serverlessworkflow.io/dsl/errors/types/<name>`` beside the reference's
    ``https://serverlessworkflow.io/spec/1.0.0/errors/<name>``)."""
    name = actual.rsplit("/", 1)[-1]
    if wanted in (actual, name):
        return True
    return (
        actual.startswith(ERROR_TYPE_BASE)
        and wanted.startswith(SPEC_SITE)
        and wanted.rsplit("/", 1)[-1] == name
    )


async def run_try(interp: Interpreter, step: Step, body: TryBody, data: Any) -> Any:
    """Runs ``try``; a caught error is retried while ``catch.retry`` allows, then
    handled by ``catch.do`` (its output is the task's output) or swallowed (the
    task's output is its input). Retries exhausted: the last error propagates."""
    catch = body.catch
    name = catch.variable
    retry = None
    if catch.retry is not None:
        retry = interp.render(catch.retry, data, f"{step.reference}/catch/retry", step.scope)
    started = workflow.now()
    attempt = 0
    while True:
        try:
            return await interp.run_list(body.tasks, data, f"{step.reference}/try", step.scope)
        except BaseException as exc:
            error = from_exception(exc, step.reference)
            if error is None or not _catches(interp, step, catch, error, data):
                raise
            scope = {**step.scope, name: error.as_dict()}
            if retry is not None:
                attempt += 1
                delay = _retry_delay(interp, step, retry, attempt, scope, data)
                elapsed = workflow.now() - started
                if delay is None or not _within_limits(retry, attempt, elapsed + delay, step):
                    raise
                workflow.logger.info(
                    "retrying %s (attempt %d) in %s after %s", step.reference, attempt, delay, error
                )
                if delay > timedelta(0):
                    await workflow.sleep(delay)
                continue
            if catch.tasks is not None:
                return await interp.run_list(catch.tasks, data, f"{step.reference}/catch/do", scope)
            return data


def _catches(interp: Interpreter, step: Step, catch: Catch, error: DslError, data: Any) -> bool:
    if not matches(error, catch.errors):
        return False
    scope = {**step.scope, catch.variable: error.as_dict()}
    where = f"{step.reference}/catch"
    if catch.when is not None and not expressions.truthy(
        interp.render(catch.when, data, f"{where}/when", scope)
    ):
        return False
    return catch.except_when is None or not expressions.truthy(
        interp.render(catch.except_when, data, f"{where}/exceptWhen", scope)
    )


def _retry_delay(
    interp: Interpreter,
    step: Step,
    retry: dict[str, Any],
    attempt: int,
    scope: dict[str, Any],
    data: Any,
) -> timedelta | None:
    """The wait before retry ``attempt`` (1-based), or None when ``retry.when`` /
    ``retry.exceptWhen`` refuse. Backoff: constant = delay, linear = delay x attempt,
    exponential = delay x 2^(attempt-1)."""
    where = f"{step.reference}/catch/retry"
    if "when" in retry and not expressions.truthy(
        interp.render(retry["when"], data, f"{where}/when", scope)
    ):
        return None
    if "exceptWhen" in retry and expressions.truthy(
        interp.render(retry["exceptWhen"], data, f"{where}/exceptWhen", scope)
    ):
        return None
    delay = timedelta(0)
    if "delay" in retry:
        delay = parse_duration(retry["delay"], where=f"{where}/delay")
    backoff: dict[str, Any] = retry.get("backoff") or {}
    if "linear" in backoff:
        return delay * attempt
    if "exponential" in backoff:
        return delay * int(2 ** (attempt - 1))
    return delay


def _within_limits(retry: dict[str, Any], attempt: int, elapsed: timedelta, step: Step) -> bool:
    """``limit.attempt.count`` caps the retries; ``limit.duration`` (or
    ``limit.attempt.duration``) caps the time spent retrying, waits included."""
    limit = retry.get("limit") or {}
    count = (limit.get("attempt") or {}).get("count")
    if count is not None and attempt > int(count):
        return False
    for key, value in (
        ("duration", limit.get("duration")),
        ("attempt/duration", (limit.get("attempt") or {}).get("duration")),
    ):
        if value is not None and elapsed > parse_duration(
            value, where=f"{step.reference}/catch/retry/limit/{key}"
        ):
            return False
    return True


KIND = TaskKind(
    "try",
    check,
    parse,
    run_try,
    fields=frozenset({"catch"}),
    positions=positions,
    task_lists=task_lists,
)
