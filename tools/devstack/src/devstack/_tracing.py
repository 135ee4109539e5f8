from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor


@contextmanager
def demo_trace(client: Client) -> Iterator[tuple[Client, str]]:
    """A client whose workflow starts carry a fresh trace, and that trace's id.

    The services continue the trace (and put its id on their log lines); with
    OTEL_EXPORTER_OTLP_ENDPOINT set, every span of the run is exported under it.
    """
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: "devstack-demo"}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    tracer = provider.get_tracer(__name__)
    config = client.config()
    config["interceptors"] = [*config["interceptors"], TracingInterceptor(tracer)]
    traced = Client(**config)
    try:
        with tracer.start_as_current_span("devstack demo") as span:
            yield traced, format(span.get_span_context().trace_id, "032x")
    finally:
        provider.shutdown()
