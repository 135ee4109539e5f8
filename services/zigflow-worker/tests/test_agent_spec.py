"""A ``call: agent`` task's tools and budget: taken at run time, refused at load when wrong."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_contract import Budget, ToolGrant
from zigflow.agent_spec import budget_from_arguments, spec_from_arguments, tools_from_arguments
from zigflow.dsl import DefinitionError
from zigflow.dsl.document import load_document


def test_tools_are_names_or_maps() -> None:
    grants = tools_from_arguments(
        ["think", {"name": "run_workflow", "requiresApproval": True, "allow": ["summarize"]}]
    )
    assert grants == [
        ToolGrant(name="think"),
        ToolGrant(name="run_workflow", requires_approval=True, allow=["summarize"]),
    ]


def test_a_budget_takes_a_duration_and_a_decimal_cost() -> None:
    budget = budget_from_arguments(
        {"maxToolCalls": 3, "maxDuration": "PT1M30S", "maxCostUsd": "0.5", "maxInputTokens": 10}
    )
    assert budget == Budget(
        max_input_tokens=10, max_tool_calls=3, max_duration_ms=90_000, max_cost_usd="0.5"
    )


def test_a_script_written_as_yaml_reaches_the_spec_as_json() -> None:
    spec = spec_from_arguments(
        {"model": "scripted:echo", "input": "x", "parameters": {"script": [{"text": "hi"}]}}
    )
    assert spec.parameters["script"] == '[{"text": "hi"}]'


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("think", "must be a list"),
        ([3], "tools[0] must be a tool name"),
        ([{"name": "think", "approve": True}], "unknown keys ['approve']"),
        ([{"name": "http_fetch", "allow": "example.com"}], "tools[0].allow"),
    ],
)
def test_bad_tools(value: Any, problem: str) -> None:
    with pytest.raises((TypeError, ValueError), match=re.escape(problem)):
        tools_from_arguments(value)


def _document(tmp_path: Path, args: dict[str, Any]) -> Path:
    path = tmp_path / "agent.yaml"
    document = {
        "document": {"dsl": "1.0.0", "namespace": "t", "name": "agent", "version": "1.0.0"},
        "do": [
            {"ask": {"call": "agent", "with": {"model": "scripted:echo", "input": "x", **args}}}
        ],
    }
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    ("args", "path", "problem"),
    [
        ({"budget": {"maxSteps": 3}}, "$.do[0].ask.with.budget", "unknown keys ['maxSteps']"),
        ({"tools": "think"}, "$.do[0].ask.with.tools", "must be a list"),
        ({"tool": ["think"]}, "$.do[0].ask.with.tool", "is not an argument of call: agent"),
        ({"budget": {"maxDuration": "soon"}}, "$.do[0].ask.with.budget", "maxDuration"),
    ],
)
def test_a_malformed_call_is_refused_at_load(
    tmp_path: Path, args: dict[str, Any], path: str, problem: str
) -> None:
    with pytest.raises(DefinitionError) as refused:
        load_document(_document(tmp_path, args))
    assert path in str(refused.value)
    assert problem in str(refused.value)


def test_expressions_are_left_for_run_time(tmp_path: Path) -> None:
    document = load_document(
        _document(tmp_path, {"tools": "${ .tools }", "budget": {"maxToolCalls": "${ .n }"}})
    )
    assert document.name == "agent"
