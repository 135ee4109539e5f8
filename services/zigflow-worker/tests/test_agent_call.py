"""The halves of CallAgent: the spec from a task's ``with`` map, the request id, and the
token it signs bound to that request id and spec."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import grpc
import pytest
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from agent_contract import AgentSpecData
from callback_token import CallbackSigner, CallbackVerifier, KeyRing, TokenError, TokenRejection
from stigma.agent.v1 import agent_pb2
from zigflow.agent_call import AgentCall, AgentCallActivities, _error_type, request_id_for
from zigflow.agent_spec import spec_from_arguments


def test_full_arguments() -> None:
    spec = spec_from_arguments(
        {
            "name": "explainer",
            "model": "scripted:echo",
            "instructions": "One sentence.",
            "input": "Why?",
            "maxSteps": 5,
            "parameters": {"steps": 3, "delay_ms": "200", "verbose": True, "output": "{result}"},
            "labels": {"team": "agents", "tier": 1},
            "heartbeat": "PT30S",
        }
    )
    assert spec == AgentSpecData(
        input="Why?",
        model="scripted:echo",
        name="explainer",
        instructions="One sentence.",
        max_steps=5,
        parameters={"steps": "3", "delay_ms": "200", "verbose": "true", "output": "{result}"},
        labels={"team": "agents", "tier": "1"},
    )


def test_missing_arguments_take_defaults() -> None:
    assert spec_from_arguments({}) == AgentSpecData(input="", model="")
    assert spec_from_arguments({"parameters": None, "labels": None, "maxSteps": None}) == (
        AgentSpecData(input="", model="")
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"b": 1, "a": [1, 2]}, '{"a": [1, 2], "b": 1}'),
        ([1, "two"], '[1, "two"]'),
        (42, "42"),
        (None, "null"),
        ("already text", "already text"),
    ],
)
def test_structured_input_becomes_stable_json(value: Any, text: str) -> None:
    spec = spec_from_arguments({"input": value, "instructions": value})
    assert spec.input == text
    assert spec.instructions == text


def test_parameter_values_become_text() -> None:
    spec = spec_from_arguments({"parameters": {"map": {"y": 2, "x": 1}, 3: None}})
    assert spec.parameters == {"map": '{"x": 1, "y": 2}', "3": "null"}


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"maxSteps": "many"}, ValueError),
        ({"maxSteps": [1]}, TypeError),
        ({"parameters": ["steps", 3]}, TypeError),
        ({"parameters": "steps=3"}, TypeError),
        ({"labels": ["team"]}, TypeError),
    ],
)
def test_bad_arguments_raise_what_the_task_runner_catches(
    arguments: dict[str, Any], error: type[Exception]
) -> None:
    # run_call turns TypeError and ValueError into a DSL validation error; anything else
    # would fail the workflow task and retry forever.
    with pytest.raises(error):
        spec_from_arguments(arguments)


def info(**changes: Any) -> activity.Info:
    base = ActivityEnvironment().info
    defaults: dict[str, Any] = {
        "workflow_id": "order-42",
        "workflow_run_id": "run-1",
        "activity_id": "3",
        "attempt": 1,
        "task_token": b"token-of-attempt-1",
    }
    return dataclasses.replace(base, **{**defaults, **changes})


def test_request_id_names_workflow_run_and_activity() -> None:
    assert request_id_for(info()) == "order-42/run-1/3"


def test_request_id_is_stable_across_attempts() -> None:
    first = request_id_for(info())
    retried = request_id_for(info(attempt=4, task_token=b"token-of-attempt-4"))
    assert first == retried


@pytest.mark.parametrize(
    "changes",
    [{"workflow_id": "order-43"}, {"workflow_run_id": "run-2"}, {"activity_id": "4"}],
)
def test_request_id_differs_across_calls_and_runs(changes: dict[str, Any]) -> None:
    assert request_id_for(info(**changes)) != request_id_for(info())


def test_request_id_does_not_contain_the_task_token() -> None:
    assert "token" not in request_id_for(info(task_token=b"token-secret"))


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, "AgentRejected"),
        (grpc.StatusCode.PERMISSION_DENIED, "AgentRejected"),
        (grpc.StatusCode.UNAUTHENTICATED, "AgentRejected"),
        (grpc.StatusCode.ALREADY_EXISTS, "AgentRejected"),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, "StigmaBusy"),
        (grpc.StatusCode.UNAVAILABLE, "StigmaUnavailable"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "StigmaUnavailable"),
    ],
)
def test_start_agent_refusals_map_to_error_types_a_catch_can_match(
    code: grpc.StatusCode, expected: str
) -> None:
    assert _error_type(code) == expected


class _RecordingStub:
    """Stands in for stigma-api: keeps the request as the wire delivers it, and ACKs."""

    def __init__(self) -> None:
        self.requests: list[agent_pb2.StartAgentRequest] = []

    async def StartAgent(
        self,
        request: agent_pb2.StartAgentRequest,
        timeout: float,  # noqa: ASYNC109  (the grpc stub's signature)
    ) -> agent_pb2.StartAgentResponse:
        self.requests.append(agent_pb2.StartAgentRequest.FromString(request.SerializeToString()))
        return agent_pb2.StartAgentResponse(execution_id="agent-x", accepted=True)


async def test_the_token_is_bound_to_the_request_id_and_spec_it_travels_with() -> None:
    keys = KeyRing.parse("k1:" + "s" * 32)
    stub = _RecordingStub()
    activities = AgentCallActivities(
        stub=stub,  # type: ignore[arg-type]
        signer=CallbackSigner(keys),
        rpc_timeout=timedelta(seconds=5),
    )
    environment = ActivityEnvironment()
    environment.info = info(workflow_namespace="default", attempt=2)
    spec = AgentSpecData(
        input="Why?", model="scripted:echo", parameters={"b": "2", "a": "1"}, labels={"t": "x"}
    )
    with pytest.raises(activity._CompleteAsyncError):  # it went pending: raise_complete_async()
        await environment.run(activities.call_agent, AgentCall(spec=spec))

    (request,) = stub.requests
    assert request.request_id == "order-42/run-1/3"
    verifier = CallbackVerifier(keys, namespaces=["default"])
    verified = verifier.verify(
        request.callback_token, request_id=request.request_id, spec=request.spec
    )
    assert verified.bound
    assert verified.target.request_id == request.request_id
    assert (verified.target.workflow_id, verified.target.activity_id) == ("order-42", "3")
    assert verified.target.attempt == 2

    other = agent_pb2.AgentSpec()
    other.CopyFrom(request.spec)
    other.input = "something else"
    with pytest.raises(TokenError) as refused:
        verifier.verify(request.callback_token, request_id=request.request_id, spec=other)
    assert refused.value.reason is TokenRejection.WRONG_SPEC
