"""stigma-api's own Prometheus metrics: StartAgent, token rejections, pending agent calls.

The pending-call gauges are read from Temporal's visibility (the search attributes the
agent workflow keeps while a caller waits), not counted in memory: restarting this
process, or any worker, does not reset them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram
from temporalio.client import Client

from agent_contract import (
    PENDING_CALLBACKS_ATTRIBUTE,
    PENDING_CALLBACKS_QUERY,
    PENDING_SINCE_ATTRIBUTE,
)
from callback_token import TokenRejection
from service_kit import LATENCY_BUCKETS, PendingGaugeNames, PendingGauges, PendingReader
from stigma.agent.v1 import agent_pb2
from stigma_api.auth import Refusal

logger = logging.getLogger(__name__)

START_AGENT_METHOD = (
    "/" + agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name + "/StartAgent"
)

PENDING_GAUGES = PendingGaugeNames(
    count="stigma_pending_agent_calls",
    count_help="Callbacks Stigma holds past their caller's first heartbeat (a third of the "
    "caller's heartbeat timeout; from Temporal visibility)",
    oldest_age="stigma_oldest_pending_agent_call_age_seconds",
    oldest_age_help="Age of the longest-held callback (0 when none waits)",
    last_read="stigma_pending_agent_calls_last_read_timestamp_seconds",
    last_read_help="When the pending gauges were last read from Temporal successfully",
)


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.start_agent = Counter(
            "stigma_start_agent_requests",
            "StartAgent requests by mode (callback or fire_and_forget) and gRPC status code",
            ["mode", "code"],
            registry=registry,
        )
        self.start_agent_latency = Histogram(
            "stigma_start_agent_duration_seconds",
            "StartAgent handling time, by mode",
            ["mode"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.token_rejections = Counter(
            "stigma_token_rejections",
            "Callback tokens refused, by reason",
            ["reason"],
            registry=registry,
        )
        self.unbound_accepted = Counter(
            "stigma_unbound_tokens_accepted",
            "Callback tokens without a request binding accepted under "
            "STIGMA_API_ACCEPT_UNBOUND_TOKENS (a rolling deploy; docs/adr/0013)",
            registry=registry,
        )
        self.pending = PendingGauges(PENDING_GAUGES)
        registry.register(self.pending)
        for reason in TokenRejection:
            self.token_rejections.labels(reason.value)
        for mode in ("callback", "fire_and_forget"):
            self.start_agent.labels(mode, "OK")
            self.start_agent_latency.labels(mode)
        self.auth_refusals = Counter(
            "stigma_auth_refusals",
            "Calls answered UNAUTHENTICATED, by reason (missing, ambiguous, not_accepted, "
            "api_key, jwt, certificate)",
            ["reason"],
            registry=registry,
        )
        for refusal in Refusal:
            self.auth_refusals.labels(refusal.value)

    def rejected(self, reason: TokenRejection) -> None:
        self.token_rejections.labels(reason.value).inc()

    def auth_refused(self, reason: Refusal) -> None:
        self.auth_refusals.labels(reason.value).inc()


class StartAgentMetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Counts StartAgent by mode and final status code, and times it."""

    def __init__(self, metrics: ApiMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if details.method != START_AGENT_METHOD or handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        metrics = self._metrics

        async def observed(request: agent_pb2.StartAgentRequest, context: Any) -> Any:
            mode = "callback" if request.callback_token else "fire_and_forget"
            started = time.perf_counter()
            code = "OK"
            try:
                return await inner(request, context)
            except BaseException:
                status = context.code()
                code = status.name if isinstance(status, grpc.StatusCode) else "UNKNOWN"
                raise
            finally:
                metrics.start_agent.labels(mode, code).inc()
                metrics.start_agent_latency.labels(mode).observe(time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def pending_calls_reader(
    client: Client, metrics: ApiMetrics, *, interval: timedelta
) -> PendingReader:
    """Refreshes the pending-call gauges from the agent runs' search attributes."""
    return PendingReader(
        client,
        metrics.pending,
        query=PENDING_CALLBACKS_QUERY,
        count_attribute=PENDING_CALLBACKS_ATTRIBUTE,
        since_attribute=PENDING_SINCE_ATTRIBUTE,
        interval=interval,
    )
