from __future__ import annotations

from pydantic_ai.exceptions import ModelAPIError, UserError
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    UserPromptPart,
)
from pydantic_ai.models import ModelRequestParameters

from agent_contract import StepRequest, StepResult, model_settings
from ai_worker.providers._base import ProviderError
from stigma_agent import ModelRegistry


class ModelProvider:
    """A legacy step (runs opened before revision 2) as one streamed model request,
    through the same models the agent loop uses: ``openai:``, ``anthropic:``, ``ollama:``."""

    def __init__(self, models: ModelRegistry) -> None:
        self._models = models

    async def step(self, request: StepRequest, *, model: str) -> StepResult:
        spec = request.spec
        try:
            settings = model_settings(spec.parameters)
            chosen = self._models.model(spec.model)
        except (ValueError, UserError) as err:
            raise ProviderError(str(err), error_type="InvalidParameters", retryable=False) from None
        first: list[SystemPromptPart | UserPromptPart] = []
        if spec.instructions:
            first.append(SystemPromptPart(spec.instructions))
        first.append(UserPromptPart(spec.input))
        messages: list[ModelMessage] = [ModelRequest(parts=first)]
        messages += [ModelResponse(parts=[TextPart(text)]) for text in request.previous]
        try:
            response = await chosen.request(
                messages,
                settings or None,  # type: ignore[arg-type]
                ModelRequestParameters(),
            )
        except ModelAPIError as err:
            status = getattr(err, "status_code", None)
            raise ProviderError(
                f"{spec.model}: {err}",
                error_type="ProviderRejected" if status else "ProviderUnavailable",
                retryable=status is None or status in (408, 409, 429) or status >= 500,
            ) from err
        text = "".join(p.content for p in response.parts if isinstance(p, TextPart))
        return StepResult(
            message=text,
            done=True,
            input_tokens=response.usage.input_tokens,
            output_tokens=response.usage.output_tokens,
        )
