"""A JSON log line carries trace_id and span_id exactly when a valid span is current, so a
line found by its trace id in the logs is one of that trace's, and a line written outside any
trace names none."""

from __future__ import annotations

import json
import logging

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import INVALID_SPAN, NonRecordingSpan, SpanContext, TraceFlags

from service_kit._logs import JsonFormatter, log_context


def _line(message: str = "hello") -> dict[str, object]:
    record = logging.LogRecord("svc.module", logging.INFO, __file__, 1, message, None, None)
    entry: dict[str, object] = json.loads(JsonFormatter("svc").format(record))
    return entry


def test_a_line_inside_a_span_names_its_trace_and_span() -> None:
    tracer = TracerProvider().get_tracer(__name__)
    with tracer.start_as_current_span("work") as span:
        context = span.get_span_context()
        line = _line()
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    assert len(str(line["trace_id"])) == 32


def test_a_line_under_a_propagated_context_names_the_callers_trace() -> None:
    """A service that does not record spans itself still continues the caller's trace id."""
    remote = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    with trace.use_span(NonRecordingSpan(remote)):
        line = _line()
    assert line["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert line["span_id"] == "00f067aa0ba902b7"


def test_a_line_outside_any_trace_names_none() -> None:
    line = _line()
    assert "trace_id" not in line
    assert "span_id" not in line
    with trace.use_span(INVALID_SPAN), log_context(execution_id="agent-1"):
        line = _line()
    assert "trace_id" not in line
    assert "span_id" not in line
    assert line["execution_id"] == "agent-1"
