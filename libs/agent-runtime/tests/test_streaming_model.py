"""Every request streams: progress is tapped, and the ways a stream breaks get names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, UserPromptPart
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.function import AgentInfo, FunctionModel
from temporalio.exceptions import ApplicationError

from stigma_agent import (
    MODEL_STREAM_TRUNCATED,
    StepProgress,
    StreamingModel,
    track_progress,
    untrack_progress,
)

MESSAGES: list[ModelMessage] = [ModelRequest(parts=[UserPromptPart("hi")])]


def streaming(chunks: list[str]) -> FunctionModel:
    async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
        for chunk in chunks:
            yield chunk

    return FunctionModel(stream_function=stream, model_name="fn")


async def test_the_stream_feeds_the_steps_progress() -> None:
    progress = StepProgress()
    token = track_progress(progress)
    try:
        model = StreamingModel(streaming(["Hello ", "durable ", "world"]), check_finish=False)
        response = await model.request(MESSAGES, None, ModelRequestParameters())
    finally:
        untrack_progress(token)

    assert response.parts[0].content == "Hello durable world"  # type: ignore[union-attr]
    assert progress.partial_output == "Hello durable world"
    assert progress.details()["chars"] == len("Hello durable world")


def test_the_progress_keeps_only_the_newest_text() -> None:
    progress = StepProgress()
    progress._text("x" * 5000)
    progress._text("tail")
    assert len(progress.partial_output) == 2000
    assert progress.partial_output.endswith("tail")


async def test_a_network_stream_without_a_finish_reason_was_cut() -> None:
    # A local model has no finish reason either: only network providers are checked.
    model = StreamingModel(streaming(["half an ans"]), check_finish=True)
    with pytest.raises(ApplicationError) as cut:
        await model.request(MESSAGES, None, ModelRequestParameters())
    assert cut.value.type == MODEL_STREAM_TRUNCATED
    assert not cut.value.non_retryable
