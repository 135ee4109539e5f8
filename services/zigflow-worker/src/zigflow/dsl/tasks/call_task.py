"""``call``: ``agent`` (the token handshake), ``http``, ``grpc`` (``grpc_calls.py``), or a
function of ``use.functions``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from uritemplate import URITemplate

from agent_contract import (
    AGENT_BUDGET_EXCEEDED_ERROR,
    AGENT_CANCELLED_ERROR,
    AGENT_FAILED_ERROR,
    AGENT_REJECTED_ERROR,
    CALL_AGENT_ACTIVITY,
)
from zigflow.agent_call import AgentCall
from zigflow.agent_spec import (
    AGENT_ARGUMENTS,
    budget_from_arguments,
    spec_from_arguments,
    tools_from_arguments,
)
from zigflow.dsl import expressions, grpc_validation
from zigflow.dsl.durations import parse_duration
from zigflow.dsl.errors import validation_error
from zigflow.dsl.fields import Part, check_part
from zigflow.dsl.interpreter import Step
from zigflow.dsl.load_context import LoadContext, Task
from zigflow.dsl.model import Template
from zigflow.dsl.task_kind import Builder, TaskKind
from zigflow.dsl.tasks.grpc_calls import GrpcTarget, call_grpc
from zigflow.dsl.validation import as_map
from zigflow.http_call import (
    CALL_HTTP_ACTIVITY,
    DEFAULT_HTTP_TIMEOUT,
    OUTPUT_FORMATS,
    HttpRequest,
)

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter

DEFAULT_AGENT_TIMEOUT = timedelta(hours=24)
DEFAULT_AGENT_HEARTBEAT = timedelta(seconds=60)
AGENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=[
        AGENT_FAILED_ERROR,
        AGENT_BUDGET_EXCEEDED_ERROR,
        AGENT_REJECTED_ERROR,
        AGENT_CANCELLED_ERROR,
    ],
)
# Only requests that got no response are retried here (status errors are non-retryable).
HTTP_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=500), maximum_attempts=3)
# call: http's `with` and its endpoint map, with the spec's keys Zigflow does not run.
HTTP_WITH = Part(
    "call: http with",
    frozenset({"method", "endpoint", "headers", "body", "query", "output", "redirect"}),
)
ENDPOINT = Part(
    "endpoint", frozenset({"uri"}), {"authentication": "send credentials in headers, from $secrets"}
)
SUPPORTED_CALLS = frozenset({"agent", "grpc", "http"})


@dataclass(frozen=True)
class CallBody:
    call: str
    """``agent``, ``http``, ``grpc``, or the name of a function of ``use.functions``."""
    args: Template | None
    """``with``: the call's arguments, or a function's input (None: the task's input)."""
    function: bool = False
    """``call`` names a function of ``use.functions`` (which the load checked as one,
    whatever its name)."""
    grpc: GrpcTarget | None = None
    """``call: grpc`` only: its ``with``, read at load."""


def check(checker: LoadContext, task: Task, path: str, siblings: set[str]) -> None:
    """A function of ``use.functions`` (by name), else ``agent``, ``http`` or ``grpc``."""
    if isinstance(task["call"], str) and task["call"] in (checker.use.get("functions") or {}):
        _check_function_call(checker, task, path)
        return
    if not isinstance(task["call"], str) or task["call"] not in SUPPORTED_CALLS:
        raise checker.fail(
            f"{path}.call",
            f"call {task['call']!r} is not supported yet (supported: agent, grpc, http)",
        )
    if task["call"] == "http":
        _check_http(checker, task, path)
        return
    if task["call"] == "grpc":
        grpc_validation.check_grpc(checker, task, path)
        return
    _check_agent(checker, task, path)


def _check_agent(checker: LoadContext, task: Task, path: str) -> None:
    """``call: agent``: the model and input are required; tools and budgets given as
    literals are parsed now (as expressions, when the task runs)."""
    args = task.get("with")
    if not isinstance(args, dict):
        raise checker.fail(f"{path}.with", "call: agent needs a 'with' map")
    for key in ("model", "input"):
        if key not in args:
            raise checker.fail(f"{path}.with.{key}", "is required for call: agent")
    unknown = sorted(set(args) - AGENT_ARGUMENTS)
    if unknown:
        raise checker.fail(
            f"{path}.with.{unknown[0]}",
            f"is not an argument of call: agent (known: {', '.join(sorted(AGENT_ARGUMENTS))})",
        )
    if "heartbeat" in args:
        checker.duration(args["heartbeat"], f"{path}.with.heartbeat")
    for key, parse in (("tools", tools_from_arguments), ("budget", budget_from_arguments)):
        value = args.get(key)
        if value is None or _holds_expression(value):
            continue
        try:
            parse(value)
        except (TypeError, ValueError) as err:
            raise checker.fail(f"{path}.with.{key}", str(err)) from None


def _check_function_call(checker: LoadContext, task: Task, path: str) -> None:
    """``call: <a use.functions name>``: its ``with`` (a map) is the function's input."""
    if task.get("with") is not None:
        as_map(checker, task["with"], f"{path}.with")


def _check_http(checker: LoadContext, task: Task, path: str) -> None:
    args = as_map(checker, task.get("with"), f"{path}.with")
    check_part(checker, HTTP_WITH, args, f"{path}.with")
    for key in ("method", "endpoint"):
        if key not in args:
            raise checker.fail(f"{path}.with.{key}", "is required for call: http")
    check_part(checker, ENDPOINT, args["endpoint"], f"{path}.with.endpoint")
    if args.get("output", "content") not in ("content", "response", "raw"):
        raise checker.fail(f"{path}.with.output", "must be content, response or raw")


def _holds_expression(value: Any) -> bool:
    """Whether a value is, or contains, a runtime expression (checked when it runs)."""
    if isinstance(value, dict):
        return any(_holds_expression(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_expression(v) for v in value)
    return expressions.is_expression(value)


def activity_queue() -> str:
    """Activities run on the workflow's own task queue: every queue's worker registers
    every activity, so a document on its own queue never needs the default one."""
    return workflow.info().task_queue


def _timeout(interp: Interpreter, step: Step, data: Any, default: timedelta) -> timedelta:
    return interp.task_timeout(step, data) or default


def parse(builder: Builder, task: Task) -> CallBody:
    call, args = str(task["call"]), task.get("with")
    if builder.defines("functions", call):
        return CallBody(call, args, function=True)
    return CallBody(call, args, grpc=GrpcTarget.of(task["with"]) if call == "grpc" else None)


async def run_call(interp: Interpreter, step: Step, body: CallBody, data: Any) -> Any:
    if body.function:
        return await _call_function(interp, step, body, data)
    if body.call == "http":
        return await _call_http(interp, step, body, data)
    if body.call == "agent":
        return await _call_agent(interp, step, body, data)
    assert body.grpc is not None, f"call {body.call!r} was not checked"
    return await call_grpc(interp, step, body.grpc, data)


async def _call_function(interp: Interpreter, step: Step, body: CallBody, data: Any) -> Any:
    """``call: <name>`` of ``use.functions``: the function (a task) runs with the
    evaluated ``with`` map as its input (``.``), or the task's input when there is none."""
    name = body.call
    function = interp.document.functions[name]
    function_input = (
        data
        if body.args is None
        else interp.render(body.args, data, f"{step.reference}/with", step.scope)
    )
    call = Step(name, function, f"/use/functions/{name}", step.scope)
    output, _ = await interp.run_task(call, function_input)
    return output


async def _call_agent(interp: Interpreter, step: Step, body: CallBody, data: Any) -> Any:
    reference = step.reference
    args = interp.render(body.args or {}, data, f"{reference}/with", step.scope)
    try:
        spec = spec_from_arguments(args)
    except (TypeError, ValueError) as err:
        raise validation_error(f"bad agent arguments: {err}", f"{reference}/with") from None
    heartbeat = DEFAULT_AGENT_HEARTBEAT
    if "heartbeat" in args:
        heartbeat = parse_duration(args["heartbeat"], where=f"{reference}/with/heartbeat")
    call = workflow.start_activity(
        CALL_AGENT_ACTIVITY,
        AgentCall(spec=spec),
        task_queue=activity_queue(),
        start_to_close_timeout=_timeout(interp, step, data, DEFAULT_AGENT_TIMEOUT),
        heartbeat_timeout=heartbeat,
        retry_policy=AGENT_RETRY,
        cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        summary=f"agent {spec.name or step.name} ({spec.model})",
    )
    return await interp.agent_calls.watch(call)


def expand_uri(uri: str, data: Any) -> str:
    """The spec's URI template (RFC 6570, every level: ``{id}``, ``{+path}``, ``{?q,page}``,
    ``{/segments*}``, ...) filled from the task input's top-level fields. A field the input
    lacks, or null, is undefined and expands to nothing, as the RFC says. Values are
    percent-encoded as their operator says: ``{name}`` turns ``a/b`` into ``a%2Fb``, so an
    input cannot add path segments or a query; ``{+name}`` keeps reserved characters."""
    fields = data if isinstance(data, dict) else {}
    template = URITemplate(uri)
    values = {
        name: _template_value(fields[name])
        for name in template.variable_names
        if fields.get(name) is not None
    }
    return str(template.expand(values))


def _template_value(value: Any) -> Any:
    """Lists and maps expand as the RFC says; any other value as its JSON text."""
    if isinstance(value, list | dict | str):
        return value
    return json.dumps(value)


async def _call_http(interp: Interpreter, step: Step, body: CallBody, data: Any) -> Any:
    where = f"{step.reference}/with"
    args = interp.render(body.args or {}, data, where, step.scope)
    endpoint = args.get("endpoint")
    uri = endpoint.get("uri") if isinstance(endpoint, dict) else endpoint
    if not isinstance(uri, str) or not uri:
        raise validation_error("call: http needs with.endpoint (a URI)", f"{where}/endpoint")
    output = str(args.get("output", "content"))
    if output not in OUTPUT_FORMATS:
        raise validation_error(f"with.output must be one of {sorted(OUTPUT_FORMATS)}", where)
    request = HttpRequest(
        method=str(args.get("method", "get")),
        url=expand_uri(uri, data),
        headers={str(k): str(v) for k, v in (args.get("headers") or {}).items()},
        query={str(k): str(v) for k, v in (args.get("query") or {}).items()},
        body=args.get("body"),
        output=output,
        redirect=bool(args.get("redirect", False)),
        instance=step.reference,
    )
    timeout = _timeout(interp, step, data, DEFAULT_HTTP_TIMEOUT)
    async with interp.activity_share.slot():
        return await workflow.execute_activity(
            CALL_HTTP_ACTIVITY,
            request,
            task_queue=activity_queue(),
            start_to_close_timeout=timeout,
            retry_policy=HTTP_RETRY,
            summary=f"{request.method.upper()} {uri}",
        )


KIND = TaskKind("call", check, parse, run_call, fields=frozenset({"with"}), own_timeout=True)
