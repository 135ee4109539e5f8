"""A model the ai-worker sends requests with carries Pydantic AI's GenAI span when traced."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic_ai.messages import ModelMessage, ModelRequest, UserPromptPart
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.instrumented import InstrumentationSettings

from stigma_agent import ModelRegistry

MESSAGES: list[ModelMessage] = [ModelRequest(parts=[UserPromptPart("hello there")])]


async def test_a_traced_registry_records_model_and_usage_without_the_content() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry = ModelRegistry(
        {}, instrument=InstrumentationSettings(tracer_provider=provider, include_content=False)
    )

    await registry.model("scripted:echo").request(MESSAGES, None, ModelRequestParameters())

    (span,) = exporter.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "scripted:echo", attributes
    assert attributes.get("gen_ai.provider.name") or attributes.get("gen_ai.system"), attributes
    assert int(str(attributes["gen_ai.usage.input_tokens"])) > 0
    assert int(str(attributes["gen_ai.usage.output_tokens"])) > 0
    # The messages' shape is there, their text is not.
    assert "hello there" not in str(attributes)


async def test_the_workflow_side_registry_is_not_instrumented() -> None:
    exporter = InMemorySpanExporter()
    model = ModelRegistry().model("scripted:echo")
    await model.request(MESSAGES, None, ModelRequestParameters())
    assert not exporter.get_finished_spans()
