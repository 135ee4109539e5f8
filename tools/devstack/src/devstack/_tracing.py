from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor

# What service_kit's Telemetry reads: either one set makes every service export its spans.
ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def configured_endpoint(environ: Mapping[str, str] = os.environ) -> str | None:
    """The OTLP endpoint the environment already names (a collector, Tempo, a Phoenix of
    your own): the local stack honours it and starts no trace viewer of its own."""
    return next((environ[name] for name in ENDPOINT_VARS if environ.get(name)), None)


def tracing_disabled(environ: Mapping[str, str] = os.environ) -> bool:
    """OTEL_SDK_DISABLED=true: no service exports spans, whatever else is set."""
    return environ.get("OTEL_SDK_DISABLED", "false").lower() == "true"


@contextmanager
def demo_trace(client: Client, *, endpoint: str | None = None) -> Iterator[tuple[Client, str]]:
    """A client whose workflow starts carry a fresh trace, and that trace's id.

    The services continue the trace (and put its id on their log lines). The demo's own
    span is exported to ``endpoint`` (the stack's Phoenix), else to the endpoint the
    environment names, else nowhere.
    """
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "devstack-demo"}))
    if not tracing_disabled() and (endpoint or configured_endpoint()):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=endpoint, insecure=True if endpoint else None)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer(__name__)
    config = client.config()
    config["interceptors"] = [*config["interceptors"], TracingInterceptor(tracer)]
    traced = Client(**config)
    try:
        with tracer.start_as_current_span("devstack demo") as span:
            yield traced, format(span.get_span_context().trace_id, "032x")
    finally:
        provider.shutdown()
