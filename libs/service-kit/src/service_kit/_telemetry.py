from __future__ import annotations

import logging
import os
from types import TracebackType

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.contrib.opentelemetry import TracingInterceptor

logger = logging.getLogger(__name__)

_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


class Telemetry:
    """Tracing for one process: OTLP export when the standard OTEL_* variables ask for it.

    Use as an async context manager; leaving it flushes pending spans, which is
    why it wraps the whole life of the service.
    """

    def __init__(self, *, service: str) -> None:
        self.service = service
        self._provider: TracerProvider | None = None

    @property
    def enabled(self) -> bool:
        return self._provider is not None

    def temporal_interceptor(self) -> TracingInterceptor:
        """Temporal's tracing interceptor (client and worker); a no-op without an exporter."""
        return TracingInterceptor()

    async def __aenter__(self) -> Telemetry:
        if (
            any(os.environ.get(name) for name in _ENDPOINT_VARS)
            and os.environ.get("OTEL_SDK_DISABLED", "false").lower() != "true"
        ):
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            resource = Resource.create({SERVICE_NAME: self.service})
            provider = TracerProvider(resource=resource)
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
            trace.set_tracer_provider(provider)
            self._provider = provider
            logger.info("tracing enabled: exporting spans over OTLP")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._provider is not None:
            self._provider.shutdown()
