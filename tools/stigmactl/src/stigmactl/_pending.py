from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError

from agent_contract import (
    PENDING_CALLBACKS_QUERY,
    PENDING_SINCE_ATTRIBUTE,
    CallbackState,
    CallbackStatus,
    ExecutionStatus,
)
from stigmactl._statuses import QUERY_TIMEOUT, Unreadable, read_statuses

PENDING_SINCE = SearchAttributeKey.for_datetime(PENDING_SINCE_ATTRIBUTE)
QUERY = PENDING_CALLBACKS_QUERY


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
        description = await client.get_workflow_handle(workflow_id).describe(
            rpc_timeout=QUERY_TIMEOUT
        )
    except RPCError:
        return None
    for pending in description.raw_description.pending_activities:
        if pending.activity_id == activity_id and pending.HasField("last_heartbeat_time"):
            return pending.last_heartbeat_time.ToDatetime(tzinfo=UTC)
    return None


@dataclass(frozen=True)
class PendingCalls:
    """What ``stigmactl pending`` found, and the runs it could not read (then ``calls`` is
    incomplete: never print it as the whole truth)."""

    calls: list[PendingCall]
    unreadable: list[Unreadable]


async def pending_calls(
    client: Client, *, older_than: timedelta | None = None, query_timeout: timedelta = QUERY_TIMEOUT
) -> PendingCalls:
    """Every waiting caller, oldest first, from Temporal's durable state only."""
    query = QUERY
    cutoff = datetime.now(UTC) - (older_than or timedelta(0))
    if older_than is not None:
        query += f" AND {PENDING_SINCE_ATTRIBUTE} < '{cutoff.isoformat()}'"
    statuses = await read_statuses(client, query, query_timeout=query_timeout)
    waiting: list[tuple[ExecutionStatus, CallbackStatus, datetime | None]] = []
    for execution, status in statuses.read:
        since = execution.typed_search_attributes.get(PENDING_SINCE)
        for callback in status.callbacks:
            if not CallbackState(callback.state).waiting:
                continue
            attached = (
                datetime.fromisoformat(callback.attached_at) if callback.attached_at else since
            )
            if older_than is not None and attached is not None and attached > cutoff:
                continue
            waiting.append((status, callback, attached))
    beats = await asyncio.gather(
        *(
            _last_heartbeat(client, callback.caller_workflow_id, callback.caller_activity_id)
            for _, callback, _ in waiting
        )
    )
    calls = [
        PendingCall(
            caller_workflow_id=callback.caller_workflow_id,
            activity_id=callback.caller_activity_id,
            attempt=callback.attempt,
            waiting_since=attached,
            last_heartbeat=beat,
            execution_id=status.execution_id,
            phase=status.phase.value,
            steps=len(status.steps),
        )
        for (status, callback, attached), beat in zip(waiting, beats, strict=True)
    ]
    far_future = datetime.max.replace(tzinfo=UTC)
    calls.sort(key=lambda call: call.waiting_since or far_future)
    return PendingCalls(calls, statuses.unreadable)
