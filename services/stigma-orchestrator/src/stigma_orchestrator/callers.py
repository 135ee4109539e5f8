"""The caller's activity, named by the ids of its signed callback target (docs/adr/0013).

The task token inside a callback is a bearer capability for *whatever* activity it
encodes: a token built by hand and signed with a leaked key could make Stigma complete a
victim's ``CallGrpc``. So the orchestrator never acts with it. It acts by the ids of the
signed target (namespace, workflow id, run id, activity id) and only after Temporal's
description of that workflow shows a pending ``CallAgent`` activity with that id, at the
attempt the token was issued for. Anything else completes nothing:

- no such workflow or activity, or another attempt: the caller is gone (``stale``, as a
  superseded attempt's token answered NOT_FOUND before);
- an activity that is not a ``CallAgent``: :class:`CallerRefused`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from temporalio.client import AsyncActivityHandle, Client
from temporalio.service import RPCError, RPCStatusCode

from agent_contract import CALL_AGENT_ACTIVITY

DESCRIBE_TIMEOUT = timedelta(seconds=10)
# Temporal answers these when the named workflow does not exist (or the ids are not ids).
_NO_WORKFLOW = frozenset({RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT})


class CallerIds(Protocol):
    """The signed target's ids (a CallbackRef, or the KeptCaller a run publishes)."""

    @property
    def namespace(self) -> str: ...
    @property
    def workflow_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def activity_id(self) -> str: ...
    @property
    def attempt(self) -> int: ...


class CallerGone(LookupError):
    """The signed caller no longer waits: no such workflow, no such pending activity, or
    another attempt of it. The message says which (never the token)."""


class CallerRefused(PermissionError):
    """The signed target names an activity that is not a CallAgent: Stigma completes,
    fails, cancels and heartbeats CallAgent activities only."""


async def caller_activity(client: Client, callback: CallerIds) -> AsyncActivityHandle:
    """A handle on the signed caller's activity that acts by its ids, once checked.

    ``client`` is one of the target's namespace. Costs one DescribeWorkflowExecution of
    the caller's run. Raises :class:`CallerGone` or :class:`CallerRefused`; an RPC failure
    other than "no such workflow" propagates (the delivery is retried).
    """
    where = f"caller {callback.workflow_id}/{callback.activity_id} attempt {callback.attempt}"
    try:
        description = await client.get_workflow_handle(
            callback.workflow_id, run_id=callback.run_id
        ).describe(rpc_timeout=DESCRIBE_TIMEOUT)
    except RPCError as err:
        if err.status in _NO_WORKFLOW:
            raise CallerGone(f"{where}: no such workflow run ({err.status.name})") from None
        raise
    for pending in description.raw_description.pending_activities:
        if pending.activity_id != callback.activity_id:
            continue
        kind = pending.activity_type.name
        if kind != CALL_AGENT_ACTIVITY:
            raise CallerRefused(
                f"{where}: activity {callback.activity_id} is a {kind!r} activity, not a "
                f"{CALL_AGENT_ACTIVITY}; nothing done to it"
            )
        if pending.attempt != callback.attempt:
            raise CallerGone(f"{where}: superseded by attempt {pending.attempt}")
        return client.get_async_activity_handle(
            workflow_id=callback.workflow_id,
            run_id=callback.run_id,
            activity_id=callback.activity_id,
        )
    raise CallerGone(f"{where}: no pending activity {callback.activity_id}")


class Callers:
    """Checked handles on callers' activities, in whichever namespace each caller lives
    (one client per namespace, over the orchestrator's one connection)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._clients: dict[str, Client] = {client.namespace: client}

    def client(self, namespace: str) -> Client:
        found = self._clients.get(namespace)
        if found is None:
            found = Client(
                self._client.service_client,
                namespace=namespace,
                data_converter=self._client.data_converter,
            )
            self._clients[namespace] = found
        return found

    async def checked(self, callback: CallerIds) -> AsyncActivityHandle:
        """The caller's activity, checked (a pending CallAgent at the signed attempt), to be
        acted on by its ids, never by the token. Raises CallerGone or CallerRefused."""
        return await caller_activity(self.client(callback.namespace), callback)
