"""The system activities that act on the caller's pending activity.

They act on it by the ids of the signed callback target, after checking that it is a
pending CallAgent activity at the signed attempt (stigma_orchestrator.callers,
docs/adr/0013): the task token the callback carries is never used, and never logged
(logs carry the envelope's fingerprint).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from temporalio import activity
from temporalio.activity import ActivityCancellationDetails
from temporalio.client import (
    AsyncActivityCancelledError,
    AsyncActivityHandle,
    Client,
    WorkflowQueryRejectedError,
)
from temporalio.common import QueryRejectCondition
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from agent_contract import (
    AGENT_CANCELLED_ERROR,
    AGENT_FAILED_ERROR,
    DELIVER_CALLBACK_ACTIVITY,
    KEEP_CALLER_ALIVE_ACTIVITY,
    MODEL_REQUEST_ACTIVITIES,
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
from stigma_orchestrator.callers import CallerGone, CallerRefused, Callers
from stigma_orchestrator.metrics import OrchestratorMetrics

logger = logging.getLogger(__name__)

# Temporal answers these when the caller's activity no longer exists (timed out, retried,
# finished) between the check and the act: retrying can never succeed.
_GONE = frozenset({RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT})


class _RunClosed(Exception):
    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


class _RunEnded(Exception):
    """The agent run has ended: its keep-alive has nothing left to do but be cancelled."""


# How a run closes once it has delivered to every caller (AgentExecutionWorkflow.run), or
# handed them over to the next run: any other close (terminated, timed out, failed) left
# its callers waiting.
_CLOSED_AFTER_DELIVERING = frozenset({"COMPLETED", "CONTINUED_AS_NEW"})


def _gone_from_temporal(details: ActivityCancellationDetails | None) -> bool:
    """Cancelled because the server no longer knows this attempt (its run closed, or it
    was superseded), not because it timed out here: the worker then reports nothing."""
    return details is not None and details.not_found and not details.timed_out


async def _until_cancelled(own_beat: float) -> NoReturn:
    """Heartbeat (ourselves only) until Temporal cancels this attempt. The run requested
    that as it ended; once it has closed, the next heartbeat is answered "not found"."""
    while True:
        activity.heartbeat()
        await asyncio.sleep(own_beat)


class CallbackActivities:
    """Keeps the caller's activity alive while the agent runs, and completes it at the end."""

    def __init__(self, client: Client, *, metrics: OrchestratorMetrics | None = None) -> None:
        self._client = client
        # The keep-alive's per-beat status query goes through a client without the tracing
        # interceptor: a QueryWorkflow and a HandleQuery span every beat of an hour-long
        # agent would drown the call's trace (docs/adr/0017).
        self._untraced = Client(
            client.service_client, namespace=client.namespace, data_converter=client.data_converter
        )
        self._metrics = metrics
        self._callers = Callers(client)

    async def _caller(self, callback: CallbackRef) -> AsyncActivityHandle:
        return await self._callers.checked(callback)

    @activity.defn(name=DELIVER_CALLBACK_ACTIVITY)
    async def deliver_callback(self, request: DeliveryRequest) -> DeliveryOutcome:
        """Complete, fail or cancel the caller's activity with the agent's outcome."""
        callback = request.callback
        with (
            log_context(execution_id=request.execution_id, token_fp=callback.fingerprint),
            trace.use_span(_delivery_span(request), end_on_exit=True),
        ):
            try:
                await _deliver(await self._caller(callback), request)
            except CallerRefused as err:
                self._count_delivery("refused")
                logger.warning("refused to deliver: %s", err)
                return DeliveryOutcome.REFUSED
            except CallerGone as err:
                self._count_delivery("stale")
                logger.warning("callback is stale: %s", err)
                return DeliveryOutcome.STALE
            except RPCError as err:
                if err.status in _GONE:
                    self._count_delivery("stale")
                    logger.warning(
                        "caller %s/%s attempt %d is gone (%s): callback is stale",
                        callback.workflow_id,
                        callback.activity_id,
                        callback.attempt,
                        err.status.name,
                    )
                    return DeliveryOutcome.STALE
                self._count_delivery("error")
                raise
            except Exception:
                self._count_delivery("error")
                raise
            self._count_delivery(_delivered_outcome(request), ended_at=request.ended_at)
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

        Once the run has ended this never completes by itself: the run cancels it as it
        ends (and closes right after), so its result would reach a closed workflow. It
        waits for Temporal's word instead, and an attempt Temporal no longer knows ends
        quietly: that is every run's normal end, not an error.
        """
        callback = request.callback
        with log_context(execution_id=request.execution_id, token_fp=callback.fingerprint):
            try:
                handle = await self._caller(callback)
            except CallerRefused as err:
                logger.warning("refused to keep alive: %s", err)
                return CallerVerdict.REFUSED
            except CallerGone as err:
                logger.info("stop keeping the caller alive: %s", err)
                self._count_delivery("stale")  # the run will not deliver to it either
                return CallerVerdict.STALE
            try:
                return await self._keep_alive(handle, request)
            except asyncio.CancelledError:
                if not _gone_from_temporal(activity.cancellation_details()):
                    raise  # asked to stop (reported as cancelled), or a real timeout
                logger.debug("keep-alive ended: Temporal no longer knows this attempt")
                return CallerVerdict.STALE  # discarded: Temporal said the attempt is gone

    async def _keep_alive(
        self, handle: AsyncActivityHandle, request: KeepAliveRequest
    ) -> CallerVerdict:
        interval = request.callback.beat_interval().total_seconds()
        # Our own heartbeat timeout may be much shorter than the caller's: beat often
        # enough for both, so a killed orchestrator is noticed fast and this loop resumes.
        own_timeout = activity.info().heartbeat_timeout
        own_beat = own_timeout.total_seconds() / 3 if own_timeout else interval
        loop = asyncio.get_running_loop()
        next_caller_beat = loop.time()
        while True:
            if loop.time() >= next_caller_beat:
                try:
                    verdict = await self._beat_caller(handle, request)
                except _RunEnded:
                    return await _until_cancelled(own_beat)
                if verdict is not None:
                    return verdict
                next_caller_beat = loop.time() + interval * random.uniform(0.85, 1.0)
            activity.heartbeat()
            await asyncio.sleep(max(0.0, min(next_caller_beat - loop.time(), own_beat)))

    async def _beat_caller(
        self, handle: AsyncActivityHandle, request: KeepAliveRequest
    ) -> CallerVerdict | None:
        """One heartbeat to the caller; a verdict when the loop must end.

        Raises _RunEnded when the run has ended: it delivers to the caller itself.
        """
        callback = request.callback
        try:
            details = await self._progress(request.execution_id)
        except _RunClosed as closed:
            if closed.how not in _CLOSED_AFTER_DELIVERING:
                # Terminated (or timed out) in Temporal: nobody will deliver an outcome, so
                # tell the caller now instead of keeping it alive for nothing.
                await self._fail_orphaned(handle, request, closed.how)
            # A run that completed delivered to its callers before it closed; one that
            # continued as new handed them over to its successor, which keeps them alive.
            raise _RunEnded from None
        try:
            await handle.heartbeat(details)
            self._count_heartbeat("ok")
        except AsyncActivityCancelledError as err:
            self._count_heartbeat("cancel_requested")
            if err.details is None or err.details.cancel_requested:
                logger.info("caller %s asked to cancel", callback.workflow_id)
                return CallerVerdict.CANCEL_REQUESTED
        except RPCError as err:
            self._count_heartbeat("gone" if err.status in _GONE else "error")
            if err.status not in _GONE:
                logger.warning("heartbeat to caller failed (%s); will retry", err.status)
                return None
            if Phase(details["phase"]).terminal:
                # The run has ended and delivered (which is why the caller is gone): it
                # counts that delivery itself, and is about to close.
                raise _RunEnded from None
            # Found gone while the agent runs: the run will not deliver to it, so this
            # is where it counts.
            logger.info("caller attempt %d is gone: stop keeping it alive", callback.attempt)
            self._count_delivery("stale")
            return CallerVerdict.STALE
        return None

    def _count_delivery(self, outcome: str, *, ended_at: str = "") -> None:
        if self._metrics is None:
            return
        self._metrics.deliveries.labels(outcome).inc()
        if ended_at:
            waited = datetime.now(UTC) - datetime.fromisoformat(ended_at)
            self._metrics.delivery_latency.observe(max(waited.total_seconds(), 0.0))

    def _count_heartbeat(self, result: str) -> None:
        if self._metrics is not None:
            self._metrics.heartbeats.labels(result).inc()

    async def _fail_orphaned(
        self, handle: AsyncActivityHandle, request: KeepAliveRequest, how: str
    ) -> None:
        try:
            if await fail_orphaned(handle, request.execution_id, how):
                self._count_delivery("failed")
        except RPCError:
            self._count_delivery("error")
            raise

    async def _progress(self, execution_id: str) -> dict[str, Any]:
        """What the caller sees as heartbeat details: phase, step count, execution id.

        Raises _RunClosed when the run is no longer open.
        """
        details: dict[str, Any] = {"execution_id": execution_id, "phase": Phase.RUNNING.value}
        workflow_id = activity.info().workflow_id or execution_id
        try:
            status = await self._untraced.get_workflow_handle(workflow_id).query(
                STATUS_QUERY,
                result_type=ExecutionStatus,
                reject_condition=QueryRejectCondition.NOT_OPEN,
                rpc_timeout=timedelta(seconds=5),
            )
        except WorkflowQueryRejectedError as err:
            raise _RunClosed(err.status.name if err.status is not None else "CLOSED") from None
        except Exception as err:  # progress is best effort; the heartbeat itself is not
            logger.debug("progress query failed: %s", err)
            return details
        details.update(
            phase=status.phase.value,
            steps=status.usage.steps,
            tool_calls=status.usage.tool_calls,
            waiting_for_approval=len(status.pending_approvals),
        )
        details.update(await running_step(self._untraced, workflow_id))
        return details


async def running_step(client: Client, workflow_id: str) -> dict[str, Any]:
    """The agent's step in flight, as its activity's last heartbeat tells it: the partial
    output of a streaming model call ({} when no step runs or it cannot be read)."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe(
            rpc_timeout=timedelta(seconds=5)
        )
    except Exception as err:  # best effort, like the progress query
        logger.debug("describe failed: %s", err)
        return {}
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name in MODEL_REQUEST_ACTIVITIES:
            details = pending.heartbeat_details.payloads
            if not details:
                return {"running": pending.activity_type.name}
            try:
                progress = client.data_converter.payload_converter.from_payload(details[0])
            except Exception:
                return {"running": pending.activity_type.name}
            if isinstance(progress, dict):
                return {"partial_output": str(progress.get("partial_output", ""))}
    return {}


def _delivered_outcome(request: DeliveryRequest) -> str:
    if request.phase is Phase.COMPLETED and request.result is not None:
        return "completed"
    if request.phase is Phase.FAILED:
        return "failed"
    return "cancelled"


def _delivery_span(request: DeliveryRequest) -> trace.Span:
    """The ``DeliverCallback`` span, linked to the caller's span through the token's
    ``traceparent``: the completion RPC carries no headers, so this link is the only
    thread from the caller's activity to the moment it was completed."""
    links = []
    if request.callback.traceparent:
        carrier = {"traceparent": request.callback.traceparent}
        caller = trace.get_current_span(TraceContextTextMapPropagator().extract(carrier))
        if caller.get_span_context().is_valid:
            links.append(trace.Link(caller.get_span_context(), {"link.kind": "caller"}))
    return trace.get_tracer(__name__).start_span(
        "DeliverCallback",
        links=links,
        attributes={
            "stigma.execution_id": request.execution_id,
            "stigma.phase": request.phase.value,
            "stigma.token_fp": request.callback.fingerprint,
            "temporal.caller.workflow_id": request.callback.workflow_id,
            "temporal.caller.activity_id": request.callback.activity_id,
            "temporal.caller.attempt": request.callback.attempt,
        },
    )


async def _deliver(handle: AsyncActivityHandle, request: DeliveryRequest) -> None:
    if request.phase is Phase.COMPLETED and request.result is not None:
        await handle.complete(asdict(request.result))
    elif request.phase is Phase.FAILED:
        await handle.fail(
            ApplicationError(
                f"agent {request.execution_id} failed: {request.error}",
                {
                    "execution_id": request.execution_id,
                    "error": request.error,
                    "error_type": request.error_type or AGENT_FAILED_ERROR,
                },
                type=request.error_type or AGENT_FAILED_ERROR,
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


async def fail_orphaned(handle: AsyncActivityHandle, execution_id: str, how: str) -> bool:
    """Fail a caller whose run Temporal closed without its code delivering (terminated,
    timed out): nobody else will. False when the caller was already answered (a normal
    end delivers before the run closes); another RPC failure propagates."""
    message = f"agent execution {execution_id} was closed by Temporal ({how})"
    logger.warning("%s: failing its caller", message)
    try:
        await handle.fail(
            ApplicationError(
                message,
                {"execution_id": execution_id, "error": message},
                type=AGENT_FAILED_ERROR,
                non_retryable=True,
            )
        )
    except RPCError as err:
        if err.status not in _GONE:
            raise
        return False
    return True
