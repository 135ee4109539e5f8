"""StartAgent input checks. Every refusal names the field and what is wrong with it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from agent_contract import (
    BUILTIN_TOOLS,
    MCP_TOOL_PREFIX,
    AgentSpecData,
    InvalidModelSetting,
    model_settings,
)
from service_kit import SettingsLoadError
from stigma.agent.v1.agent_pb2 import AgentSpec, DecideToolCallRequest, StartAgentRequest
from stigma_wire import spec_from_proto

MAX_REQUEST_ID_BYTES = 512
MAX_NAME_BYTES = 256
MAX_KEY_BYTES = 128
MAX_TOOLS = 32
MAX_ALLOW_ENTRIES = 64
MAX_TOOL_CALL_ID_BYTES = 256
MAX_REASON_BYTES = 4096
MAX_DURATION_MS = 30 * 24 * 3600 * 1000  # a month: longer budgets are a typo
_MCP_TOOL = re.compile(r"^mcp:([a-z][a-z0-9-]{0,30})(?:/([A-Za-z0-9_.-]{1,128}))?$")


class InvalidRequest(ValueError):
    """Bad input; ``field`` is the path of the offending field (``spec.input``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


@dataclass(frozen=True)
class Limits:
    providers: frozenset[str]
    max_input_bytes: int
    max_parameters: int
    max_parameter_bytes: int
    max_steps: int
    max_spec_bytes: int = 768 * 1024
    mcp_servers: frozenset[str] | None = None
    """The MCP servers the operator configured (None: not known here, names not checked)."""


def _printable(field: str, value: str, max_bytes: int, *, required: bool) -> None:
    if required and not value.strip():
        raise InvalidRequest(field, "is required and must not be blank")
    size = len(value.encode())
    if size > max_bytes:
        raise InvalidRequest(field, f"is {size} bytes; the limit is {max_bytes}")
    if any(ch in value for ch in "\x00\r\n"):
        raise InvalidRequest(field, "must not contain NUL or line breaks")


def _mapping(field: str, values: Mapping[str, str], limits: Limits) -> None:
    if len(values) > limits.max_parameters:
        raise InvalidRequest(
            field, f"has {len(values)} entries; the limit is {limits.max_parameters}"
        )
    for key, value in values.items():
        _printable(f"{field} key", key, MAX_KEY_BYTES, required=True)
        size = len(value.encode())
        if size > limits.max_parameter_bytes:
            raise InvalidRequest(
                f"{field}[{key[:40]!r}]",
                f"is {size} bytes; the limit is {limits.max_parameter_bytes}",
            )


def validate_spec(spec: AgentSpec, limits: Limits) -> AgentSpecData:
    """Return the spec as the workflows take it, or raise InvalidRequest."""
    if not spec.input.strip():
        raise InvalidRequest("spec.input", "is required and must not be empty")
    for name, value in (("spec.input", spec.input), ("spec.instructions", spec.instructions)):
        size = len(value.encode())
        if size > limits.max_input_bytes:
            raise InvalidRequest(name, f"is {size} bytes; the limit is {limits.max_input_bytes}")
    _printable("spec.name", spec.name, MAX_NAME_BYTES, required=False)
    provider, sep, model = spec.model.partition(":")
    if not sep or not provider or not model.strip():
        raise InvalidRequest(
            "spec.model", f"must look like 'provider:model' (got {spec.model[:80]!r})"
        )
    if provider not in limits.providers:
        raise InvalidRequest(
            "spec.model",
            f"unknown provider {provider[:40]!r} (known: {', '.join(sorted(limits.providers))})",
        )
    _printable("spec.model", spec.model, MAX_NAME_BYTES, required=True)
    if not 0 <= spec.max_steps <= limits.max_steps:
        raise InvalidRequest("spec.max_steps", f"must be between 0 and {limits.max_steps}")
    _mapping("spec.parameters", spec.parameters, limits)
    try:
        model_settings(spec.parameters)
    except InvalidModelSetting as err:
        raise InvalidRequest(f"spec.parameters.{err.name}", err.problem) from None
    _mapping("spec.labels", spec.labels, limits)
    _tools(spec, limits)
    _budget(spec)
    # Each field may be within its own limit and the whole still too large for one
    # Temporal payload (2 MB): refuse it here rather than as an opaque Temporal error.
    total = spec.ByteSize()
    if total > limits.max_spec_bytes:
        raise InvalidRequest(
            "spec", f"is {total} bytes in all; the limit is {limits.max_spec_bytes}"
        )
    return spec_from_proto(spec)


def _tools(spec: AgentSpec, limits: Limits) -> None:
    if len(spec.tools) > MAX_TOOLS:
        raise InvalidRequest("spec.tools", f"has {len(spec.tools)} tools; the limit is {MAX_TOOLS}")
    seen: set[str] = set()
    for index, tool in enumerate(spec.tools):
        field = f"spec.tools[{index}]"
        name = tool.name
        if name in seen:
            raise InvalidRequest(f"{field}.name", f"{name[:80]!r} is listed twice")
        seen.add(name)
        if name.startswith(MCP_TOOL_PREFIX):
            match = _MCP_TOOL.match(name)
            if match is None:
                raise InvalidRequest(
                    f"{field}.name", "MCP tools are named 'mcp:<server>' or 'mcp:<server>/<tool>'"
                )
            if limits.mcp_servers is not None and match.group(1) not in limits.mcp_servers:
                known = ", ".join(sorted(limits.mcp_servers)) or "none"
                raise InvalidRequest(
                    f"{field}.name",
                    f"no MCP server {match.group(1)!r} is configured (configured: {known})",
                )
        elif name not in BUILTIN_TOOLS:
            raise InvalidRequest(
                f"{field}.name",
                f"unknown tool {name[:80]!r} (built-in: {', '.join(BUILTIN_TOOLS)}; "
                "MCP: 'mcp:<server>[/<tool>]')",
            )
        if len(tool.allow) > MAX_ALLOW_ENTRIES:
            raise InvalidRequest(f"{field}.allow", f"has more than {MAX_ALLOW_ENTRIES} entries")
        for at, entry in enumerate(tool.allow):
            _printable(f"{field}.allow[{at}]", entry, MAX_NAME_BYTES, required=True)
        if name == "run_workflow" and not tool.allow:
            raise InvalidRequest(
                f"{field}.allow", "run_workflow needs the workflow types it may start"
            )


def _budget(spec: AgentSpec) -> None:
    budget = spec.budget
    for name in ("max_input_tokens", "max_output_tokens", "max_tool_calls"):
        if getattr(budget, name) < 0:
            raise InvalidRequest(f"spec.budget.{name}", "must not be negative")
    if budget.HasField("max_duration"):
        millis = budget.max_duration.ToMilliseconds()
        if not 0 <= millis <= MAX_DURATION_MS:
            raise InvalidRequest("spec.budget.max_duration", "must be between 0 and 30 days")
    if budget.max_cost_usd:
        try:
            cost = Decimal(budget.max_cost_usd)
        except InvalidOperation:
            raise InvalidRequest(
                "spec.budget.max_cost_usd",
                f"must be a decimal number of US dollars, got {budget.max_cost_usd[:40]!r}",
            ) from None
        if not cost.is_finite() or cost < 0:
            raise InvalidRequest("spec.budget.max_cost_usd", "must be a positive amount")


def mcp_server_names(config: Path | None) -> frozenset[str] | None:
    """The server names of the operator's MCP file (``mcpServers``), to check specs against."""
    if config is None:
        return None
    try:
        document = json.loads(config.read_text())
        return frozenset(document["mcpServers"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SettingsLoadError(f"STIGMA_MCP_CONFIG: cannot read {config}: {err}") from None


def validate_decision(request: DecideToolCallRequest) -> None:
    _printable("tool_call_id", request.tool_call_id, MAX_TOOL_CALL_ID_BYTES, required=True)
    _printable("reason", request.reason, MAX_REASON_BYTES, required=False)


def validate_start(request: StartAgentRequest, limits: Limits) -> AgentSpecData:
    """Check everything but the callback token (the verifier does that)."""
    _printable("request_id", request.request_id, MAX_REQUEST_ID_BYTES, required=True)
    if not request.HasField("spec"):
        raise InvalidRequest("spec", "is required")
    return validate_spec(request.spec, limits)


def validate_execution_id(execution_id: str) -> str:
    _printable("execution_id", execution_id, MAX_REQUEST_ID_BYTES + 16, required=True)
    if not execution_id.startswith("agent-"):
        raise InvalidRequest("execution_id", "is not an execution id (they start with 'agent-')")
    return execution_id
