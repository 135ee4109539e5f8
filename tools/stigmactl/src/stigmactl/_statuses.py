"""Read the status of every agent run a visibility query finds, and say which could not be read.

The status comes from the run's ``status`` query, which only a running orchestrator can
answer. With the orchestrator down, a query waits for a worker that never comes: skipping
those runs (as if they had closed) made ``stigmactl pending`` print a confident "0 pending"
after minutes. Here every query runs at once under one short deadline, a run whose query
fails is described (a server-side read that needs no worker), and a run still open is
reported as unreadable, so the caller can say the answer is incomplete and exit non-zero.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError

from agent_contract import STATUS_QUERY, ExecutionStatus

QUERY_TIMEOUT = timedelta(seconds=3)
"""Long enough for a loaded orchestrator to answer; short enough that the command answers
in seconds whatever is down."""
CONCURRENCY = 32


@dataclass(frozen=True)
class Unreadable:
    """An open agent run whose status could not be read, and why."""

    execution_id: str
    reason: str


@dataclass(frozen=True)
class Statuses:
    read: list[tuple[WorkflowExecution, ExecutionStatus]]
    unreadable: list[Unreadable]


async def read_statuses(
    client: Client, query: str, *, query_timeout: timedelta = QUERY_TIMEOUT
) -> Statuses:
    """The status of every run ``query`` lists; runs that closed meanwhile are left out."""
    executions = [execution async for execution in client.list_workflows(query)]
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(execution: WorkflowExecution) -> ExecutionStatus | Unreadable | None:
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        async with gate:
            try:
                status: ExecutionStatus = await handle.query(
                    STATUS_QUERY, result_type=ExecutionStatus, rpc_timeout=query_timeout
                )
                return status
            except RPCError as err:
                failure = f"{err.status.name}: {err.message}"
            except WorkflowQueryFailedError as err:
                failure = f"the query failed: {err}"
            try:
                description = await handle.describe(rpc_timeout=query_timeout)
            except RPCError as err:
                return Unreadable(execution.id, f"{failure}; describe: {err.status.name}")
        if description.status is not WorkflowExecutionStatus.RUNNING:
            return None  # closed meanwhile: nobody waits on it any more
        return Unreadable(execution.id, f"its status query failed ({failure})")

    outcomes = await asyncio.gather(*(one(execution) for execution in executions))
    read: list[tuple[WorkflowExecution, ExecutionStatus]] = []
    unreadable: list[Unreadable] = []
    for execution, outcome in zip(executions, outcomes, strict=True):
        if isinstance(outcome, Unreadable):
            unreadable.append(outcome)
        elif outcome is not None:
            read.append((execution, outcome))
    return Statuses(read, unreadable)


def incomplete_warning(unreadable: list[Unreadable], what: str) -> str:
    """The lines that tell an operator the list above is not the whole truth."""
    lines = [
        f"stigmactl: INCOMPLETE: {len(unreadable)} agent run(s) with {what} could not be read;"
        " the list is missing their calls. Is the stigma-orchestrator running?"
    ]
    lines += [f"  {run.execution_id}: {run.reason}" for run in unreadable]
    return "\n".join(lines) + "\n"
