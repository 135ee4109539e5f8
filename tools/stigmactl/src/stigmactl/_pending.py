from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError

from agent_contract import (
    AGENT_WORKFLOW,
    PENDING_CALLBACKS_ATTRIBUTE,
    PENDING_SINCE_ATTRIBUTE,
    STATUS_QUERY,
    ExecutionStatus,
)

PENDING_SINCE = SearchAttributeKey.for_datetime(PENDING_SINCE_ATTRIBUTE)
QUERY = (
    f"WorkflowType = '{AGENT_WORKFLOW}' AND ExecutionStatus = 'Running' "
    f"AND {PENDING_CALLBACKS_ATTRIBUTE} > 0"
)


@dataclass(frozen=True)
class PendingCall:
    """One caller's CallAgent activity waiting on an agent execution."""

    caller_workflow_id: str
    activity_id: str
    attempt: int
    waiting_since: datetime | None
    last_heartbeat: datetime | None
    execution_id: str
    phase: str
    steps: int

    def age(self, now: datetime) -> timedelta | None:
        return now - self.waiting_since if self.waiting_since else None


async def _last_heartbeat(client: Client, workflow_id: str, activity_id: str) -> datetime | None:
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return None
    for pending in description.raw_description.pending_activities:
        if pending.activity_id == activity_id and pending.HasField("last_heartbeat_time"):
            return pending.last_heartbeat_time.ToDatetime(tzinfo=UTC)
    return None


async def pending_calls(
    client: Client, *, older_than: timedelta | None = None
) -> list[PendingCall]:
    """Every waiting caller, oldest first, from Temporal's durable state only."""
    query = QUERY
    cutoff = datetime.now(UTC) - (older_than or timedelta(0))
    if older_than is not None:
        query += f" AND {PENDING_SINCE_ATTRIBUTE} < '{cutoff.isoformat()}'"
    calls: list[PendingCall] = []
    async for execution in client.list_workflows(query):
        try:
            status: ExecutionStatus = await client.get_workflow_handle(execution.id).query(
                STATUS_QUERY, result_type=ExecutionStatus, rpc_timeout=timedelta(seconds=10)
            )
        except RPCError:
            continue  # closed meanwhile
        since = execution.typed_search_attributes.get(PENDING_SINCE)
        for callback in status.callbacks:
            if callback.state not in ("pending", "delivering"):
                continue
            attached = (
                datetime.fromisoformat(callback.attached_at) if callback.attached_at else since
            )
            if older_than is not None and attached is not None and attached > cutoff:
                continue
            calls.append(
                PendingCall(
                    caller_workflow_id=callback.caller_workflow_id,
                    activity_id=callback.caller_activity_id,
                    attempt=callback.attempt,
                    waiting_since=attached,
                    last_heartbeat=await _last_heartbeat(
                        client, callback.caller_workflow_id, callback.caller_activity_id
                    ),
                    execution_id=status.execution_id,
                    phase=status.phase.value,
                    steps=len(status.steps),
                )
            )
    far_future = datetime.max.replace(tzinfo=UTC)
    return sorted(calls, key=lambda call: call.waiting_since or far_future)
