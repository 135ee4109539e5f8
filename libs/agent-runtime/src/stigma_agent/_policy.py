"""What a run's model sees: only the tools its spec granted, and a conversation that fits.

Both run in the workflow, before each model request, so they must be deterministic: they
read only the run's deps and messages.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import TypeAdapter
from pydantic_ai import RunContext
from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    TextPart,
    ToolReturnPart,
)
from pydantic_ai.tools import ToolDefinition

from agent_contract import BUILTIN_TOOLS
from stigma_agent._bounds import as_text, bound_text
from stigma_agent._deps import RunDeps

KEEP_RECENT_MESSAGES = 6
"""The newest messages are never elided: the model needs what it just did."""
ELIDED_TEXT_BYTES = 400


async def grant_tools(
    ctx: RunContext[RunDeps], tool_defs: list[ToolDefinition]
) -> list[ToolDefinition]:
    """Hide the built-in tools the spec did not grant; mark those that need approval.

    MCP tools were already filtered (and marked) by their gate.
    """
    shown: list[ToolDefinition] = []
    for tool_def in tool_defs:
        if tool_def.name not in BUILTIN_TOOLS:
            shown.append(tool_def)
            continue
        grant = ctx.deps.grant(tool_def.name)
        if grant is None:
            continue
        if grant.requires_approval:
            tool_def = replace(tool_def, kind="unapproved")
        shown.append(tool_def)
    return shown


def build_conversation_schema() -> None:
    """Build the conversation's pydantic schema now. pydantic-ai defers it to its first use,
    which is the first model request of the first run a worker process sees, inside a
    workflow activation: on a busy host that build alone outlasted Temporal's 2 s deadlock
    detection, failing the workflow task (a WARNING and an ERROR) until a retry found it
    built. Call it at start-up, before the worker polls."""
    ModelMessagesTypeAdapter.dump_json([])


def conversation_size(messages: list[ModelMessage]) -> int:
    return len(ModelMessagesTypeAdapter.dump_json(messages))


def _elided(part: object) -> object | None:
    """The part with its long content cut, or None when it has none to cut."""
    if isinstance(part, ToolReturnPart):
        content = part.content if isinstance(part.content, str) else as_text(part.content)
        if len(content.encode()) > ELIDED_TEXT_BYTES:
            return replace(part, content=bound_text(content, ELIDED_TEXT_BYTES) + " [elided]")
    elif isinstance(part, TextPart) and len(part.content.encode()) > ELIDED_TEXT_BYTES:
        return replace(part, content=bound_text(part.content, ELIDED_TEXT_BYTES) + " [elided]")
    return None


def bound_conversation(messages: list[ModelMessage], max_bytes: int) -> list[ModelMessage]:
    """Elide the content of old tool results, then of old answers, until the conversation
    fits in ``max_bytes``: the first request (instructions and task) and the newest
    messages stay whole. What was elided says so, so the model knows it saw it before."""
    size = conversation_size(messages)
    if size <= max_bytes:
        return messages
    bounded = list(messages)
    for kind in (ToolReturnPart, TextPart):
        for index in range(1, max(1, len(bounded) - KEEP_RECENT_MESSAGES)):
            message = bounded[index]
            parts: list[Any] = list(message.parts)
            for at, part in enumerate(parts):
                if not isinstance(part, kind) or (cut := _elided(part)) is None:
                    continue
                size -= len(as_text(getattr(part, "content", "")).encode()) - len(
                    as_text(getattr(cut, "content", "")).encode()
                )
                parts[at] = cut
            bounded[index] = replace(message, parts=parts)  # type: ignore[arg-type]
            if size <= max_bytes:
                return bounded
    return bounded


_MESSAGES: TypeAdapter[list[ModelMessage]] = ModelMessagesTypeAdapter


def dump_conversation(messages: list[ModelMessage]) -> str:
    """The conversation as JSON, to carry it across continue-as-new."""
    return _MESSAGES.dump_json(messages).decode()


def load_conversation(text: str) -> list[ModelMessage]:
    return _MESSAGES.validate_json(text) if text else []
