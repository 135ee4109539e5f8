"""One runner per supported task type."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RetryPolicy

from agent_contract import (
    AGENT_CANCELLED_ERROR,
    AGENT_FAILED_ERROR,
    AGENT_REJECTED_ERROR,
    CALL_AGENT_ACTIVITY,
    ZIGFLOW_TASK_QUEUE,
)
from zigflow.agent_call import AgentCall, spec_from_arguments
from zigflow.dsl.document import as_task_list
from zigflow.dsl.durations import parse_duration
from zigflow.dsl.errors import validation_error

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter, TaskRunner

DEFAULT_AGENT_TIMEOUT = timedelta(hours=24)
DEFAULT_AGENT_HEARTBEAT = timedelta(seconds=60)
AGENT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=[AGENT_FAILED_ERROR, AGENT_REJECTED_ERROR, AGENT_CANCELLED_ERROR],
)


async def run_set(
    interp: Interpreter, name: str, task: dict[str, Any], data: Any, reference: str
) -> Any:
    return interp.render(task["set"], data, f"{reference}/set")


async def run_do(
    interp: Interpreter, name: str, task: dict[str, Any], data: Any, reference: str
) -> Any:
    return await interp.run_list(as_task_list(task["do"]), data, f"{reference}/do")


async def run_call(
    interp: Interpreter, name: str, task: dict[str, Any], data: Any, reference: str
) -> Any:
    if task["call"] != "agent":
        raise validation_error(f"call {task['call']!r} is not supported", f"{reference}/call")
    args = interp.render(task.get("with") or {}, data, f"{reference}/with")
    try:
        spec = spec_from_arguments(args)
    except (TypeError, ValueError) as err:
        raise validation_error(f"bad agent arguments: {err}", f"{reference}/with") from None
    timeout = DEFAULT_AGENT_TIMEOUT
    if after := (task.get("timeout") or {}).get("after"):
        timeout = parse_duration(after, where=f"{reference}/timeout/after")
    heartbeat = DEFAULT_AGENT_HEARTBEAT
    if "heartbeat" in args:
        heartbeat = parse_duration(args["heartbeat"], where=f"{reference}/with/heartbeat")
    return await workflow.execute_activity(
        CALL_AGENT_ACTIVITY,
        AgentCall(spec=spec),
        task_queue=ZIGFLOW_TASK_QUEUE,
        start_to_close_timeout=timeout,
        heartbeat_timeout=heartbeat,
        retry_policy=AGENT_RETRY,
        cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        summary=f"agent {spec.name or name} ({spec.model})",
    )


RUNNERS: dict[str, TaskRunner] = {"set": run_set, "do": run_do, "call": run_call}
