"""stigma-api's own Prometheus metrics: StartAgent, token rejections, pending agent calls.

The pending-call gauges are read from Temporal's visibility (the search attributes the
agent workflow keeps while a caller waits), not counted in memory: restarting this
process, or any worker, does not reset them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from agent_contract import AGENT_WORKFLOW, PENDING_CALLBACKS_ATTRIBUTE, PENDING_SINCE_ATTRIBUTE
from callback_token import TokenRejection
from service_kit import LATENCY_BUCKETS
from stigma.agent.v1 import agent_pb2
from stigma_api.auth import Refusal

logger = logging.getLogger(__name__)

START_AGENT_METHOD = (
    "/" + agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name + "/StartAgent"
)
PENDING_QUERY = (
    f"WorkflowType = '{AGENT_WORKFLOW}' AND ExecutionStatus = 'Running' "
    f"AND {PENDING_CALLBACKS_ATTRIBUTE} > 0"
)
PENDING_CALLBACKS = SearchAttributeKey.for_int(PENDING_CALLBACKS_ATTRIBUTE)
PENDING_SINCE = SearchAttributeKey.for_datetime(PENDING_SINCE_ATTRIBUTE)


@dataclass(frozen=True)
class PendingReading:
    count: int
    oldest_age_seconds: float
    read_at: float


class PendingCallsGauges(Collector):
    """The pending-call gauges, exported only once they have been read.

    A plain Gauge exports 0 from the start: a stigma-api that could never read visibility
    then said "nothing pending" with confidence, and its last-read timestamp of 0 made the
    staleness alert report an age of 56 years. Until the first successful read there is no
    sample, which the absence alert sees (PendingCallsGaugeAbsent); afterwards the last
    reading stays, and its timestamp ages (PendingCallsGaugeStale).
    """

    def __init__(self) -> None:
        self.reading: PendingReading | None = None

    def collect(self) -> Iterator[Metric]:
        reading = self.reading
        if reading is None:
            return
        yield GaugeMetricFamily(
            "stigma_pending_agent_calls",
            "Callers' activities waiting for an agent's callback past their first heartbeat "
            "(a third of the caller's heartbeat timeout; from Temporal visibility)",
            value=reading.count,
        )
        yield GaugeMetricFamily(
            "stigma_oldest_pending_agent_call_age_seconds",
            "Age of the longest-waiting caller's callback (0 when none waits)",
            value=reading.oldest_age_seconds,
        )
        yield GaugeMetricFamily(
            "stigma_pending_agent_calls_last_read_timestamp_seconds",
            "When the pending gauges were last read from Temporal successfully",
            value=reading.read_at,
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
        self.pending = PendingCallsGauges()
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


class PendingCallsReader:
    """Refreshes the pending-call gauges from Temporal visibility every ``interval``."""

    def __init__(self, client: Client, metrics: ApiMetrics, *, interval: timedelta) -> None:
        self._client = client
        self._metrics = metrics
        self._interval = interval.total_seconds()

    async def read_once(self) -> tuple[int, float]:
        count = 0
        oldest: datetime | None = None
        async for execution in self._client.list_workflows(PENDING_QUERY):
            attributes = execution.typed_search_attributes
            count += attributes.get(PENDING_CALLBACKS) or 0
            since = attributes.get(PENDING_SINCE)
            if since is not None:
                oldest = since if oldest is None else min(oldest, since)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        self._metrics.pending.reading = PendingReading(count, max(age, 0.0), time.time())
        return count, age

    async def run(self) -> None:
        while True:
            try:
                await self.read_once()
            except Exception as err:  # keep the last values; the staleness gauge tells
                logger.warning("reading pending agent calls from Temporal failed: %s", err)
            await asyncio.sleep(self._interval)
