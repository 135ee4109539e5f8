"""Temporal tracing in which every workflow run has a root, however it was started.

Temporal's ``TracingInterceptor`` continues the trace a traced client put in the start
request's header. A run started without one (``zigflow run``, the Temporal UI, a
schedule, the load generator: any client without the interceptor) has nothing to
continue: the SDK then either creates no workflow spans, or (``always_create_workflow_
spans``) makes each of them the root of a trace of its own, so one Zigflow run was split
into one trace per activity it scheduled. And the SDK's workflow spans are not created on
replay, so a span it did create is gone as a parent after a cache eviction or a restart.

Here such a run gets ONE root span, ``RunWorkflow:<type>``, whose ids derive from the run
id (docs/adr/0017): the trace id is the run id's 128 bits (a hash of it when it is not a
UUID), so an operator finds the trace of a run from the Temporal UI, and every replay of
the run rebuilds the same parent without emitting the root again. Everything the run does
(its activities, the gRPC calls they make, the agent workflows they start, their model
and tool calls) hangs under it; a continue-as-new carries it to the next run.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import opentelemetry.context
import opentelemetry.trace
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from temporalio import workflow
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor
from temporalio.worker import ExecuteWorkflowInput, WorkflowInterceptorClassInput

logger = logging.getLogger(__name__)

_ROOT_SPAN_EXTERN = "__stigma_workflow_root_span"
_PINNED: ContextVar[tuple[int, int] | None] = ContextVar("stigma_pinned_span_ids", default=None)


def workflow_root_ids(run_id: str) -> tuple[int, int]:
    """The (trace id, span id) of the root of a run started without trace context.

    The trace id is the run id's own 128 bits when it is a UUID (as Temporal's are), so
    ``run id without dashes == trace id``; otherwise a SHA-256 of it. The span id is
    derived from the run id too: both are the same on every replay of the run.
    """
    digest = hashlib.sha256(f"temporal-run:{run_id}".encode()).digest()
    try:
        trace_id = uuid.UUID(run_id).int
    except ValueError:
        trace_id = int.from_bytes(digest[:16], "big")
    span_id = int.from_bytes(digest[16:24], "big")
    # W3C forbids all-zero ids; a zero from a hash is as likely as a collision.
    return trace_id or 1, span_id or 1


def root_traceparent(run_id: str) -> str:
    """The W3C traceparent that parents a run started without trace context."""
    trace_id, span_id = workflow_root_ids(run_id)
    return f"00-{trace_id:032x}-{span_id:016x}-01"


class PinnedIdGenerator(RandomIdGenerator):
    """Random ids, except for a span started while ``pinned_ids`` names its ids.

    The OpenTelemetry SDK offers no other public way to start a span with chosen ids;
    the workflow root needs them (its children were parented on them before it exists).
    """

    def generate_trace_id(self) -> int:
        pinned = _PINNED.get()
        return pinned[0] if pinned else super().generate_trace_id()

    def generate_span_id(self) -> int:
        pinned = _PINNED.get()
        return pinned[1] if pinned else super().generate_span_id()


@dataclass(frozen=True)
class _RootSpan:
    name: str
    trace_id: int
    span_id: int
    time_ns: int
    attributes: dict[str, str]


class RootedTracingInterceptor(TracingInterceptor):
    """Temporal's tracing interceptor, plus a root for runs started without a trace.

    ``tracer`` must come from a provider whose id generator is a ``PinnedIdGenerator``
    (service_kit.Telemetry builds it so): otherwise the root would get random ids and its
    children would point at a span that does not exist.
    """

    def __init__(self, tracer: opentelemetry.trace.Tracer) -> None:
        # Workflow spans always have a parent now (the header's or the derived root), so
        # the SDK's "always create" would only add a root trace of its own for every query
        # sent without a trace context (the keep-alive's per-beat status query, the UI).
        super().__init__(tracer, always_create_workflow_spans=False)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)
        input.unsafe_extern_functions[_ROOT_SPAN_EXTERN] = self._emit_root
        return _RootedWorkflowInboundInterceptor

    def _emit_root(self, root: _RootSpan) -> None:
        token = _PINNED.set((root.trace_id, root.span_id))
        try:
            span = self.tracer.start_span(
                root.name,
                opentelemetry.context.Context(),
                kind=opentelemetry.trace.SpanKind.SERVER,
                attributes=root.attributes,
                start_time=root.time_ns,
            )
        finally:
            _PINNED.reset(token)
        # Zero duration, like every workflow span of the SDK's (a span held open in a
        # workflow would be lost on replay).
        span.end(end_time=root.time_ns)
        emitted = span.get_span_context()
        if span.is_recording() and (emitted.trace_id, emitted.span_id) != (
            root.trace_id,
            root.span_id,
        ):
            logger.warning(
                "workflow root span got ids %032x/%016x instead of the derived ones: the "
                "tracer's provider lacks service_kit's PinnedIdGenerator",
                emitted.trace_id,
                emitted.span_id,
            )


class _RootedWorkflowInboundInterceptor(TracingWorkflowInboundInterceptor):
    def __init__(self, next: Any) -> None:
        super().__init__(next)
        self._derived_root = False

    def _load_workflow_context_carrier(self) -> dict[str, Any] | None:
        carrier = super()._load_workflow_context_carrier()
        if carrier:
            return carrier
        # No trace came with the start: parent everything on the run's derived root.
        self._derived_root = True
        self._workflow_context_carrier = {"traceparent": root_traceparent(workflow.info().run_id)}
        return self._workflow_context_carrier

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        self._load_workflow_context_carrier()
        if not self._derived_root:
            return await super().execute_workflow(input)
        with self._top_level_workflow_context(success_is_complete=True):
            if not workflow.unsafe.is_replaying():
                info = workflow.info()
                trace_id, span_id = workflow_root_ids(info.run_id)
                workflow.extern_functions()[_ROOT_SPAN_EXTERN](
                    _RootSpan(
                        name=f"RunWorkflow:{info.workflow_type}",
                        trace_id=trace_id,
                        span_id=span_id,
                        time_ns=workflow.time_ns(),
                        attributes={
                            "temporalWorkflowID": info.workflow_id,
                            "temporalRunID": info.run_id,
                        },
                    )
                )
            # The root replaces the SDK's RunWorkflow span: skip its execute_workflow.
            return await self.next.execute_workflow(input)
