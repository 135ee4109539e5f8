"""The SDK core's log lines reach the JSON logs without the task tokens they carry."""

from __future__ import annotations

import base64
import io
import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from service_kit._core_logs import CORE_LOGGER, core_logging, redact_fields
from service_kit._logs import JsonFormatter

# What core writes for a task token: base64 of its bytes (TaskToken's Display), or
# ``TaskToken(<base64>)`` (its Debug form).
RAW_TOKEN = b"\n$01a22321-d05f-7267-aadb-d322cc59004a\x12\rvictim-7f5016" + secrets.token_bytes(64)
TOKEN = base64.b64encode(RAW_TOKEN).decode()


@dataclass
class CoreEntry:
    """A core log entry as the bridge hands it to Python (BufferedLogEntry)."""

    message: str
    fields: dict[str, Any] = field(default_factory=dict)
    target: str = "temporalio_sdk_core::worker::activities"
    level: int = logging.WARNING
    time: float = 1_700_000_000.0


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The service's JSON handler on the root logger, writing into a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("zigflow-worker"))
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def _forward(*entries: CoreEntry) -> None:
    config = core_logging()
    assert config.forwarding is not None
    config.forwarding._on_logs(entries)  # the SDK's own forwarding path


def test_core_forwards_warnings_and_errors_only() -> None:
    config = core_logging()
    formatted = config.filter if isinstance(config.filter, str) else config.filter.formatted()
    assert formatted.startswith("ERROR,")
    assert "temporalio_sdk_core=WARN" in formatted
    assert "DEBUG" not in formatted
    assert "TRACE" not in formatted
    assert config.forwarding is not None
    assert config.forwarding.logger.name == CORE_LOGGER


@pytest.mark.parametrize(
    ("message", "fields"),
    [
        (  # sdk-core worker/activities.rs: a completion the server refused
            "Activity not found on completion. This may happen if the activity has already "
            "been cancelled but completed anyway.",
            {"task_token": f"TaskToken({TOKEN})", "details": "Status { code: NotFound }"},
        ),
        ("Activity heartbeat failed.", {"task_token": TOKEN, "details": "Unknown"}),
        (  # a span field merged into another event of complete_activity_task
            "Network error while completing activity",
            {"task_token": TOKEN, "status": "completed", "error": "transport error"},
        ),
        ("Something new that quotes " + TOKEN, {"details": f"failed for {TOKEN}"}),
    ],
)
def test_a_core_line_with_a_task_token_reaches_the_json_logs_without_it(
    json_lines: io.StringIO, message: str, fields: dict[str, Any]
) -> None:
    _forward(CoreEntry(message=message, fields=fields))
    text = json_lines.getvalue()
    (line,) = text.splitlines()
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"].startswith(f"{CORE_LOGGER}-sdk_core::")
    assert entry["service"] == "zigflow-worker"
    for form in (TOKEN, TOKEN.rstrip("="), TOKEN[:40], RAW_TOKEN.hex()):
        assert form not in text
    assert "temporal_log" not in entry
    if "task_token" in fields:
        assert len(entry["core_fields"]["task_token_fp"]) == 12
        assert "task_token" not in entry["core_fields"]


def test_lines_without_tokens_keep_their_fields(json_lines: io.StringIO) -> None:
    _forward(CoreEntry(message="Poll failed", fields={"error": "deadline", "attempt": 3}))
    entry = json.loads(json_lines.getvalue())
    assert entry["core_fields"] == {"error": "deadline", "attempt": 3}
    assert entry["message"].endswith("Poll failed")


def test_debug_lines_are_not_forwarded(json_lines: io.StringIO) -> None:
    _forward(CoreEntry(message="Activity not found when recording heartbeat", level=10))
    assert json_lines.getvalue() == ""


def test_redaction_of_nested_values() -> None:
    assert redact_fields({"nested": {"blob": TOKEN}, "items": [TOKEN, "ok"]}) == {
        "nested": {"blob": "[redacted]"},
        "items": ["[redacted]", "ok"],
    }
