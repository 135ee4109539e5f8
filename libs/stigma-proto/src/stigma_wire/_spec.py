from __future__ import annotations

from google.protobuf.duration_pb2 import Duration

from agent_contract import AgentSpecData, Budget, ToolGrant
from stigma.agent.v1 import agent_pb2


def spec_to_proto(spec: AgentSpecData) -> agent_pb2.AgentSpec:
    budget = spec.budget
    duration = Duration()
    duration.FromMilliseconds(budget.max_duration_ms)
    return agent_pb2.AgentSpec(
        name=spec.name,
        instructions=spec.instructions,
        input=spec.input,
        model=spec.model,
        max_steps=spec.max_steps,
        parameters=spec.parameters,
        labels=spec.labels,
        tools=[
            agent_pb2.ToolSpec(
                name=tool.name, requires_approval=tool.requires_approval, allow=tool.allow
            )
            for tool in spec.tools
        ],
        budget=agent_pb2.AgentBudget(
            max_input_tokens=budget.max_input_tokens,
            max_output_tokens=budget.max_output_tokens,
            max_tool_calls=budget.max_tool_calls,
            max_duration=duration if budget.max_duration_ms else None,
            max_cost_usd=budget.max_cost_usd,
        ),
    )


def spec_from_proto(spec: agent_pb2.AgentSpec) -> AgentSpecData:
    """A field-for-field copy; the checks are stigma-api's (validation.py)."""
    budget = spec.budget
    return AgentSpecData(
        input=spec.input,
        model=spec.model,
        name=spec.name,
        instructions=spec.instructions,
        max_steps=spec.max_steps,
        parameters=dict(spec.parameters),
        labels=dict(spec.labels),
        tools=[
            ToolGrant(name=t.name, requires_approval=t.requires_approval, allow=list(t.allow))
            for t in spec.tools
        ],
        budget=Budget(
            max_input_tokens=budget.max_input_tokens,
            max_output_tokens=budget.max_output_tokens,
            max_tool_calls=budget.max_tool_calls,
            max_duration_ms=budget.max_duration.ToMilliseconds()
            if budget.HasField("max_duration")
            else 0,
            max_cost_usd=budget.max_cost_usd,
        ),
    )
