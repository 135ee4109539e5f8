"""The derived root of a workflow run started without a trace context (docs/adr/0017)."""

from __future__ import annotations

import uuid

from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from service_kit._tracing import (
    PinnedIdGenerator,
    RootedTracingInterceptor,
    _RootSpan,
    root_traceparent,
    workflow_root_ids,
)


def test_the_trace_id_of_an_untraced_run_is_its_run_id() -> None:
    run_id = str(uuid.uuid4())
    trace_id, span_id = workflow_root_ids(run_id)
    assert f"{trace_id:032x}" == uuid.UUID(run_id).hex
    assert span_id != 0
    # Every replay derives the same parent.
    assert workflow_root_ids(run_id) == (trace_id, span_id)
    assert root_traceparent(run_id) == f"00-{trace_id:032x}-{span_id:016x}-01"


def test_a_run_id_that_is_no_uuid_still_gets_a_stable_root() -> None:
    first = workflow_root_ids("not-a-uuid")
    assert first == workflow_root_ids("not-a-uuid")
    assert first != workflow_root_ids("another")
    assert all(part > 0 for part in first)


def test_the_root_span_is_emitted_with_the_derived_ids_and_no_parent() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=PinnedIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    interceptor = RootedTracingInterceptor(provider.get_tracer(__name__))
    run_id = str(uuid.uuid4())
    trace_id, span_id = workflow_root_ids(run_id)

    interceptor._emit_root(
        _RootSpan(
            name="RunWorkflow:hello",
            trace_id=trace_id,
            span_id=span_id,
            time_ns=1_000,
            attributes={"temporalRunID": run_id},
        )
    )
    # Spans started afterwards get random ids again.
    provider.get_tracer(__name__).start_span("next", Context()).end()

    root, following = exporter.get_finished_spans()
    assert root.context is not None
    assert following.context is not None
    assert (root.context.trace_id, root.context.span_id) == (trace_id, span_id)
    assert root.parent is None
    assert root.start_time == root.end_time == 1_000
    assert following.context.trace_id != trace_id
