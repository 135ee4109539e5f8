"""The system activities that act on the caller's pending activity.

They hold the capability (the caller's task token) only for the length of one
RPC and never log it: logs carry the token's fingerprint.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import AsyncActivityCancelledError, AsyncActivityHandle, Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from agent_contract import (
    AGENT_CANCELLED_ERROR,
    AGENT_FAILED_ERROR,
    DELIVER_CALLBACK_ACTIVITY,
    KEEP_CALLER_ALIVE_ACTIVITY,
    STATUS_QUERY,
    CallbackRef,
    CallerVerdict,
    DeliveryOutcome,
    DeliveryRequest,
    ExecutionStatus,
    KeepAliveRequest,
    Phase,
)
from service_kit import log_context

logger = logging.getLogger(__name__)

# Temporal answers these when the caller's attempt no longer exists (timed out, retried,
# finished, or the token belongs elsewhere): retrying can never succeed.
_GONE = frozenset({RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT})
DEFAULT_CALLER_HEARTBEAT = timedelta(seconds=60)


def keepalive_interval(callback: CallbackRef) -> timedelta:
    """A third of the caller's heartbeat timeout: two beats may be lost before it expires."""
    timeout_ms = callback.heartbeat_timeout_ms or DEFAULT_CALLER_HEARTBEAT / timedelta(
        milliseconds=1
    )
    return timedelta(milliseconds=timeout_ms / 3)


class CallbackActivities:
    """Keeps the caller's activity alive while the agent runs, and completes it at the end."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._clients: dict[str, Client] = {client.namespace: client}

    def _handle(self, callback: CallbackRef) -> AsyncActivityHandle:
        client = self._clients.get(callback.namespace)
        if client is None:
            client = Client(
                self._client.service_client,
                namespace=callback.namespace,
                data_converter=self._client.data_converter,
            )
            self._clients[callback.namespace] = client
        return client.get_async_activity_handle(
            task_token=base64.b64decode(callback.task_token_b64)
        )

    @activity.defn(name=DELIVER_CALLBACK_ACTIVITY)
    async def deliver_callback(self, request: DeliveryRequest) -> DeliveryOutcome:
        """Complete, fail or cancel the caller's activity with the agent's outcome."""
        callback = request.callback
        with log_context(execution_id=request.execution_id, token_fp=callback.fingerprint):
            handle = self._handle(callback)
            try:
                await _deliver(handle, request)
            except RPCError as err:
                if err.status in _GONE:
                    logger.warning(
                        "caller %s/%s attempt %d is gone (%s): callback is stale",
                        callback.workflow_id,
                        callback.activity_id,
                        callback.attempt,
                        err.status.name,
                    )
                    return DeliveryOutcome.STALE
                raise
            logger.info(
                "delivered %s to caller %s/%s",
                request.phase,
                callback.workflow_id,
                callback.activity_id,
            )
            return DeliveryOutcome.DELIVERED

    @activity.defn(name=KEEP_CALLER_ALIVE_ACTIVITY)
    async def keep_caller_alive(self, request: KeepAliveRequest) -> CallerVerdict:
        """Heartbeat the caller's activity until it is cancelled, gone, or this is cancelled.

        Cancellation of the caller's workflow reaches us only through the heartbeat
        reply, so this loop is also how a cancellation travels to the agent.
        """
        callback = request.callback
        interval = keepalive_interval(callback).total_seconds()
        handle = self._handle(callback)
        with log_context(execution_id=request.execution_id, token_fp=callback.fingerprint):
            while True:
                details = await self._progress(request.execution_id)
                try:
                    await handle.heartbeat(details)
                except AsyncActivityCancelledError as err:
                    if err.details is None or err.details.cancel_requested:
                        logger.info("caller %s asked to cancel", callback.workflow_id)
                        return CallerVerdict.CANCEL_REQUESTED
                except RPCError as err:
                    if err.status in _GONE:
                        logger.info(
                            "caller attempt %d is gone: stop keeping it alive", callback.attempt
                        )
                        return CallerVerdict.STALE
                    logger.warning("heartbeat to caller failed (%s); will retry", err.status)
                activity.heartbeat()
                await asyncio.sleep(interval * random.uniform(0.85, 1.0))

    async def _progress(self, execution_id: str) -> dict[str, Any]:
        """What the caller sees as heartbeat details: phase, step count, execution id."""
        details: dict[str, Any] = {"execution_id": execution_id, "phase": Phase.RUNNING.value}
        workflow_id = activity.info().workflow_id or execution_id
        try:
            status = await self._client.get_workflow_handle(workflow_id).query(
                STATUS_QUERY, result_type=ExecutionStatus, rpc_timeout=timedelta(seconds=5)
            )
        except Exception as err:  # progress is best effort; the heartbeat itself is not
            logger.debug("progress query failed: %s", err)
            return details
        details.update(phase=status.phase.value, steps=len(status.steps))
        return details


async def _deliver(handle: AsyncActivityHandle, request: DeliveryRequest) -> None:
    if request.phase is Phase.COMPLETED and request.result is not None:
        await handle.complete(asdict(request.result))
    elif request.phase is Phase.FAILED:
        await handle.fail(
            ApplicationError(
                f"agent {request.execution_id} failed: {request.error}",
                {"execution_id": request.execution_id, "error": request.error},
                type=AGENT_FAILED_ERROR,
                non_retryable=True,
            )
        )
    elif request.phase is Phase.CANCELLED and request.caller_cancelled:
        await handle.report_cancellation({"execution_id": request.execution_id})
    else:
        # Cancelled from Stigma's side: the caller did not ask, so it gets a failure it
        # can catch rather than a cancellation it did not request.
        await handle.fail(
            ApplicationError(
                f"agent {request.execution_id} was cancelled: {request.error}",
                {"execution_id": request.execution_id, "error": request.error},
                type=AGENT_CANCELLED_ERROR,
                non_retryable=True,
            )
        )
