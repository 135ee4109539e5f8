"""Every model request streams, whatever the agent loop asks for.

Pydantic AI's durable model activity calls ``Model.request``; this wrapper answers it by
streaming from the provider. The stream feeds ``StepProgress`` (the partial output that
heartbeats carry), and a request that stays silent for minutes is still a healthy one:
the ai-worker heartbeats on a clock, not on tokens, so the heartbeat timeout bounds how
long a dead worker goes unnoticed, never how long a model may think.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic_ai.exceptions import ModelAPIError, UnexpectedModelBehavior
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import ModelRequestParameters, StreamedResponse
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import RunContext
from temporalio.exceptions import ApplicationError

from stigma_agent._progress import current_progress

MODEL_STREAM_TRUNCATED = "ModelStreamTruncated"
"""The provider's stream ended before the model finished (a cut connection): retried."""
MODEL_PROTOCOL_ERROR = "ModelProtocolError"
"""The provider answered something that is not its protocol (garbage, a malformed stream)."""


class StreamingModel(WrapperModel):
    """Streams every request and names the ways a stream can break.

    ``check_finish``: whether a response the provider sent no finish reason for is a cut
    stream. True for network providers (their last event always carries one, and an SDK
    that meets a clean but early end of the stream raises nothing: the OpenAI model even
    reports ``stop``); False for local test models.
    """

    def __init__(self, wrapped: Any, *, check_finish: bool) -> None:
        super().__init__(wrapped)
        self._check_finish = check_finish

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        progress = current_progress()
        try:
            async with self.wrapped.request_stream(
                messages, model_settings, model_request_parameters
            ) as stream:
                async for event in stream:
                    if progress is not None:
                        progress.observe(event)
                response = stream.get()
        except ModelAPIError as err:
            if type(err) is ModelAPIError and isinstance(err.__cause__, json.JSONDecodeError):
                raise _protocol_error(self.model_name, err) from err
            raise  # named and classified by Pydantic AI (retried or not)
        except (UnexpectedModelBehavior, json.JSONDecodeError, UnicodeDecodeError) as err:
            raise _protocol_error(self.model_name, err) from err
        if self._check_finish and not (response.provider_details or {}).get("finish_reason"):
            raise ApplicationError(
                f"{self.model_name}: the provider's stream ended before the model finished "
                f"(no finish reason after {len(response.parts)} part(s)): the connection was cut",
                type=MODEL_STREAM_TRUNCATED,
                non_retryable=False,
            )
        return response

    @asynccontextmanager
    async def request_stream(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
        run_context: RunContext[Any] | None = None,
    ) -> AsyncIterator[StreamedResponse]:
        async with self.wrapped.request_stream(
            messages, model_settings, model_request_parameters, run_context
        ) as stream:
            yield stream


def _protocol_error(model: str, err: Exception) -> ApplicationError:
    """Garbage instead of the provider's protocol: retrying the same server will not help."""
    return ApplicationError(
        f"{model}: the provider answered something that is not its API's protocol "
        f"({type(err).__name__}: {str(err)[:300]})",
        type=MODEL_PROTOCOL_ERROR,
        non_retryable=True,
    )
