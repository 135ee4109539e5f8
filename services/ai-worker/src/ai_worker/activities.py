from __future__ import annotations

import logging

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agent_contract import AGENT_STEP_ACTIVITY, StepRequest, StepResult
from ai_worker.providers import ProviderError, ProviderRegistry
from service_kit import log_context

logger = logging.getLogger(__name__)


class AgentStepActivities:
    """The activity the orchestrator schedules for every agent step."""

    def __init__(self, providers: ProviderRegistry) -> None:
        self._providers = providers

    @activity.defn(name=AGENT_STEP_ACTIVITY)
    async def agent_step(self, request: StepRequest) -> StepResult:
        with log_context(execution_id=request.execution_id):
            try:
                provider, model = self._providers.resolve(request.spec.model)
                result = await provider.step(request, model=model)
            except ProviderError as err:
                logger.warning("agent step %d failed: %s", request.index + 1, err)
                raise ApplicationError(
                    str(err), type=err.error_type, non_retryable=not err.retryable
                ) from err
            logger.info("agent step %d done (final=%s)", request.index + 1, result.done)
            return result
