"""The Temporal SDK core's log lines, as JSON lines without task tokens.

Core (Rust) logs to the console by itself unless told to forward to Python. Some of its
WARN lines carry the task token of the activity they are about ("Activity not found on
completion", "Activity heartbeat failed.", ...: ``task_token`` is a field of the event or
of its span, and core merges span fields into every event). A task token is a bearer
capability for that activity (a CallHttp's, a CallGrpc's, keep_caller_alive's), so it must
never reach a log line. Core is told to forward WARN and above to the ``temporalio.core``
logger, where :class:`CoreLogRedactor` replaces every token field by a fingerprint and
blanks any long base64 run left in a value, before the service's JSON handler sees it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from typing import Any

from temporalio.runtime import LogForwardingConfig, LoggingConfig, TelemetryFilter

CORE_LOGGER = "temporalio.core"
# WARN keeps core's operational warnings (a completion the server refused, a failed
# heartbeat) in the logs, redacted; DEBUG and TRACE lines (which log tokens far more
# often: every heartbeat and completion) are never produced.
CORE_LEVEL = "WARN"
OTHER_LEVEL = "ERROR"
# What a base64-encoded task token (or any other opaque blob) looks like in text.
_BLOB = re.compile(r"[A-Za-z0-9+/_-]{48,}={0,2}")


def _fingerprint(value: Any) -> str:
    return hashlib.sha256(str(value).encode()).hexdigest()[:12]


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _BLOB.sub("[redacted]", value)
    if isinstance(value, Mapping):
        return {str(key): _scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(item) for item in value]
    return value


def redact_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Core's event fields without tokens: ``task_token`` becomes ``task_token_fp``."""
    safe: dict[str, Any] = {}
    for key, value in fields.items():
        if "token" in key.lower():
            safe[f"{key}_fp"] = _fingerprint(value)
        else:
            safe[key] = _scrub(value)
    return safe


class CoreLogRedactor(logging.Filter):
    """Installed on the ``temporalio.core`` logger: rewrites each forwarded record so that
    it carries core's fields redacted (``core_fields``) and nothing else of core's entry."""

    def filter(self, record: logging.LogRecord) -> bool:
        entry = record.__dict__.pop("temporal_log", None)
        fields: Mapping[str, Any] = {}
        if entry is not None:
            try:
                fields = entry.fields
            except Exception:  # the SDK documents this conversion as fallible
                fields = {}
        if fields:
            record.core_fields = redact_fields(fields)
        record.msg = _scrub(record.getMessage())
        record.args = ()
        return True


def core_logging() -> LoggingConfig:
    """The Runtime's logging: core WARN and above, forwarded to ``temporalio.core``
    through :class:`CoreLogRedactor` (installed here, once per logger)."""
    logger = logging.getLogger(CORE_LOGGER)
    if not any(isinstance(existing, CoreLogRedactor) for existing in logger.filters):
        logger.addFilter(CoreLogRedactor())
    return LoggingConfig(
        filter=TelemetryFilter(core_level=CORE_LEVEL, other_level=OTHER_LEVEL),
        forwarding=LogForwardingConfig(logger=logger, append_log_fields_to_message=False),
    )
