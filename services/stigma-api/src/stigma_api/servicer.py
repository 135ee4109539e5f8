"""stigma.agent.v1.AgentService over grpc.aio."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import grpc
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from agent_contract import ToolDecision, caller_request_id
from callback_token import CallbackVerifier, TokenError, TokenRejection, VerifiedCallback
from service_kit import log_context
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from stigma_api.admission import AdmissionRefused
from stigma_api.auth import current_principal
from stigma_api.conversions import execution_to_proto
from stigma_api.executions import (
    DecisionRefused,
    ExecutionNotFound,
    Executions,
    Owner,
    RequestIdTaken,
    SpecMismatch,
    callback_ref,
)
from stigma_api.quotas import QuotaExceeded
from stigma_api.validation import (
    InvalidRequest,
    Limits,
    validate_decision,
    validate_execution_id,
    validate_start,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")


class AgentService(agent_pb2_grpc.AgentServiceServicer):
    def __init__(
        self,
        *,
        executions: Executions,
        verifier: CallbackVerifier,
        limits: Limits,
        watch_interval: timedelta,
        on_token_rejected: Callable[[TokenRejection], None] | None = None,
        on_unbound_token: Callable[[], None] | None = None,
    ) -> None:
        self._on_token_rejected = on_token_rejected
        self._on_unbound_token = on_unbound_token
        self._executions = executions
        self._verifier = verifier
        self._limits = limits
        self._watch_interval = watch_interval.total_seconds()

    async def StartAgent(
        self, request: agent_pb2.StartAgentRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.StartAgentResponse:
        try:
            spec = validate_start(request, self._limits)
            verified = self._verify(request) if request.callback_token else None
        except (InvalidRequest, TokenError) as err:
            if isinstance(err, TokenError):
                logger.warning("refused a callback token (%s): %s", err.reason, err)
                if self._on_token_rejected is not None:
                    self._on_token_rejected(err.reason)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
            raise  # unreachable: abort raises
        callback = callback_ref(verified) if verified else None
        fields = {"token_fp": verified.fingerprint} if verified else {}
        principal = current_principal()
        with log_context(request_id=request.request_id, principal=principal.name, **fields):
            try:
                accepted = await self._temporal(
                    context,
                    self._executions.start(
                        request_id=request.request_id,
                        spec=spec,
                        callback=callback,
                        principal=principal,
                    ),
                )
            except SpecMismatch as err:
                logger.warning("refused to attach a callback: %s", err)
                if self._on_token_rejected is not None:
                    self._on_token_rejected(TokenRejection.WRONG_SPEC)
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
                raise  # unreachable: abort raises
            logger.info(
                "accepted %s for %s (mode=%s, already_running=%s)",
                accepted.execution_id,
                principal.describe(),
                "callback" if callback else "fire-and-forget",
                accepted.already_running,
            )
        return agent_pb2.StartAgentResponse(
            execution_id=accepted.execution_id,
            accepted=True,
            already_running=accepted.already_running,
        )

    def _verify(self, request: agent_pb2.StartAgentRequest) -> VerifiedCallback:
        """The request's callback token, verified and bound to this very request.

        Beyond the envelope's own checks, the request id must be the one of the call the
        token names (docs/adr/0002): a token is never sent for another caller's call, so
        even a validly signed envelope cannot attach one caller's activity to another
        request (docs/adr/0013).
        """
        verified = self._verifier.verify(
            request.callback_token, request_id=request.request_id, spec=request.spec
        )
        target = verified.target
        own = caller_request_id(
            workflow_id=target.workflow_id, run_id=target.run_id, activity_id=target.activity_id
        )
        if request.request_id != own:
            raise TokenError(
                TokenRejection.WRONG_REQUEST,
                "callback_token names another call: request_id is not the request id "
                "(workflow_id/run_id/activity_id) of the activity the token names",
            )
        if not verified.bound:
            logger.warning(
                "accepted an unbound callback token %s (no request_id: signed by a "
                "zigflow-worker older than token binding; STIGMA_API_ACCEPT_UNBOUND_TOKENS)",
                verified.fingerprint,
            )
            if self._on_unbound_token is not None:
                self._on_unbound_token()
        return verified

    async def GetExecution(
        self, request: agent_pb2.GetExecutionRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.GetExecutionResponse:
        execution_id = await self._execution_id(request.execution_id, context)
        owner = await self._owned(execution_id, context)
        status = await self._temporal(context, self._executions.status(execution_id))
        partial = (
            ""
            if status.phase.terminal
            else await self._executions.partial_output(execution_id, description=owner.description)
        )
        return agent_pb2.GetExecutionResponse(
            execution=execution_to_proto(status, partial_output=partial)
        )

    async def WatchExecution(
        self, request: agent_pb2.WatchExecutionRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[agent_pb2.WatchExecutionResponse]:
        execution_id = await self._execution_id(request.execution_id, context)
        await self._owned(execution_id, context)  # a run's tenant never changes
        last: agent_pb2.Execution | None = None
        while True:
            status = await self._temporal(context, self._executions.status(execution_id))
            partial = (
                "" if status.phase.terminal else await self._executions.partial_output(execution_id)
            )
            current = execution_to_proto(status, partial_output=partial)
            if current != last:
                yield agent_pb2.WatchExecutionResponse(execution=current)
                last = current
            if status.phase.terminal:
                return
            await asyncio.sleep(self._watch_interval)

    async def CancelExecution(
        self, request: agent_pb2.CancelExecutionRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.CancelExecutionResponse:
        execution_id = await self._execution_id(request.execution_id, context)
        await self._owned(execution_id, context)
        status = await self._temporal(context, self._executions.cancel(execution_id))
        logger.info("cancel requested for %s: %s", execution_id, request.reason or "no reason")
        return agent_pb2.CancelExecutionResponse(execution=execution_to_proto(status))

    async def DecideToolCall(
        self, request: agent_pb2.DecideToolCallRequest, context: grpc.aio.ServicerContext
    ) -> agent_pb2.DecideToolCallResponse:
        execution_id = await self._execution_id(request.execution_id, context)
        await self._owned(execution_id, context)
        try:
            validate_decision(request)
        except InvalidRequest as err:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
        decision = ToolDecision(
            tool_call_id=request.tool_call_id, approve=request.approve, reason=request.reason
        )
        try:
            status = await self._temporal(context, self._executions.decide(execution_id, decision))
        except DecisionRefused as err:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(err))
            raise  # unreachable: abort raises
        logger.info(
            "tool call %s of %s %s",
            request.tool_call_id,
            execution_id,
            "approved" if request.approve else "rejected",
        )
        return agent_pb2.DecideToolCallResponse(execution=execution_to_proto(status))

    async def _execution_id(self, raw: str, context: grpc.aio.ServicerContext) -> str:
        try:
            return validate_execution_id(raw)
        except InvalidRequest as err:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
            raise  # unreachable: abort raises

    async def _owned(self, execution_id: str, context: grpc.aio.ServicerContext) -> Owner:
        """The run, if the caller may act on it: its tenant's principals and operators.

        Another tenant's run answers exactly like an unknown one (NOT_FOUND, same message):
        nobody learns that a run of another tenant exists (docs/adr/0014).
        """
        owner = await self._temporal(context, self._executions.owner(execution_id))
        principal = current_principal()
        if not principal.may_act_on(owner.tenant):
            logger.warning(
                "refused %s access to %s: a run of another tenant",
                principal.describe(),
                execution_id,
            )
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"execution_id: no execution {execution_id}"
            )
        return owner

    async def _temporal(self, context: grpc.aio.ServicerContext, call: Awaitable[T]) -> T:
        """Map Temporal's failures to the status codes the contract promises."""
        try:
            return await call
        except ExecutionNotFound as err:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"execution_id: no execution {err}")
        except (AdmissionRefused, QuotaExceeded) as err:
            logger.warning("admission refused: %s", err)
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(err))
        except RequestIdTaken as err:
            logger.warning("refused %s: %s", current_principal().describe(), err)
            await context.abort(grpc.StatusCode.ALREADY_EXISTS, str(err))
        except WorkflowQueryFailedError as err:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"execution state unreadable: {err}")
        except RPCError as err:
            code = (
                grpc.StatusCode.UNAVAILABLE
                if err.status
                in (
                    RPCStatusCode.UNAVAILABLE,
                    RPCStatusCode.DEADLINE_EXCEEDED,
                    RPCStatusCode.CANCELLED,
                )
                else grpc.StatusCode.INTERNAL
            )
            logger.error("Temporal call failed: %s %s", err.status.name, err.message)
            await context.abort(code, f"Temporal unavailable, retry later ({err.status.name})")
        raise AssertionError("unreachable: context.abort raises")
