"""The CallAgent activity: the Zigflow half of the token handshake.

It signs its own task token into a callback envelope bound to this call (its request id
and the digest of its spec), hands it to stigma-api with StartAgent and goes pending with
``raise_complete_async()``: no slot, thread or memory is held while the agent runs.
Stigma completes, fails or cancels this activity when the agent ends.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import NoReturn

import grpc
from opentelemetry import propagate
from prometheus_client import Counter
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agent_contract import (
    AGENT_REJECTED_ERROR,
    CALL_AGENT_ACTIVITY,
    STIGMA_BUSY_ERROR,
    STIGMA_UNAVAILABLE_ERROR,
    AgentSpecData,
    caller_request_id,
)
from callback_token import CallbackSigner, fingerprint
from service_kit import log_context
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from stigma_wire import spec_to_proto

logger = logging.getLogger(__name__)

DEFAULT_VALIDITY = timedelta(hours=24)
# Refusals that no retry can fix; anything else (UNAVAILABLE, DEADLINE_EXCEEDED, ...) is retried.
_FINAL_CODES = frozenset(
    {
        # The request id is held by another tenant's run (docs/adr/0014).
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)


def _error_type(code: grpc.StatusCode) -> str:
    """The ApplicationError type a DSL ``catch`` can match: refused, busy or unreachable."""
    if code in _FINAL_CODES:
        return AGENT_REJECTED_ERROR
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return STIGMA_BUSY_ERROR  # the admission limit: retried with backoff
    return STIGMA_UNAVAILABLE_ERROR


@dataclass
class AgentCall:
    """What a ``call: agent`` task asks for, after its expressions were evaluated."""

    spec: AgentSpecData


def request_id_for(info: activity.Info) -> str:
    """Stable across attempts of one call, distinct across calls and across runs."""
    return caller_request_id(
        workflow_id=info.workflow_id or "",
        run_id=info.workflow_run_id or "",
        activity_id=info.activity_id,
    )


class AgentCallActivities:
    def __init__(
        self,
        *,
        stub: agent_pb2_grpc.AgentServiceStub,
        signer: CallbackSigner,
        rpc_timeout: timedelta,
        calls: Counter | None = None,
    ) -> None:
        self._calls = calls
        self._stub = stub
        self._signer = signer
        self._rpc_timeout = rpc_timeout.total_seconds()

    @activity.defn(name=CALL_AGENT_ACTIVITY)
    async def call_agent(self, call: AgentCall) -> NoReturn:
        info = activity.info()
        if not (info.workflow_namespace and info.workflow_id and info.workflow_run_id):
            raise ApplicationError(
                "CallAgent runs only inside a workflow (it completes the workflow's activity)",
                type=AGENT_REJECTED_ERROR,
                non_retryable=True,
            )
        request_id = request_id_for(info)
        spec = spec_to_proto(call.spec)
        token = self._signer.sign(
            namespace=info.workflow_namespace,
            workflow_id=info.workflow_id,
            run_id=info.workflow_run_id,
            activity_id=info.activity_id,
            attempt=info.attempt,
            task_token=info.task_token,
            request_id=request_id,
            spec=spec,
            valid_for=info.start_to_close_timeout or DEFAULT_VALIDITY,
            heartbeat_timeout=info.heartbeat_timeout,
            traceparent=_current_traceparent(),
        )
        request = agent_pb2.StartAgentRequest(
            request_id=request_id, spec=spec, callback_token=token
        )
        with log_context(token_fp=fingerprint(token)):
            try:
                response = await self._stub.StartAgent(request, timeout=self._rpc_timeout)
            except grpc.aio.AioRpcError as err:
                self._count(err.code().name)
                final = err.code() in _FINAL_CODES
                logger.warning("StartAgent failed (%s): %s", err.code().name, err.details())
                raise ApplicationError(
                    f"stigma-api refused the agent call: {err.code().name}: {err.details()}",
                    type=_error_type(err.code()),
                    non_retryable=final,
                ) from None
            logger.info(
                "agent %s accepted (attempt %d, already_running=%s); activity now pending",
                response.execution_id,
                info.attempt,
                response.already_running,
            )
        self._count("OK")
        activity.raise_complete_async()

    def _count(self, code: str) -> None:
        if self._calls is not None:
            self._calls.labels(code).inc()


def _current_traceparent() -> str:
    """The W3C traceparent of the running activity's span ('' without tracing): it rides
    in the callback token so Stigma's DeliverCallback span links back to this call."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent", "")
