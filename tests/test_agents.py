"""Real agents through the whole stack: streaming model calls of a minute, provider errors,
tools (built-in and MCP), approvals, budgets, a crash and a cancellation mid-stream, and a
500-step run that continues as new and replays.

The models are the OpenAI- and Anthropic-compatible doubles of tests/doubles (real HTTP, real
SSE, real SDK clients), the MCP servers real ones over stdio and streamable HTTP.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from agent_contract import AGENT_BUDGET_EXCEEDED_ERROR, MODEL_REQUEST_ACTIVITIES
from devstack import LocalStack
from stigma.agent.v1 import agent_pb2
from stigma_orchestrator.worker import replayer
from stigmactl.cli import amain as stigmactl
from tests.agents_support import (
    ANTHROPIC_MODEL,
    API_KEY,
    OPENAI_MODEL,
    Agents,
    agents_api,
    agents_stack,
    model_steps,
    tool_steps,
    tools,
)
from tests.doubles import (
    CutStream,
    GarbageBody,
    HttpError,
    MalformedStream,
    McpHttpServer,
    ModelServer,
    Outcome,
    RecordedRequest,
    Reply,
    ToolCall,
    mcp_http_server,
)
from tests.reliability_support import agent_of, pending_call
from tests.support import eventually, history_events, start_dsl

LONG_ANSWER = " ".join(f"word{n}" for n in range(120))


@pytest.fixture(scope="module")
async def models() -> AsyncIterator[ModelServer]:
    async with ModelServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture(scope="module")
async def mcp() -> AsyncIterator[McpHttpServer]:
    async with mcp_http_server() as server:
        yield server


@pytest.fixture(scope="module")
async def agents(
    tmp_path_factory: pytest.TempPathFactory, models: ModelServer, mcp: McpHttpServer
) -> AsyncIterator[LocalStack]:
    async with agents_stack(tmp_path_factory.mktemp("agents"), models, mcp) as stack:
        yield stack


@pytest.fixture(scope="module")
async def api(agents: LocalStack) -> AsyncIterator[Agents]:
    async with agents_api(agents) as connected:
        yield connected


class NewRequests:
    """The model requests made since a test began (the double serves the whole module)."""

    def __init__(self, models: ModelServer) -> None:
        self._models = models
        self._first = len(models.requests)

    @property
    def all(self) -> Sequence[RecordedRequest]:
        return self._models.requests[self._first :]

    async def wait_for(self, number: int) -> RecordedRequest:
        return await self._models.wait_for_request(self._first + number - 1)


@pytest.fixture
def requests(models: ModelServer) -> NewRequests:
    assert models.pending == 0, "a previous test left replies queued"
    return NewRequests(models)


def spec(**fields: Any) -> agent_pb2.AgentSpec:
    fields.setdefault("model", OPENAI_MODEL)
    fields.setdefault("input", "What do durable agents need?")
    return agent_pb2.AgentSpec(**fields)


def seconds(value: float) -> Duration:
    duration = Duration()
    duration.FromMilliseconds(int(value * 1000))
    return duration


# -- long model calls ------------------------------------------------------------------------


async def test_a_model_that_answers_after_a_minute_completes_under_a_10s_heartbeat_timeout(
    agents: LocalStack, api: Agents, models: ModelServer, requests: NewRequests
) -> None:
    # Headers at once, then 45 s of silence (a reasoning model), then 15 s of streaming.
    models.enqueue(
        Reply(
            text=LONG_ANSWER,
            time_to_first_token=timedelta(seconds=45.0),
            stream_time=timedelta(seconds=15.0),
        )
    )
    began = time.monotonic()
    caller = await start_dsl(
        agents.client, "agent-real", {"model": OPENAI_MODEL, "input": "think for a minute"}
    )
    agent = await agent_of(agents.client, caller.id)

    # While it streams, the partial output reaches API readers and the caller's heartbeats.
    streaming = await api.wait(agent.id, until=lambda e: len(e.partial_output) > 20, within=90)
    assert LONG_ANSWER.startswith(streaming.partial_output)

    async def caller_sees_partial_output() -> bool:
        pending = await pending_call(caller)
        if pending is None or not pending.heartbeat_details.payloads:
            return False
        converter = agents.client.data_converter.payload_converter
        details = converter.from_payload(pending.heartbeat_details.payloads[0])
        return bool(details.get("partial_output"))

    await eventually(caller_sees_partial_output, within=30)
    result: dict[str, Any] = await caller.result()
    elapsed = time.monotonic() - began

    assert result["output"] == LONG_ANSWER
    assert elapsed > 60
    (request,) = requests.all  # one attempt: no heartbeat timeout, no retry
    assert request.stream
    assert request.outcome is Outcome.COMPLETED
    print(f"\n60 s model answer: the caller completed after {elapsed:.1f} s")


# -- provider errors ----------------------------------------------------------------------------


async def test_429_waits_for_retry_after_then_succeeds(
    api: Agents, models: ModelServer, requests: NewRequests
) -> None:
    models.enqueue(
        Reply(
            fault=HttpError(
                status=429, message="Rate limit reached", retry_after=timedelta(seconds=3)
            )
        ),
        Reply(text="after the rate limit"),
    )
    execution = await api.run(spec())

    assert execution.phase == agent_pb2.EXECUTION_PHASE_COMPLETED
    assert execution.output == "after the rate limit"
    first, second = requests.all
    assert second.received_at - first.received_at >= 3.0


async def test_500_is_retried(api: Agents, models: ModelServer, requests: NewRequests) -> None:
    models.enqueue(Reply(fault=HttpError(status=500)), Reply(text="second time lucky"))
    execution = await api.run(spec())

    assert execution.output == "second time lucky"
    assert len(requests.all) == 2


async def test_401_fails_at_once_with_the_providers_own_message(
    api: Agents, models: ModelServer, requests: NewRequests
) -> None:
    models.enqueue(Reply(fault=HttpError(status=401, message="Incorrect API key provided: sk-x")))
    execution = await api.run(spec())

    assert execution.phase == agent_pb2.EXECUTION_PHASE_FAILED
    assert "Incorrect API key provided" in execution.error
    assert "401" in execution.error
    assert len(requests.all) == 1


@pytest.mark.parametrize(
    "fault",
    [GarbageBody(), MalformedStream(after_events=3)],
    ids=["garbage-body", "malformed-stream"],
)
async def test_an_answer_that_is_not_the_protocol_fails_with_a_named_error(
    api: Agents, models: ModelServer, requests: NewRequests, fault: Any
) -> None:
    models.enqueue(Reply(text=LONG_ANSWER, fault=fault))
    execution = await api.run(spec())

    assert execution.phase == agent_pb2.EXECUTION_PHASE_FAILED
    assert execution.error.startswith("ModelProtocolError: ")
    assert len(requests.all) == 1


@pytest.mark.parametrize("graceful", [False, True], ids=["connection-dropped", "ended-early"])
async def test_a_stream_cut_in_the_middle_is_retried_and_the_whole_answer_kept(
    agents: LocalStack,
    api: Agents,
    models: ModelServer,
    requests: NewRequests,
    graceful: bool,
) -> None:
    models.enqueue(
        Reply(text=LONG_ANSWER, fault=CutStream(after_events=5, graceful=graceful)),
        Reply(text=LONG_ANSWER),
    )
    execution_id = await api.start(spec())
    execution = await api.wait(execution_id)

    assert execution.output == LONG_ANSWER  # never the cut half
    assert [request.outcome for request in requests.all] == [Outcome.CUT, Outcome.COMPLETED]
    handle = agents.client.get_workflow_handle(execution_id)
    (failed,) = await history_events(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    # One model activity, two attempts: the cut was its first attempt's failure.
    assert failed.activity_task_started_event_attributes.attempt == 2
    failure: Any = failed.activity_task_started_event_attributes.last_failure
    said = ""
    while failure is not None and failure.ByteSize():
        said += f" {failure.message} {failure.application_failure_info.type}"
        failure = failure.cause if failure.HasField("cause") else None
    assert ("ModelStreamTruncated" if graceful else "Connection error") in said


async def test_an_anthropic_model_calls_a_tool_through_the_loop(
    api: Agents, models: ModelServer, requests: NewRequests
) -> None:
    models.enqueue(
        Reply(tool_calls=[ToolCall(name="current_time", arguments={"timezone": "UTC"})]),
        Reply(text="It is a fine time for durable agents."),
    )
    execution = await api.run(spec(model=ANTHROPIC_MODEL, tools=tools("current_time")))

    assert execution.output == "It is a fine time for durable agents."
    assert [(s.kind, s.tool) for s in execution.steps] == [
        (agent_pb2.STEP_KIND_MODEL, ""),
        (agent_pb2.STEP_KIND_TOOL, "current_time"),
        (agent_pb2.STEP_KIND_MODEL, ""),
    ]
    assert json.loads(tool_steps(execution)[0].message)["iso"]
    first, second = requests.all
    assert [tool["name"] for tool in first.tools] == ["current_time"]
    assert "tool_result" in json.dumps(second.messages)


# -- tools ------------------------------------------------------------------------------------


async def test_mcp_tools_over_stdio_and_http_run_as_steps(
    api: Agents, models: ModelServer, requests: NewRequests
) -> None:
    models.enqueue(
        Reply(
            tool_calls=[
                ToolCall(name="facts_lookup", arguments={"key": "answer"}),
                ToolCall(name="calc_add", arguments={"a": 2, "b": 3}),
            ]
        ),
        Reply(text="42 and 5"),
    )
    execution = await api.run(
        spec(tools=[agent_pb2.ToolSpec(name="mcp:facts"), agent_pb2.ToolSpec(name="mcp:calc/add")])
    )

    assert execution.phase == agent_pb2.EXECUTION_PHASE_COMPLETED, execution.error
    results = {step.tool: (step.outcome, step.message) for step in tool_steps(execution)}
    assert results == {"facts_lookup": ("ok", "42"), "calc_add": ("ok", "5")}
    offered = sorted(tool["function"]["name"] for tool in requests.all[0].tools)
    # All of facts' tools, only calc's add: the spec granted no more.
    assert offered == ["calc_add", "facts_add", "facts_fail", "facts_lookup", "facts_slow_echo"]


async def test_a_spec_naming_an_mcp_server_the_operator_has_not_configured_is_refused(
    api: Agents,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await api.start(spec(tools=tools("mcp:nowhere")))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "spec.tools[0].name" in (refused.value.details() or "")
    assert "calc, facts, guarded" in (refused.value.details() or "")


async def test_http_fetch_obeys_the_egress_policy(api: Agents, models: ModelServer) -> None:
    models.enqueue(
        Reply(tool_calls=[ToolCall(name="http_fetch", arguments={"url": models.url + "/v1"})]),
        Reply(text="could not fetch"),
    )
    execution = await api.run(spec(tools=tools("http_fetch")))

    (fetch,) = tool_steps(execution)
    assert fetch.outcome == "error"
    assert "refused by the egress policy" in fetch.message
    assert "127.0.0.1" in fetch.message


# -- approvals --------------------------------------------------------------------------------


def _scripted_time_check() -> agent_pb2.AgentSpec:
    script = [{"tool": "current_time", "args": {"timezone": "UTC"}}, {"text": "{tool_result}"}]
    return spec(
        model="scripted:echo",
        parameters={"script": json.dumps(script)},
        tools=tools("current_time", approval=("current_time",)),
    )


async def test_a_rejected_tool_call_is_given_to_the_model_as_its_result(api: Agents) -> None:
    execution_id = await api.start(_scripted_time_check())
    waiting = await api.wait(execution_id, until=lambda e: bool(e.pending_approvals))
    (pending,) = waiting.pending_approvals
    assert (pending.tool, json.loads(pending.arguments)) == ("current_time", {"timezone": "UTC"})

    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await api.decide(execution_id, "no-such-call", approve=True)
    assert unknown.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "tool_call_id" in (unknown.value.details() or "")

    await api.decide(execution_id, pending.tool_call_id, approve=False, reason="not in prod")
    execution = await api.wait(execution_id)

    assert execution.output == "An operator rejected this call: not in prod"
    (step,) = tool_steps(execution)
    assert (step.tool, step.outcome) == ("current_time", "rejected")


async def test_an_approval_through_stigmactl_lets_the_call_run_while_the_caller_waits(
    agents: LocalStack, api: Agents
) -> None:
    script = [{"tool": "current_time", "args": {"timezone": "UTC"}}, {"text": "{tool_result}"}]
    caller = await start_dsl(
        agents.client,
        "agent-real",
        {
            "model": "scripted:echo",
            "input": "what time is it?",
            "parameters": {"script": json.dumps(script)},
            "tools": [{"name": "current_time", "requiresApproval": True}],
        },
    )
    agent = await agent_of(agents.client, caller.id)
    waiting = await api.wait(agent.id, until=lambda e: bool(e.pending_approvals))
    (pending,) = waiting.pending_approvals
    requested = pending.requested_at.ToDatetime().timestamp()

    # The caller (heartbeat timeout 6 s) keeps being kept alive while nobody decides.
    async def beaten_well_after_the_request() -> bool:
        call = await pending_call(caller)
        return call is not None and call.last_heartbeat_time.seconds > requested + 8

    await eventually(beaten_well_after_the_request, within=30)
    listed = io.StringIO()
    assert await stigmactl(["approvals", "--json"], client=agents.client, out=listed) == 0
    assert {row["tool_call_id"] for row in json.loads(listed.getvalue())} >= {pending.tool_call_id}
    decided = io.StringIO()
    code = await stigmactl(
        ["approve", agent.id, pending.tool_call_id, "--stigma-address", agents.stigma_address],
        out=decided,
    )
    assert code == 0, decided.getvalue()
    result: dict[str, Any] = await caller.result()

    assert json.loads(result["output"])["iso"]
    (started,) = await history_events(caller, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    assert started.activity_task_started_event_attributes.attempt == 1


async def test_an_operator_can_require_approval_for_every_tool_of_an_mcp_server(
    api: Agents, models: ModelServer
) -> None:
    models.enqueue(
        Reply(tool_calls=[ToolCall(name="guarded_add", arguments={"a": 1, "b": 1})]),
        Reply(text="two"),
    )
    # The spec does not ask for approval; the operator's configuration does.
    execution_id = await api.start(spec(tools=tools("mcp:guarded/add")))
    waiting = await api.wait(execution_id, until=lambda e: bool(e.pending_approvals))
    await api.decide(execution_id, waiting.pending_approvals[0].tool_call_id, approve=True)
    execution = await api.wait(execution_id)

    assert [(s.tool, s.outcome, s.message) for s in tool_steps(execution)] == [
        ("guarded_add", "ok", "2")
    ]


# -- budgets ---------------------------------------------------------------------------------


def _thinker(steps: int, **fields: Any) -> agent_pb2.AgentSpec:
    return spec(
        model="scripted:echo", parameters={"steps": str(steps)}, tools=tools("think"), **fields
    )


@pytest.mark.parametrize(
    ("case", "field"),
    [
        (_thinker(5, max_steps=2), "max_steps"),
        (_thinker(5, budget=agent_pb2.AgentBudget(max_tool_calls=2)), "budget.max_tool_calls"),
        (
            _thinker(5, budget=agent_pb2.AgentBudget(max_input_tokens=120)),
            "budget.max_input_tokens",
        ),
        (
            _thinker(9, budget=agent_pb2.AgentBudget(max_output_tokens=40)),
            "budget.max_output_tokens",
        ),
        (
            spec(
                model="scripted:echo",
                parameters={"delay_ms": "60000"},
                budget=agent_pb2.AgentBudget(max_duration=seconds(2)),
            ),
            "budget.max_duration_ms",
        ),
        (_thinker(5, budget=agent_pb2.AgentBudget(max_cost_usd="0.10")), "budget.max_cost_usd"),
    ],
    ids=["steps", "tool-calls", "input-tokens", "output-tokens", "duration", "cost"],
)
async def test_each_budget_ends_the_run_with_agent_budget_exceeded(
    api: Agents, case: agent_pb2.AgentSpec, field: str
) -> None:
    execution = await api.run(case, within=60)

    assert execution.phase == agent_pb2.EXECUTION_PHASE_FAILED
    assert execution.error_type == AGENT_BUDGET_EXCEEDED_ERROR
    assert execution.error.startswith(field + ":"), execution.error


async def test_the_cost_of_a_run_comes_from_the_price_table(
    api: Agents, models: ModelServer
) -> None:
    models.enqueue(Reply(text="short"))
    execution = await api.run(spec())

    usage = execution.usage
    expected = (usage.input_tokens + usage.output_tokens) * 5000 / 1_000_000
    assert float(usage.cost_usd) == pytest.approx(expected)


async def test_a_dsl_catch_matches_a_budget_by_its_type(agents: LocalStack) -> None:
    caller = await start_dsl(
        agents.client,
        "agent-real",
        {
            "model": "scripted:echo",
            "input": "too long",
            "parameters": {"steps": "6"},
            "tools": ["think"],
            "budget": {"maxToolCalls": 2},
        },
    )
    result: dict[str, Any] = await caller.result()

    assert result["overBudget"] is True
    assert "budget.max_tool_calls" in result["detail"]


# -- crashes and cancellation mid-stream ---------------------------------------------------------


async def test_a_killed_ai_worker_mid_stream_retries_the_step_and_records_it_once(
    agents: LocalStack, api: Agents, models: ModelServer, requests: NewRequests
) -> None:
    models.enqueue(
        Reply(text=LONG_ANSWER, stream_time=timedelta(seconds=30.0)),
        Reply(text="from the new worker"),
    )
    execution_id = await api.start(spec())
    await api.wait(execution_id, until=lambda e: len(e.partial_output) > 0, within=30)

    await agents.kill_service("ai-worker")
    await agents.start_service("ai-worker")
    execution = await api.wait(execution_id, within=90)

    assert execution.output == "from the new worker"
    assert len(model_steps(execution)) == 1  # the lost attempt is not a step
    first, second = requests.all
    assert first.outcome is Outcome.CLIENT_DISCONNECTED
    assert second.outcome is Outcome.COMPLETED


async def test_cancelling_the_run_aborts_the_model_request_within_two_seconds(
    api: Agents, models: ModelServer, requests: NewRequests
) -> None:
    models.enqueue(Reply(text=LONG_ANSWER, stream_time=timedelta(seconds=120.0)))
    execution_id = await api.start(spec())
    await api.wait(execution_id, until=lambda e: len(e.partial_output) > 0, within=30)

    cancelled_at = time.monotonic()
    await api.stub.CancelExecution(agent_pb2.CancelExecutionRequest(execution_id=execution_id))
    (request,) = requests.all
    outcome = await request.wait_ended()

    assert outcome is Outcome.CLIENT_DISCONNECTED
    assert request.ended_at is not None
    aborted_after = request.ended_at - cancelled_at
    assert aborted_after < 2.0
    print(f"\nthe model request was aborted {aborted_after:.2f} s after the cancel")
    execution = await api.wait(execution_id)
    assert execution.phase == agent_pb2.EXECUTION_PHASE_CANCELLED


# -- long runs -----------------------------------------------------------------------------------


@pytest.mark.timeout(900)
async def test_a_500_step_agent_continues_as_new_delivers_once_and_every_run_replays(
    agents: LocalStack,
) -> None:
    caller = await start_dsl(
        agents.client,
        "agent-long",
        {
            "model": "scripted:echo",
            "input": "a long task",
            "parameters": {"steps": "500"},
            "tools": ["think"],
            "maxSteps": 500,
        },
    )
    result: dict[str, Any] = await caller.result()

    assert result["output"] == "a long task"
    assert result["usage"]["steps"] == 500
    assert result["usage"]["tool_calls"] == 499
    agent = agents.client.get_workflow_handle(result["execution_id"])
    runs = [
        execution.run_id
        async for execution in agents.client.list_workflows(f"WorkflowId = '{agent.id}'")
    ]
    assert len(runs) >= 3, "expected the run to continue as new"
    replaying = replayer()
    for run_id in runs:
        handle = agents.client.get_workflow_handle(agent.id, run_id=run_id)
        history: WorkflowHistory = await handle.fetch_history()
        replayed = await replaying.replay_workflow(history, raise_on_replay_failure=False)
        assert replayed.replay_failure is None, str(replayed.replay_failure)
        scheduled = {
            e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        }
        assert scheduled & set(MODEL_REQUEST_ACTIVITIES)
    # Delivered once, to the caller's first attempt.
    (started,) = await history_events(caller, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    assert started.activity_task_started_event_attributes.attempt == 1
