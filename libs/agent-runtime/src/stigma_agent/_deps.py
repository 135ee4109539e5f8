"""What every model and tool activity of a run is given (Pydantic AI's ``deps``).

It crosses into each activity of the run, so it stays small: the run's identity, what the
spec granted, and the provider knobs. It must round-trip through Temporal's Pydantic
payload converter, hence a plain dataclass of plain fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent_contract import ToolGrant


@dataclass
class RunDeps:
    execution_id: str
    """The agent execution (``agent-<request_id>``): names child workflows, labels logs."""
    tools: list[ToolGrant] = field(default_factory=list)
    """The tools the spec granted; any other tool is hidden from the model."""
    parameters: dict[str, str] = field(default_factory=dict)
    """The spec's provider parameters (the scripted model reads its script here)."""
    agent_name: str = ""
    max_tool_result_bytes: int = 16 * 1024
    """Largest tool result handed back to the model (the rest is cut, with a note)."""

    def grant(self, tool: str) -> ToolGrant | None:
        """The spec's grant of a built-in tool, if any."""
        return next((g for g in self.tools if g.name == tool), None)
