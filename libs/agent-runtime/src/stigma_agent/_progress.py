"""What the running model step has produced so far, for people watching the run.

The ai-worker puts a ``StepProgress`` in a context variable around each activity and sends
``details()`` with every heartbeat; stigma-api reads them back from the workflow's pending
activities (GetExecution, WatchExecution) and the keep-alive passes them to the caller.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.messages import (
    ModelResponseStreamEvent,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ThinkingPart,
    ThinkingPartDelta,
    ToolCallPart,
    ToolCallPartDelta,
)

PARTIAL_TAIL_CHARS = 2000
"""How much of the streamed text a heartbeat carries (its end: the newest words)."""


@dataclass
class StepProgress:
    """Counts and the tail of the text streamed by one model request."""

    chars: int = 0
    thinking_chars: int = 0
    tool_calls: list[str] = field(default_factory=list)
    _tail: str = ""

    def observe(self, event: ModelResponseStreamEvent) -> None:
        if isinstance(event, PartStartEvent):
            part = event.part
            if isinstance(part, TextPart):
                self._text(part.content)
            elif isinstance(part, ThinkingPart):
                self.thinking_chars += len(part.content)
            elif isinstance(part, ToolCallPart):
                self.tool_calls.append(part.tool_name)
        elif isinstance(event, PartDeltaEvent):
            delta = event.delta
            if isinstance(delta, TextPartDelta):
                self._text(delta.content_delta)
            elif isinstance(delta, ThinkingPartDelta):
                self.thinking_chars += len(delta.content_delta or "")
            elif isinstance(delta, ToolCallPartDelta) and delta.tool_name_delta:
                if self.tool_calls:
                    self.tool_calls[-1] += delta.tool_name_delta
                else:
                    self.tool_calls.append(delta.tool_name_delta)

    def _text(self, text: str) -> None:
        self.chars += len(text)
        self._tail = (self._tail + text)[-PARTIAL_TAIL_CHARS:]

    @property
    def partial_output(self) -> str:
        return self._tail

    def details(self) -> dict[str, Any]:
        """The heartbeat details (JSON): small and bounded whatever the model streams."""
        return {
            "partial_output": self._tail,
            "chars": self.chars,
            "thinking_chars": self.thinking_chars,
            "tool_calls": self.tool_calls[-20:],
        }


_CURRENT: ContextVar[StepProgress | None] = ContextVar("stigma_step_progress", default=None)


def current_progress() -> StepProgress | None:
    """The progress of the activity running in this task (None outside the ai-worker)."""
    return _CURRENT.get()


def track_progress(progress: StepProgress) -> object:
    """Make ``progress`` current; returns the token ``untrack_progress`` takes."""
    return _CURRENT.set(progress)


def untrack_progress(token: object) -> None:
    _CURRENT.reset(token)  # type: ignore[arg-type]
