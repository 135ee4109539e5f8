"""Every activity of the ai-worker heartbeats on a clock, with the step's progress.

A model that thinks for minutes before its first token is healthy; a dead worker is not.
Beating every second whatever the model does tells them apart: the step's heartbeat
timeout bounds how long a dead worker goes unnoticed, never how long a model may think,
and a cancellation (which arrives only in a heartbeat reply) stops the call within about
a second. The same interceptor gives tools their runtime (egress policy, timeouts).
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from opentelemetry import trace
from prometheus_client import Counter
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from agent_contract import MODEL_REQUEST_ACTIVITIES
from service_kit import log_context
from stigma_agent import (
    StepProgress,
    ToolRuntime,
    reset_tool_runtime,
    track_progress,
    untrack_progress,
    use_tool_runtime,
)

logger = logging.getLogger(__name__)


class StepInterceptor(Interceptor):
    def __init__(
        self, *, runtime: ToolRuntime, beat_every: float, steps: Counter | None = None
    ) -> None:
        self._runtime = runtime
        self._beat_every = beat_every
        self._steps = steps

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self)


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: StepInterceptor) -> None:
        super().__init__(next)
        self._owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        progress = StepProgress()
        progress_token = track_progress(progress)
        runtime_token = use_tool_runtime(self._owner._runtime)
        beating = asyncio.create_task(self._beat(progress))
        is_model = info.activity_type in MODEL_REQUEST_ACTIVITIES
        started = time.monotonic()
        outcome = "ok"
        with log_context(execution_id=info.workflow_id or ""), _tool_span(input):
            try:
                return await self.next.execute_activity(input)
            except ApplicationError as err:
                outcome = err.type or "ApplicationError"
                raise
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            except Exception as err:
                outcome = type(err).__name__
                raise
            finally:
                beating.cancel()
                untrack_progress(progress_token)
                reset_tool_runtime(runtime_token)
                self._count(input, is_model, outcome)
                # One line per call (the SDK adds a traceback of its own to a failure).
                logger.info(
                    "%s attempt %d: %s after %.1f s (%d chars streamed)",
                    info.activity_type,
                    info.attempt,
                    outcome,
                    time.monotonic() - started,
                    progress.chars,
                )

    async def _beat(self, progress: StepProgress) -> None:
        while True:
            activity.heartbeat(progress.details())
            await asyncio.sleep(self._owner._beat_every)

    def _count(self, input: ExecuteActivityInput, is_model: bool, outcome: str) -> None:
        steps = self._owner._steps
        if steps is None or not is_model:
            return
        model_id = getattr(input.args[0], "model_id", None) if input.args else None
        provider = str(model_id or "").partition(":")[0] or "unknown"
        steps.labels(provider, outcome).inc()


def _tool_span(input: ExecuteActivityInput) -> AbstractContextManager[Any]:
    """An ``execute_tool <name>`` span with the GenAI attributes around a tool activity.

    Pydantic AI opens its tool spans on the workflow side only; the tool runs here, so
    this is where its span has a duration (docs/adr/0017). No-op without tracing.
    """
    params = input.args[0] if input.args else None
    name = getattr(params, "name", None)
    if not isinstance(name, str) or not hasattr(params, "tool_args"):
        return nullcontext()
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.type": "function",
    }
    run_context = getattr(params, "serialized_run_context", None)
    call_id = run_context.get("tool_call_id") if isinstance(run_context, dict) else None
    if isinstance(call_id, str) and call_id:
        attributes["gen_ai.tool.call.id"] = call_id
    return trace.get_tracer(__name__).start_as_current_span(
        f"execute_tool {name}", kind=trace.SpanKind.INTERNAL, attributes=attributes
    )
