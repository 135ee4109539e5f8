from __future__ import annotations

import logging

from prometheus_client import Counter
from temporalio import activity
from temporalio.exceptions import ApplicationError

from agent_contract import (
    AGENT_OUTPUT_TOO_LARGE_ERROR,
    AGENT_STEP_ACTIVITY,
    StepRequest,
    StepResult,
)
from ai_worker.providers import ProviderError, ProviderRegistry
from service_kit import log_context

logger = logging.getLogger(__name__)


class AgentStepActivities:
    """The activity the orchestrator schedules for every agent step."""

    def __init__(self, providers: ProviderRegistry, *, steps: Counter | None = None) -> None:
        self._providers = providers
        self._steps = steps

    @activity.defn(name=AGENT_STEP_ACTIVITY)
    async def agent_step(self, request: StepRequest) -> StepResult:
        with log_context(execution_id=request.execution_id):
            try:
                provider, model = self._providers.resolve(request.spec.model)
                result = await provider.step(request, model=model)
            except ProviderError as err:
                self._count(request, err.error_type)
                logger.warning("agent step %d failed: %s", request.index + 1, err)
                raise ApplicationError(
                    str(err), type=err.error_type, non_retryable=not err.retryable
                ) from err
            size = len(result.message.encode())
            if request.max_output_bytes and size > request.max_output_bytes:
                # Returned as is, it could exceed Temporal's payload limit and fail as an
                # opaque blob-size error; refuse it with a name the caller can act on.
                raise ApplicationError(
                    f"step {request.index + 1} produced {size} bytes; the limit is "
                    f"{request.max_output_bytes}",
                    type=AGENT_OUTPUT_TOO_LARGE_ERROR,
                    non_retryable=True,
                )
            self._count(request, "ok")
            logger.info("agent step %d done (final=%s)", request.index + 1, result.done)
            return result

    def _count(self, request: StepRequest, outcome: str) -> None:
        if self._steps is not None:
            provider = request.spec.model.partition(":")[0]
            self._steps.labels(provider, outcome).inc()
