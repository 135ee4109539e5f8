"""The observability suite's own stack: the four services export traces to an OTLP
receiver that lives inside the test process, and serve /metrics on free loopback ports.

It is a separate stack from the handshake suite's, so counters and the pending gauge
start from zero and restarting every worker disturbs no other test.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from devstack import LocalStack, StackConfig, free_port
from tests.support import stage_workflows

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    links: tuple[tuple[str, str], ...]
    """(trace id, span id) of each link."""
    attributes: dict[str, str] = field(hash=False, compare=False)


class OtlpReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """A real OTLP/gRPC trace endpoint that keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.port = free_port()
        self._server = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)  # type: ignore[no-untyped-call]
        self._server.add_insecure_port(f"127.0.0.1:{self.port}")

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def Export(
        self,
        request: trace_service_pb2.ExportTraceServiceRequest,
        context: grpc.aio.ServicerContext,
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        Span(
                            service=service,
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            links=tuple(
                                (link.trace_id.hex(), link.span_id.hex()) for link in span.links
                            ),
                            attributes={
                                a.key: str(
                                    a.value.string_value or a.value.int_value or a.value.bool_value
                                )
                                for a in span.attributes
                            },
                        )
                    )
        return trace_service_pb2.ExportTraceServiceResponse()

    def trace(self, trace_id: str) -> list[Span]:
        return [span for span in self.spans if span.trace_id == trace_id]

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop(None)


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape_sync(target: str) -> str:
    with urllib.request.urlopen(f"http://{target}/metrics", timeout=5) as reply:
        return str(reply.read().decode())


async def scrape(target: str) -> Samples:
    """Every sample of one /metrics endpoint, keyed by (sample name, labels)."""
    text = await asyncio.to_thread(_scrape_sync, target)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(value for (n, lbls), value in samples.items() if n == name and wanted <= lbls)


@dataclass
class Observed:
    stack: LocalStack
    receiver: OtlpReceiver

    async def metrics(self, service: str) -> Samples:
        return await scrape(self.stack.metrics_targets()[service])

    async def restart_all(self) -> None:
        """Stop every service process (all down at once), then start them all again."""
        names = list(self.stack.services)
        await asyncio.gather(*(self.stack.stop_service(name) for name in names))
        await asyncio.gather(*(self.stack.start_service(name) for name in names))


@pytest.fixture(scope="session")
async def observed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Observed]:
    receiver = OtlpReceiver()
    await receiver.start()
    state = tmp_path_factory.mktemp("observed")
    config = StackConfig(
        state_dir=state,
        workflows_dir=stage_workflows(state),
        headless=True,
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "STIGMA_API_PENDING_POLL_INTERVAL": "PT0.5S",
            "ZIGFLOW_PENDING_POLL_INTERVAL": "PT0.5S",
            # Restarts in the pending test should not wait for a long drain.
            "STIGMA_ORCHESTRATOR_GRACEFUL_SHUTDOWN": "PT1S",
            "STIGMA_ORCHESTRATOR_KEEPER_HEARTBEAT": "PT3S",
            "AI_WORKER_GRACEFUL_SHUTDOWN": "PT1S",
            "ZIGFLOW_GRACEFUL_SHUTDOWN": "PT1S",
        },
    )
    try:
        async with LocalStack(config) as stack:
            yield Observed(stack=stack, receiver=receiver)
    finally:
        await receiver.stop()
