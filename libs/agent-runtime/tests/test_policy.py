"""What a run's model may see: granted tools only, approvals marked, a bounded conversation."""

from __future__ import annotations

import json

import pytest
from pydantic_ai import RunContext
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.test import TestModel
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.usage import RunUsage

from agent_contract import ToolGrant
from stigma_agent import (
    RunDeps,
    bound_conversation,
    conversation_size,
    dump_conversation,
    load_conversation,
)
from stigma_agent._policy import grant_tools


def context(*grants: ToolGrant) -> RunContext[RunDeps]:
    return RunContext(
        deps=RunDeps(execution_id="e", tools=list(grants)), model=TestModel(), usage=RunUsage()
    )


async def test_only_granted_builtin_tools_are_shown_and_approval_is_marked() -> None:
    defs = [ToolDefinition(name=name) for name in ("think", "current_time", "http_fetch")]
    defs.append(ToolDefinition(name="files_read"))  # an MCP tool: its gate decided already
    shown = await grant_tools(
        context(ToolGrant("think"), ToolGrant("http_fetch", requires_approval=True)), defs
    )

    assert [(d.name, d.kind) for d in shown] == [
        ("think", "function"),
        ("http_fetch", "unapproved"),
        ("files_read", "function"),
    ]


def conversation(results: int, size: int) -> list[ModelMessage]:
    messages: list[ModelMessage] = [ModelRequest(parts=[UserPromptPart("the task")])]
    for n in range(results):
        call = ToolCallPart("lookup", {"n": n}, tool_call_id=f"c{n}")
        messages.append(ModelResponse(parts=[TextPart("x" * size), call]))
        messages.append(
            ModelRequest(parts=[ToolReturnPart("lookup", "y" * size, tool_call_id=f"c{n}")])
        )
    return messages


def test_a_conversation_under_the_bound_is_untouched() -> None:
    messages = conversation(3, 100)
    assert bound_conversation(messages, 1_000_000) is messages


def test_old_tool_results_are_elided_first_and_the_newest_kept_whole() -> None:
    messages = conversation(20, 5000)
    limit = conversation_size(messages) // 2
    bounded = bound_conversation(messages, limit)

    assert conversation_size(bounded) <= limit
    assert bounded[0] == messages[0]  # the task stays whole
    assert bounded[-6:] == messages[-6:]  # the newest messages too
    elided = bounded[2].parts[0]
    assert isinstance(elided, ToolReturnPart)
    assert str(elided.content).endswith("[elided]")
    assert len(str(elided.content).encode()) < 500


def test_answers_are_elided_when_results_are_not_enough() -> None:
    messages = conversation(20, 5000)
    bounded = bound_conversation(messages, 80_000)

    assert conversation_size(bounded) <= 80_000
    text = bounded[1].parts[0]
    assert isinstance(text, TextPart)
    assert text.content.endswith("[elided]")


@pytest.mark.parametrize("results", [0, 1, 5])
def test_the_conversation_round_trips_as_json(results: int) -> None:
    messages = conversation(results, 10)
    assert load_conversation(dump_conversation(messages)) == messages
    assert isinstance(json.loads(dump_conversation(messages)), list)
