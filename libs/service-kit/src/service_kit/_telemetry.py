from __future__ import annotations

import logging
import os
from types import TracebackType
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CollectorRegistry
from temporalio.client import Interceptor
from temporalio.runtime import Runtime

from service_kit._metrics import Metrics
from service_kit._tracing import PinnedIdGenerator, RootedTracingInterceptor

logger = logging.getLogger(__name__)

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


class Telemetry:
    """Tracing and metrics for one process.

    Traces: OTLP export when the standard OTEL_* variables ask for it. Metrics: a
    Prometheus endpoint on ``metrics_port`` (0 = off) serving the service's own
    metrics (register them on ``registry``) and the Temporal SDK's (connect with
    ``runtime``). Use as an async context manager; leaving it flushes pending spans,
    which is why it wraps the whole life of the service.
    """

    def __init__(self, *, service: str, metrics_port: int = 0, metrics_host: str = "127.0.0.1"):
        self.service = service
        self._provider: TracerProvider | None = None
        self.metrics = Metrics(service=service, port=metrics_port, host=metrics_host)

    @property
    def registry(self) -> CollectorRegistry:
        """The prometheus_client CollectorRegistry of this process."""
        return self.metrics.registry

    @property
    def runtime(self) -> Runtime:
        """The Temporal Runtime whose SDK metrics this endpoint serves."""
        return self.metrics.runtime

    def grpc_server_interceptors(self) -> list[Any]:
        """OpenTelemetry's grpc.aio server interceptor (spans continue the caller's trace).

        Health checks are left out: they are probes, not work (one span per probe would
        drown the traces), and the interceptor breaks the streaming Health/Watch, which
        grpcio-health-checking writes through the context instead of yielding: every
        client balancing over replicas with health checks (the zigflow-worker's channel)
        saw each stigma-api as unhealthy."""
        from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

        no_probes = filters.negate(filters.health_check())
        return [aio_server_interceptor(filter_=no_probes)]  # type: ignore[no-untyped-call]

    def grpc_client_interceptors(self) -> list[Any]:
        """OpenTelemetry's grpc.aio client interceptors (they send ``traceparent``)."""
        from opentelemetry.instrumentation.grpc import aio_client_interceptors

        return list(aio_client_interceptors())  # type: ignore[no-untyped-call]

    @property
    def enabled(self) -> bool:
        return self._provider is not None

    @property
    def tracer_provider(self) -> TracerProvider | None:
        """The provider spans are exported through; None when tracing is off."""
        return self._provider

    def temporal_interceptors(self) -> list[Interceptor]:
        """Temporal's tracing interceptor (client and worker) when spans are exported.

        Without an exporter there is none: the interceptor would still wrap every workflow
        in extra coroutines and contexts, which a cached workflow keeps for its lifetime
        (docs/performance.md). A workflow started without a trace context (from the CLI,
        the UI, a schedule) gets a root span of its own, derived from its run id, so a
        Zigflow run is the root of one trace holding all its calls (docs/adr/0017).
        """
        if self._provider is None:
            return []
        return [
            RootedTracingInterceptor(self._provider.get_tracer("temporalio.contrib.opentelemetry"))
        ]

    async def __aenter__(self) -> Telemetry:
        if (
            any(os.environ.get(name) for name in _ENDPOINT_VARS)
            and os.environ.get("OTEL_SDK_DISABLED", "false").lower() != "true"
        ):
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            resource = Resource.create({SERVICE_NAME: self.service})
            provider = TracerProvider(resource=resource, id_generator=PinnedIdGenerator())
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            trace.set_tracer_provider(provider)
            self._provider = provider
            logger.info("tracing enabled: exporting spans over OTLP")
        await self.metrics.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.metrics.__aexit__(exc_type, exc, tb)
        if self._provider is not None:
            self._provider.shutdown()
