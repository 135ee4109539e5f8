"""StartAgent input checks. Every refusal names the field and what is wrong with it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent_contract import AgentSpecData
from stigma.agent.v1.agent_pb2 import AgentSpec, StartAgentRequest

MAX_REQUEST_ID_BYTES = 512
MAX_NAME_BYTES = 256
MAX_KEY_BYTES = 128


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
    _mapping("spec.labels", spec.labels, limits)
    # Each field may be within its own limit and the whole still too large for one
    # Temporal payload (2 MB): refuse it here rather than as an opaque Temporal error.
    total = spec.ByteSize()
    if total > limits.max_spec_bytes:
        raise InvalidRequest(
            "spec", f"is {total} bytes in all; the limit is {limits.max_spec_bytes}"
        )
    return AgentSpecData(
        input=spec.input,
        model=spec.model,
        name=spec.name,
        instructions=spec.instructions,
        max_steps=spec.max_steps,
        parameters=dict(spec.parameters),
        labels=dict(spec.labels),
    )


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
