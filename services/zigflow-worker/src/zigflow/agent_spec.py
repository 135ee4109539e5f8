"""The ``with`` of a ``call: agent`` task as an agent spec (checked at load and at run).

No import of the ``zigflow.dsl`` package at module level: the DSL's task runners import
this module, and the activity module imports it too.
"""

from __future__ import annotations

import json
from typing import Any

from agent_contract import AgentSpecData, Budget, ToolGrant

# The keys of a ``call: agent`` task's ``with`` (anything else is refused at load).
AGENT_ARGUMENTS = frozenset(
    {
        "model",
        "input",
        "name",
        "instructions",
        "maxSteps",
        "parameters",
        "labels",
        "heartbeat",
        "tools",
        "budget",
    }
)
TOOL_KEYS = frozenset({"name", "requiresApproval", "allow"})
BUDGET_KEYS = frozenset(
    {"maxInputTokens", "maxOutputTokens", "maxToolCalls", "maxDuration", "maxCostUsd"}
)


def spec_from_arguments(args: dict[str, Any]) -> AgentSpecData:
    """The ``with`` map of a ``call: agent`` task as an agent spec."""

    def text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)

    def mapping(key: str) -> dict[str, str]:
        values = args.get(key) or {}
        if not isinstance(values, dict):
            raise TypeError(f"{key} must be a map, got {type(values).__name__}")
        return {str(k): text(v) for k, v in values.items()}

    return AgentSpecData(
        input=text(args.get("input", "")),
        model=str(args.get("model", "")),
        name=str(args.get("name", "")),
        instructions=text(args.get("instructions", "")),
        max_steps=int(args.get("maxSteps", 0) or 0),
        parameters=mapping("parameters"),
        labels=mapping("labels"),
        tools=tools_from_arguments(args.get("tools")),
        budget=budget_from_arguments(args.get("budget")),
    )


def tools_from_arguments(value: Any) -> list[ToolGrant]:
    """``tools``: a list of tool names, or of ``{name, requiresApproval, allow}`` maps."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"tools must be a list, got {type(value).__name__}")
    grants = []
    for index, entry in enumerate(value):
        if isinstance(entry, str):
            grants.append(ToolGrant(name=entry))
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise TypeError(f"tools[{index}] must be a tool name or a map with a name")
        unknown = set(entry) - TOOL_KEYS
        if unknown:
            raise ValueError(f"tools[{index}] has unknown keys {sorted(unknown)}")
        allow = entry.get("allow") or []
        if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
            raise TypeError(f"tools[{index}].allow must be a list of strings")
        grants.append(
            ToolGrant(
                name=entry["name"],
                requires_approval=bool(entry.get("requiresApproval", False)),
                allow=list(allow),
            )
        )
    return grants


def budget_from_arguments(value: Any) -> Budget:
    """``budget``: ``maxInputTokens``, ``maxOutputTokens``, ``maxToolCalls``, ``maxDuration``
    (an ISO 8601 duration or a duration map) and ``maxCostUsd``."""
    if value is None:
        return Budget()
    if not isinstance(value, dict):
        raise TypeError(f"budget must be a map, got {type(value).__name__}")
    unknown = set(value) - BUDGET_KEYS
    if unknown:
        raise ValueError(f"budget has unknown keys {sorted(unknown)}")
    duration = value.get("maxDuration")
    return Budget(
        max_input_tokens=int(value.get("maxInputTokens", 0) or 0),
        max_output_tokens=int(value.get("maxOutputTokens", 0) or 0),
        max_tool_calls=int(value.get("maxToolCalls", 0) or 0),
        max_duration_ms=_milliseconds(duration) if duration else 0,
        max_cost_usd=str(value.get("maxCostUsd", "") or ""),
    )


def _milliseconds(value: Any) -> int:
    from zigflow.dsl.durations import parse_duration

    return int(parse_duration(value, where="budget.maxDuration").total_seconds() * 1000)
