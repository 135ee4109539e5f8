"""Stigma's side of Temporal: start, re-attach, read and cancel agent executions."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import (
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from agent_contract import (
    AGENT_WORKFLOW,
    AGENT_WORKFLOW_REVISION,
    ATTACH_CALLBACK_SIGNAL,
    DECIDE_TOOL_CALL_UPDATE,
    MODEL_REQUEST_ACTIVITIES,
    ORCHESTRATOR_TASK_QUEUE,
    REDELIVER_WORKFLOW,
    STATUS_QUERY,
    AgentRunInput,
    AgentSpecData,
    CallbackRef,
    DeliveryRequest,
    ExecutionStatus,
    Phase,
    ToolDecision,
    agent_workflow_id,
    execution_id_for,
)
from callback_token import VerifiedCallback
from stigma_api.admission import Admission, AdmissionRefused
from stigma_api.auth import Principal
from stigma_api.quotas import QuotaExceeded, TenantQuotas
from stigma_api.start_attributes import start_attributes
from stigma_api.tenants import TENANT

logger = logging.getLogger(__name__)

QUERY_TIMEOUT = timedelta(seconds=10)


class ExecutionNotFound(LookupError):
    """No agent execution has that id."""


class DecisionRefused(ValueError):
    """The run refused a tool-call decision (nothing waits with that id); says why."""


class RequestIdTaken(LookupError):
    """The request_id names a run of another tenant: neither a replay nor a new run."""


@dataclass(frozen=True)
class Owner:
    """Whose run an execution is, and Temporal's description of it."""

    tenant: str
    """The StigmaTenant of the run ("" for runs started before tenants)."""
    description: WorkflowExecutionDescription


class SpecMismatch(ValueError):
    """A callback was sent for a request id whose run was started with another spec: it
    must not receive that run's outcome (docs/adr/0013)."""


@dataclass(frozen=True)
class Accepted:
    execution_id: str
    already_running: bool


def callback_ref(verified: VerifiedCallback) -> CallbackRef:
    target = verified.target
    return CallbackRef(
        namespace=target.namespace,
        workflow_id=target.workflow_id,
        run_id=target.run_id,
        activity_id=target.activity_id,
        attempt=target.attempt,
        task_token_b64=base64.b64encode(target.task_token).decode(),
        fingerprint=verified.fingerprint,
        expires_at=verified.expires_at.isoformat(),
        traceparent=target.traceparent,
        heartbeat_timeout_ms=target.heartbeat_timeout_ms,
    )


class Executions:
    """Agent executions as Temporal workflows, one per request_id."""

    def __init__(
        self, client: Client, *, admission: Admission, quotas: TenantQuotas | None = None
    ) -> None:
        self._client = client
        self._admission = admission
        self._quotas = quotas

    def _handle(self, execution_id: str) -> WorkflowHandle[object, ExecutionStatus]:
        return self._client.get_workflow_handle(agent_workflow_id(execution_id))

    async def start(
        self,
        *,
        request_id: str,
        spec: AgentSpecData,
        callback: CallbackRef | None,
        principal: Principal,
    ) -> Accepted:
        """Start the run with its callback in one atomic step, or attach to the existing run.

        The callback rides in the start input, so there is no window in which a run
        exists without it; a request_id seen before re-attaches (signal) instead. The run
        belongs to the principal's tenant; a request_id of another tenant's run raises
        RequestIdTaken (an operator may replay any).
        """
        execution_id = execution_id_for(request_id)
        tenant = principal.tenant
        try:
            if self._quotas is not None:
                await self._quotas.check(tenant)
            await self._admission.check()
        except (AdmissionRefused, QuotaExceeded):
            # A replay of a known request is never refused: its caller is already counted.
            owner = await self._owner_or_none(execution_id)
            if owner is None:
                raise
            self._check_replay(principal, owner, request_id)
        try:
            accepted_at = datetime.now(UTC)
            search_attributes, memo = start_attributes(
                tenant=tenant, execution_id=execution_id, callback=callback, accepted_at=accepted_at
            )
            await self._client.start_workflow(
                AGENT_WORKFLOW,
                AgentRunInput(
                    execution_id=execution_id,
                    request_id=request_id,
                    spec=spec,
                    accepted_at=accepted_at.isoformat(),
                    callback=callback,
                    revision=AGENT_WORKFLOW_REVISION,
                    tenant=tenant,
                ),
                id=agent_workflow_id(execution_id),
                task_queue=ORCHESTRATOR_TASK_QUEUE,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                search_attributes=search_attributes,
                memo=memo,
            )
        except WorkflowAlreadyStartedError:
            self._check_replay(principal, await self.owner(execution_id), request_id)
            if callback is not None:
                await self._check_same_spec(execution_id, spec)
                await self._reattach(execution_id, callback)
            return Accepted(execution_id=execution_id, already_running=True)
        self._admission.admitted()
        if self._quotas is not None:
            self._quotas.admitted(tenant)
        return Accepted(execution_id=execution_id, already_running=False)

    @staticmethod
    def _check_replay(principal: Principal, owner: Owner, request_id: str) -> None:
        if not principal.may_act_on(owner.tenant):
            raise RequestIdTaken(
                f"request_id: {request_id!r} is taken by another tenant's run; "
                "choose another request_id"
            )

    async def owner(self, execution_id: str) -> Owner:
        """The run's tenant (one DescribeWorkflowExecution); ExecutionNotFound if none."""
        owner = await self._owner_or_none(execution_id)
        if owner is None:
            raise ExecutionNotFound(execution_id)
        return owner

    async def _owner_or_none(self, execution_id: str) -> Owner | None:
        try:
            description = await self._handle(execution_id).describe(rpc_timeout=QUERY_TIMEOUT)
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return None
            raise
        tenant = description.typed_search_attributes.get(TENANT) or ""
        return Owner(tenant=tenant, description=description)

    async def _check_same_spec(self, execution_id: str, spec: AgentSpecData) -> None:
        """Refuse to attach a callback to a run started with another spec.

        The token is bound to this request's spec, but the run under this request id may
        have been started first by someone else (fire-and-forget with a request id guessed
        from the caller's ids): its outcome is not what the caller asked for. One history
        read, on re-attaches only (a retried attempt, a replay); the run's start input holds
        its spec, a continued run's too.
        """
        started = self._handle(execution_id).fetch_history_events(page_size=1)
        async for event in started:
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            (run,) = await self._client.data_converter.decode(payloads, [AgentRunInput])
            if isinstance(run, AgentRunInput) and run.spec == spec:
                return
            break
        raise SpecMismatch(
            f"callback_token: execution {execution_id} runs another spec than this request's "
            "(the request id was first used with a different spec); not attached"
        )

    async def _reattach(self, execution_id: str, callback: CallbackRef) -> None:
        handle = self._handle(execution_id)
        try:
            await handle.signal(ATTACH_CALLBACK_SIGNAL, callback)
            logger.info("re-attached a callback to running %s", execution_id)
            return
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
        # The run has closed: hand its stored outcome to this attempt at once.
        status = await self.status(execution_id)
        phase, error = status.phase, status.error or f"execution ended {status.phase.value}"
        if not phase.terminal:
            # Closed without an outcome of its own: terminated or timed out in Temporal.
            closed = await handle.describe()
            closed_as = closed.status.name if closed.status is not None else "UNKNOWN"
            phase = Phase.FAILED
            error = f"agent execution {execution_id} was closed by Temporal ({closed_as})"
        await self._client.start_workflow(
            REDELIVER_WORKFLOW,
            DeliveryRequest(
                callback=callback,
                execution_id=execution_id,
                phase=phase,
                result=status.to_result() if phase is Phase.COMPLETED else None,
                error=error,
            ),
            id=f"{execution_id}/redeliver/{callback.fingerprint}",
            task_queue=ORCHESTRATOR_TASK_QUEUE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        logger.info("run %s had ended %s: redelivering its outcome", execution_id, status.phase)

    async def status(self, execution_id: str) -> ExecutionStatus:
        try:
            status: ExecutionStatus = await self._handle(execution_id).query(
                STATUS_QUERY, result_type=ExecutionStatus, rpc_timeout=QUERY_TIMEOUT
            )
            return status
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                raise ExecutionNotFound(execution_id) from None
            raise

    async def cancel(self, execution_id: str) -> ExecutionStatus:
        status = await self.status(execution_id)
        if not status.phase.terminal:
            await self._handle(execution_id).cancel()
        return status

    async def partial_output(
        self, execution_id: str, *, description: WorkflowExecutionDescription | None = None
    ) -> str:
        """What the model call in flight streamed so far: its activity's last heartbeat.

        Read from Temporal's description of the run (no history event per token; pass one
        just read to save the RPC); "" when no model call runs or it cannot be read.
        """
        if description is None:
            try:
                description = await self._handle(execution_id).describe(rpc_timeout=QUERY_TIMEOUT)
            except RPCError:
                return ""
        converter = self._client.data_converter.payload_converter
        for pending in description.raw_description.pending_activities:
            if pending.activity_type.name not in MODEL_REQUEST_ACTIVITIES:
                continue
            payloads = pending.heartbeat_details.payloads
            if not payloads:
                return ""
            try:
                details = converter.from_payload(payloads[0])
            except Exception:  # a heartbeat of another shape: nothing to show
                return ""
            if isinstance(details, dict):
                return str(details.get("partial_output", ""))
        return ""

    async def decide(self, execution_id: str, decision: ToolDecision) -> ExecutionStatus:
        """Hand an operator's decision to the run (a workflow Update: validated, then kept)."""
        try:
            status: ExecutionStatus = await self._handle(execution_id).execute_update(
                DECIDE_TOOL_CALL_UPDATE,
                decision,
                result_type=ExecutionStatus,
                rpc_timeout=QUERY_TIMEOUT,
            )
            return status
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise DecisionRefused(message) from None
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                # Unknown, or closed: a closed run has nothing waiting either.
                status = await self.status(execution_id)
                raise DecisionRefused(
                    f"execution_id: execution is {status.phase.value}; nothing waits for approval"
                ) from None
            raise
