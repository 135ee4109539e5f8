"""stigmactl: an operator sees the pending calls Temporal holds, and can finish a stuck one."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from agent_contract import AGENT_FAILED_ERROR
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from stigmactl.cli import amain, finish
from tests.observability_support import Observed
from tests.support import eventually, start_dsl


async def _pending(observed: Observed) -> list[dict[str, Any]]:
    out = io.StringIO()
    assert await amain(["pending", "--json"], client=observed.stack.client, out=out) == 0
    rows: list[dict[str, Any]] = json.loads(out.getvalue())
    return rows


async def test_operator_lists_a_stuck_call_and_fails_it_after_confirmation(
    observed: Observed,
) -> None:
    client = observed.stack.client
    handle = await start_dsl(
        client,
        "observed-call",
        {"input": "stuck", "parameters": {"steps": "1", "delay_ms": "600000"}},
    )
    mine: dict[str, Any] = {}

    async def listed_with_heartbeat() -> bool:
        rows = [row for row in await _pending(observed) if row["caller_workflow_id"] == handle.id]
        if rows and rows[0]["last_heartbeat"]:
            mine.update(rows[0])
            return True
        return False

    await eventually(listed_with_heartbeat, within=60)
    assert mine["attempt"] == 1
    assert mine["phase"] == "RUNNING"
    assert mine["age_seconds"] > 0
    assert mine["execution_id"].startswith("agent-")

    # Declining the confirmation does nothing.
    out = io.StringIO()
    declined = await finish(
        client,
        action="fail",
        workflow_id=handle.id,
        activity_id=mine["activity_id"],
        message="stuck for good",
        confirm=lambda prompt: "AgentFailed" not in prompt,
        out=out,
    )
    assert declined == 1
    assert "nothing done" in out.getvalue()
    assert any(row["caller_workflow_id"] == handle.id for row in await _pending(observed))

    out = io.StringIO()
    argv = ["fail", handle.id, mine["activity_id"], "--message", "stuck for good", "--yes"]
    assert await amain(argv, client=client, out=out) == 0
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    assert isinstance(caught.value.cause, ActivityError)
    failure = caught.value.cause.cause
    assert isinstance(failure, ApplicationError)
    assert failure.type == AGENT_FAILED_ERROR
    assert failure.message == "stuck for good"

    # Stop the agent too, so that nothing is left running; its callback is now stale.
    async with observed.stack.stigma_channel() as channel:
        stigma = agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
        await stigma.CancelExecution(
            agent_pb2.CancelExecutionRequest(execution_id=mine["execution_id"], reason="test")
        )
    await client.get_workflow_handle(mine["execution_id"]).result()

    async def nothing_pending() -> bool:
        return not await _pending(observed)

    await eventually(nothing_pending)
