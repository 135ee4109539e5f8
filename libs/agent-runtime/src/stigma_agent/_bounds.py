"""How big things may get before Temporal's limits (2 MB per payload, 50 MB per history)
or the model's context window would: one policy, applied where text enters the run."""

from __future__ import annotations

import json
from typing import Any


def bound_text(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` UTF-8 bytes, with a note saying how much was cut."""
    data = text.encode()
    if len(data) <= limit:
        return text
    kept = data[: max(0, limit - 64)].decode(errors="ignore")
    return f"{kept}… [cut: {len(data) - len(kept.encode())} more bytes]"


def as_text(value: Any) -> str:
    """A tool result or argument as people read it (JSON for anything structured)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)
