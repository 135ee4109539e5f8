"""What tool bodies need from the process they run in, without module-level state.

The ai-worker sets it around each activity (an interceptor); tools read it. Outside the
ai-worker there is none, and a tool that needs it says where it must run.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from egress_policy import EgressPolicy


@dataclass(frozen=True)
class ToolRuntime:
    egress: EgressPolicy
    """Where ``http_fetch`` may go (the same policy as the DSL's ``call: http``)."""
    fetch_timeout: float = 30.0
    """Connect and read timeout of one ``http_fetch``."""


_CURRENT: ContextVar[ToolRuntime | None] = ContextVar("stigma_tool_runtime", default=None)


def current_tool_runtime() -> ToolRuntime:
    runtime = _CURRENT.get()
    if runtime is None:
        raise RuntimeError("this tool runs only in the ai-worker (no tool runtime here)")
    return runtime


def use_tool_runtime(runtime: ToolRuntime) -> object:
    """Make ``runtime`` current for this task; returns the token to reset it with."""
    return _CURRENT.set(runtime)


def reset_tool_runtime(token: object) -> None:
    _CURRENT.reset(token)  # type: ignore[arg-type]
