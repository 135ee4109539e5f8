"""Record the orchestrator's workflow histories for tests/test_agent_history_replay.py.

    uv run python services/stigma-orchestrator/scripts/record_agent_histories.py

Starts the local stack (Temporal + the four services), drives one agent call per scenario
through a zigflow caller, and writes the history of the ``AgentExecutionWorkflow`` run (for
``redelivered``, of the ``RedeliverCallbackWorkflow`` run; for ``continued_as_new``, of each
run of the chain, ``continued_as_new_<n>.json``) to ``tests/histories/``. The stack's agent
runs continue as new after 200 history events, so a 40-step agent makes a chain of three.
Pass scenario names to record only those (the ``rev1_*``, ``rev2_*``, ``rev3_*`` and
``before_0011_*`` histories are never re-recorded: they stand for runs opened before those
revisions).
Re-record only when the workflow's commands change on purpose: a history that no longer
replays means runs started before the change would break after a deploy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from agent_contract import (
    AGENT_WORKFLOW,
    DECIDE_TOOL_CALL_UPDATE,
    MODEL_REQUEST_ACTIVITIES,
    REDELIVER_WORKFLOW,
    STATUS_QUERY,
    ZIGFLOW_TASK_QUEUE,
    ExecutionStatus,
    ToolDecision,
)
from devstack import LocalStack, StackConfig

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
OUT = HERE.parent / "tests" / "histories"
# tests/workflows/reliability-fast.yaml: the caller's heartbeat timeout is 6 s, so the
# keep-alive starts after 2 s; reliability-timeout.yaml: each caller attempt times out after 3 s.
LONG_AGENT = {"steps": "1", "delay_ms": "120000"}


async def _eventually(check: Callable[[], Awaitable[bool]], *, within: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise RuntimeError(f"condition not met within {within}s")
        await asyncio.sleep(0.1)


async def _ids(client: Client, query: str) -> list[str]:
    return [execution.id async for execution in client.list_workflows(query)]


async def _agent_of(client: Client, caller_id: str) -> WorkflowHandle[Any, Any]:
    query = f"WorkflowType = '{AGENT_WORKFLOW}' AND WorkflowId STARTS_WITH 'agent-{caller_id}/'"
    found: list[str] = []

    async def started() -> bool:
        found[:] = await _ids(client, query)
        return bool(found)

    await _eventually(started)
    (workflow_id,) = found
    return client.get_workflow_handle(workflow_id)


async def _step_running(agent: WorkflowHandle[Any, Any]) -> bool:
    description = await agent.describe()
    return any(
        pending.activity_type.name in MODEL_REQUEST_ACTIVITIES
        and pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        for pending in description.raw_description.pending_activities
    )


async def _save(handle: WorkflowHandle[Any, Any], scenario: str) -> None:
    await handle.result()  # the run has closed: its history is complete
    history = await handle.fetch_history()
    (OUT / f"{scenario}.json").write_text(history.to_json() + "\n")
    print(f"recorded {scenario} ({len(history.events)} events, from {handle.id})")


async def _call(
    client: Client, scenario: str, workflow_type: str, payload: dict[str, Any]
) -> tuple[WorkflowHandle[Any, Any], WorkflowHandle[Any, Any]]:
    """Run one caller to its end; return it and its agent run."""
    caller = await client.start_workflow(
        workflow_type, payload, id=f"recorded-{scenario}", task_queue=ZIGFLOW_TASK_QUEUE
    )
    agent = await _agent_of(client, caller.id)
    # The failing scenario fails its caller on purpose; its history is just as useful.
    with contextlib.suppress(WorkflowFailureError):
        await caller.result()
    return caller, agent


async def completed(client: Client) -> None:
    # Three model calls with a think and a current_time call between them.
    script = [
        {"tool": "think", "args": {"thought": "plan"}},
        {"tool": "current_time", "args": {"timezone": "UTC"}},
        {"text": "{result}"},
    ]
    payload = {
        "input": "replay me",
        "model": "scripted:upper",
        "parameters": {"script": json.dumps(script)},
        "tools": ["think", "current_time"],
    }
    _, agent = await _call(client, "completed", "agent-real", payload)
    await _save(agent, "completed")


async def tools_and_approval(client: Client) -> None:
    # current_time waits for approval; the operator rejects it through the Update.
    script = [{"tool": "current_time", "args": {"timezone": "UTC"}}, {"text": "{tool_result}"}]
    caller = await client.start_workflow(
        "agent-real",
        {
            "input": "what time is it?",
            "model": "scripted:echo",
            "parameters": {"script": json.dumps(script)},
            "tools": [{"name": "current_time", "requiresApproval": True}],
        },
        id="recorded-tools_and_approval",
        task_queue=ZIGFLOW_TASK_QUEUE,
    )
    agent = await _agent_of(client, caller.id)
    waiting: list[ExecutionStatus] = []

    async def approval_pending() -> bool:
        status = await agent.query(STATUS_QUERY, result_type=ExecutionStatus)
        waiting[:] = [status]
        return bool(status.pending_approvals)

    await _eventually(approval_pending)
    (pending,) = waiting[0].pending_approvals
    await agent.execute_update(
        DECIDE_TOOL_CALL_UPDATE,
        ToolDecision(tool_call_id=pending.tool_call_id, approve=False, reason="not now"),
    )
    await caller.result()
    await _save(agent, "tools_and_approval")


async def budget_exceeded(client: Client) -> None:
    payload = {
        "input": "too many tools",
        "model": "scripted:echo",
        "parameters": {"steps": "5"},
        "tools": ["think"],
        "budget": {"maxToolCalls": 2},
    }
    _, agent = await _call(client, "budget_exceeded", "agent-real", payload)
    await _save(agent, "budget_exceeded")


async def continued_as_new(client: Client) -> None:
    payload = {
        "input": "a long task",
        "model": "scripted:echo",
        "parameters": {"steps": "40"},
        "tools": ["think"],
        "maxSteps": 40,
    }
    _, agent = await _call(client, "continued_as_new", "agent-real", payload)
    await agent.result()  # the chain's last run has closed too (it follows the chain)
    runs = [e.run_id async for e in client.list_workflows(f"WorkflowId = '{agent.id}'")]
    # list_workflows lists the newest first; number the chain from its first run.
    for number, run_id in enumerate(reversed(runs), 1):
        run = client.get_workflow_handle(agent.id, run_id=run_id)
        history = await run.fetch_history()
        name = f"continued_as_new_{number}"
        (OUT / f"{name}.json").write_text(history.to_json() + "\n")
        print(f"recorded {name} ({len(history.events)} events)")


async def failed(client: Client) -> None:
    payload = {
        "input": "fail me",
        "model": "scripted:echo",
        "parameters": {"steps": "3", "fail_at_step": "2"},
        "tools": ["think"],
    }
    _, agent = await _call(client, "failed", "agent-real", payload)
    await _save(agent, "failed")


async def long_with_keepalive(client: Client) -> None:
    # ~4.5 s of agent against a 2 s grace: the keeper runs, beats the caller twice or so,
    # and the pending search attributes are upserted and cleared.
    payload = {"input": "keep me alive", "parameters": {"steps": "3", "delay_ms": "1500"}}
    _, agent = await _call(client, "long_with_keepalive", "reliability-fast", payload)
    await _save(agent, "long_with_keepalive")


async def cancelled_by_caller(client: Client) -> None:
    caller = await client.start_workflow(
        "reliability-fast",
        {"input": "never mind", "parameters": LONG_AGENT},
        id="recorded-cancelled_by_caller",
        task_queue=ZIGFLOW_TASK_QUEUE,
    )
    agent = await _agent_of(client, caller.id)
    await _eventually(lambda: _step_running(agent))
    await caller.cancel()
    await _save(agent, "cancelled_by_caller")


async def reattached(client: Client) -> None:
    # The agent needs 5 s, each caller attempt 3 s: attempt 2 re-attaches by signal.
    payload = {"input": "slow", "parameters": {"delay_ms": "5000"}}
    _, agent = await _call(client, "reattached", "reliability-timeout", payload)
    await _save(agent, "reattached")


async def redelivered(client: Client) -> None:
    # The agent (3.3 s) ends after attempt 1 timed out (3 s) and before attempt 2 arrives:
    # stigma-api starts a RedeliverCallbackWorkflow for attempt 2.
    payload = {"input": "late", "parameters": {"delay_ms": "3300"}}
    _, agent = await _call(client, "redelivered", "reliability-timeout", payload)
    query = f"WorkflowType = '{REDELIVER_WORKFLOW}' AND WorkflowId STARTS_WITH '{agent.id}/'"
    found: list[str] = []

    async def redelivery_listed() -> bool:
        found[:] = await _ids(client, query)
        return bool(found)

    await _eventually(redelivery_listed, within=15.0)
    (redelivery,) = found
    await _save(client.get_workflow_handle(redelivery), "redelivered")


SCENARIOS: list[Callable[[Client], Awaitable[None]]] = [
    completed,
    failed,
    long_with_keepalive,
    cancelled_by_caller,
    reattached,
    redelivered,
    tools_and_approval,
    budget_exceeded,
    continued_as_new,
]


async def main(names: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    chosen = [s for s in SCENARIOS if not names or s.__name__ in names]
    with tempfile.TemporaryDirectory() as state:
        config = StackConfig(
            state_dir=Path(state),
            workflows_dir=ROOT / "tests" / "workflows",
            headless=True,
            service_env={
                "stigma-orchestrator": {"STIGMA_ORCHESTRATOR_CONTINUE_AS_NEW_AFTER_EVENTS": "200"}
            },
        )
        async with LocalStack(config) as stack:
            for scenario in chosen:
                await scenario(stack.client)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
