"""The agent calls callers wait on, from both sides of the handshake.

The truth is the callers' pending CallAgent activities. Stigma's own list (the callbacks
its runs hold) misses every call it does not hold: a StartAgent that has not got through,
a caller between two attempts, a call whose agent ended but whose delivery keeps failing
(the run lets a superseded callback go, and the caller's retry waits again). Listing
Stigma's side only printed "0 pending" while callers waited (docs/adr/0018). So the
callers that keep the pending-call attributes (Zigflow runs) are read first, each described
for its pending CallAgent activities, and joined with what Stigma holds; Stigma's callbacks
for other callers (any Temporal activity may call StartAgent) are added from its side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowExecution
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError

from agent_contract import (
    AGENT_CALLS_PENDING_SINCE_ATTRIBUTE,
    CALL_AGENT_ACTIVITY,
    PENDING_AGENT_CALLS_QUERY,
    PENDING_CALLBACKS_QUERY,
    PENDING_SINCE_ATTRIBUTE,
    CallbackState,
    CallbackStatus,
    ExecutionStatus,
)
from stigmactl._statuses import CONCURRENCY, QUERY_TIMEOUT, Unreadable, read_statuses

PENDING_SINCE = SearchAttributeKey.for_datetime(PENDING_SINCE_ATTRIBUTE)
CALLS_PENDING_SINCE = SearchAttributeKey.for_datetime(AGENT_CALLS_PENDING_SINCE_ATTRIBUTE)
QUERY = PENDING_CALLBACKS_QUERY
NOT_HELD = "NOT_HELD"
"""The phase shown for a call no agent run holds a callback for, at its current attempt."""


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


@dataclass(frozen=True)
class PendingCalls:
    """What ``stigmactl pending`` found, and the runs it could not read (then ``calls`` is
    incomplete: never print it as the whole truth)."""

    calls: list[PendingCall]
    unreadable: list[Unreadable]


@dataclass(frozen=True)
class _Held:
    status: ExecutionStatus
    callback: CallbackStatus
    attached: datetime | None


@dataclass(frozen=True)
class _Waiting:
    """A caller run's pending CallAgent activities, as Temporal describes them."""

    execution: WorkflowExecution
    activities: list[PendingActivityInfo]


async def pending_calls(
    client: Client, *, older_than: timedelta | None = None, query_timeout: timedelta = QUERY_TIMEOUT
) -> PendingCalls:
    """Every waiting caller, oldest first, from Temporal's durable state only."""
    cutoff = datetime.now(UTC) - older_than if older_than is not None else None
    held, unreadable = await _held_by_stigma(client, cutoff, query_timeout)
    waiting, undescribed = await _waiting_callers(client, cutoff, query_timeout)
    calls: list[PendingCall] = []
    seen: set[tuple[str, str]] = set()
    for caller in waiting:
        calls += _callers_calls(caller, held, cutoff)
        seen.update((caller.execution.id, a.activity_id) for a in caller.activities)
    # Callers that keep no attributes (not Zigflow runs), or whose call is still within the
    # grace before the attributes count it: Stigma's side is all there is.
    others = [entry for key, entry in held.items() if key not in seen]
    beats = await asyncio.gather(
        *(
            _last_heartbeat(client, e.callback.caller_workflow_id, e.callback.caller_activity_id)
            for e in others
        )
    )
    calls += [_held_call(entry, beat) for entry, beat in zip(others, beats, strict=True)]
    far_future = datetime.max.replace(tzinfo=UTC)
    calls.sort(key=lambda call: call.waiting_since or far_future)
    return PendingCalls(calls, unreadable + undescribed)


async def _held_by_stigma(
    client: Client, cutoff: datetime | None, query_timeout: timedelta
) -> tuple[dict[tuple[str, str], _Held], list[Unreadable]]:
    """The callbacks Stigma's runs hold and still deliver to, by caller activity."""
    query = QUERY
    if cutoff is not None:
        query += f" AND {PENDING_SINCE_ATTRIBUTE} < '{cutoff.isoformat()}'"
    statuses = await read_statuses(client, query, query_timeout=query_timeout)
    held: dict[tuple[str, str], _Held] = {}
    for execution, status in statuses.read:
        since = execution.typed_search_attributes.get(PENDING_SINCE)
        for callback in status.callbacks:
            if not CallbackState(callback.state).waiting:
                continue
            attached = (
                datetime.fromisoformat(callback.attached_at) if callback.attached_at else since
            )
            if cutoff is not None and attached is not None and attached > cutoff:
                continue
            key = (callback.caller_workflow_id, callback.caller_activity_id)
            known = held.get(key)
            if known is None or known.callback.attempt < callback.attempt:
                held[key] = _Held(status, callback, attached)
    return held, statuses.unreadable


async def _waiting_callers(
    client: Client, cutoff: datetime | None, query_timeout: timedelta
) -> tuple[list[_Waiting], list[Unreadable]]:
    """The callers' runs that count a waiting agent call, each described (a server-side
    read: it needs no worker of theirs or of Stigma's to be up)."""
    query = PENDING_AGENT_CALLS_QUERY
    if cutoff is not None:
        query += f" AND {AGENT_CALLS_PENDING_SINCE_ATTRIBUTE} < '{cutoff.isoformat()}'"
    executions = [execution async for execution in client.list_workflows(query)]
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(execution: WorkflowExecution) -> _Waiting | Unreadable:
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        async with gate:
            try:
                description = await handle.describe(rpc_timeout=query_timeout)
            except RPCError as err:
                return Unreadable(execution.id, f"describe: {err.status.name}: {err.message}")
        activities = [
            pending
            for pending in description.raw_description.pending_activities
            if pending.activity_type.name == CALL_AGENT_ACTIVITY
        ]
        return _Waiting(execution, activities)

    outcomes = await asyncio.gather(*(one(execution) for execution in executions))
    waiting = [outcome for outcome in outcomes if isinstance(outcome, _Waiting)]
    unreadable = [outcome for outcome in outcomes if isinstance(outcome, Unreadable)]
    return waiting, unreadable


def _callers_calls(
    caller: _Waiting, held: dict[tuple[str, str], _Held], cutoff: datetime | None
) -> Iterable[PendingCall]:
    # The run's attribute dates its oldest waiting call from that call's first attempt
    # (activity ids grow with each call the run schedules). Another call's first attempt is
    # known only while it is on it; a retried one's start is not known here: shown as such.
    since = caller.execution.typed_search_attributes.get(CALLS_PENDING_SINCE)
    numbered = [int(a.activity_id) for a in caller.activities if a.activity_id.isdigit()]
    oldest = min(numbered, default=None)
    for activity in caller.activities:
        if activity.activity_id == str(oldest):
            waiting_since = since
        elif activity.attempt == 1 and activity.HasField("scheduled_time"):
            waiting_since = activity.scheduled_time.ToDatetime(tzinfo=UTC)
        else:
            waiting_since = None
        if cutoff is not None and (waiting_since is None or waiting_since > cutoff):
            continue
        entry = held.get((caller.execution.id, activity.activity_id))
        if entry is not None and entry.callback.attempt != activity.attempt:
            entry = None  # a superseded attempt's callback: nothing will answer this one
        yield PendingCall(
            caller_workflow_id=caller.execution.id,
            activity_id=activity.activity_id,
            attempt=activity.attempt,
            waiting_since=waiting_since,
            last_heartbeat=(
                activity.last_heartbeat_time.ToDatetime(tzinfo=UTC)
                if activity.HasField("last_heartbeat_time")
                else None
            ),
            execution_id=entry.status.execution_id if entry else "",
            phase=entry.status.phase.value if entry else NOT_HELD,
            steps=len(entry.status.steps) if entry else 0,
        )


def _held_call(entry: _Held, beat: datetime | None) -> PendingCall:
    return PendingCall(
        caller_workflow_id=entry.callback.caller_workflow_id,
        activity_id=entry.callback.caller_activity_id,
        attempt=entry.callback.attempt,
        waiting_since=entry.attached,
        last_heartbeat=beat,
        execution_id=entry.status.execution_id,
        phase=entry.status.phase.value,
        steps=len(entry.status.steps),
    )


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
