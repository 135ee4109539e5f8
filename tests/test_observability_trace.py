"""One agent call is one trace across all four service processes, collected by a real
OTLP receiver: Zigflow workflow (RunWorkflow, the root) -> StartActivity:CallAgent ->
CallAgent -> StartAgent (gRPC client and server) -> agent workflow -> AI steps (with the
GenAI semantic-convention attributes) -> DeliverCallback, which links back to the caller's
CallAgent span through the traceparent in the callback token.

The workflow is started by a plain client, without Temporal's tracing interceptor (as
``zigflow run``, the Temporal UI or a schedule start it): the trace is still one, rooted
at the Zigflow run, with the run id as its trace id (docs/adr/0017)."""

from __future__ import annotations

import json
import uuid

from temporalio.client import Client

from devstack import SERVICES
from tests.observability_support import Observed, Span, total
from tests.support import eventually, start_dsl

START_AGENT_RPC = "/stigma.agent.v1.AgentService/StartAgent"


def _ancestors(span: Span, by_id: dict[str, Span]) -> list[Span]:
    chain: list[Span] = []
    current = span
    while current.parent_span_id and current.parent_span_id in by_id:
        current = by_id[current.parent_span_id]
        chain.append(current)
    return chain


def _tree(spans: list[Span]) -> str:
    return "\n".join(
        f"{s.service:20} {s.name:45} id={s.span_id} parent={s.parent_span_id} links={s.links}"
        for s in spans
    )


MODEL_CALL = "RunActivity:agent__stigma__model_request"
TOOL_CALL = "RunActivity:agent__stigma__toolset__stigma__call_tool"


async def test_an_untraced_start_gives_one_trace_rooted_at_the_zigflow_run(
    observed: Observed,
) -> None:
    receiver = observed.receiver
    # A client without any interceptor: no trace context rides on the start.
    plain = await Client.connect(observed.stack.temporal.address)
    handle = await start_dsl(
        plain, "observed-call", {"input": "trace me", "parameters": {"steps": "2"}}
    )
    await handle.result()
    run_id = handle.result_run_id
    assert run_id is not None

    def call_agent() -> Span | None:
        return next(
            (
                span
                for span in receiver.spans
                if span.name == "RunActivity:CallAgent"
                and span.attributes.get("temporalWorkflowID") == handle.id
            ),
            None,
        )

    async def caller_exported() -> bool:
        return call_agent() is not None

    await eventually(caller_exported)
    caller = call_agent()
    assert caller is not None
    assert caller.service == "zigflow-worker"

    async def whole_trace_exported() -> bool:
        spans = receiver.trace(caller.trace_id)
        names = {span.name for span in spans}
        return {
            "DeliverCallback",
            MODEL_CALL,
            TOOL_CALL,
            "execute_tool think",
            "RunWorkflow:observed-call",
            "CompleteWorkflow:observed-call",
        } <= names and {span.service for span in spans} >= set(SERVICES)

    try:
        await eventually(whole_trace_exported, within=30)
    except AssertionError:
        raise AssertionError(
            "incomplete trace:\n" + _tree(receiver.trace(caller.trace_id))
        ) from None

    spans = receiver.trace(caller.trace_id)
    by_id = {span.span_id: span for span in spans}
    described = _tree(spans)

    # DeliverCallback: in the orchestrator, under the deliver_callback activity, linked
    # to the caller's CallAgent span by the token's traceparent.
    (deliver,) = [span for span in spans if span.name == "DeliverCallback"]
    assert deliver.service == "stigma-orchestrator", described
    assert by_id[deliver.parent_span_id].name == "RunActivity:deliver_callback", described
    assert (caller.trace_id, caller.span_id) in deliver.links, described
    assert deliver.attributes["temporal.caller.workflow_id"] == handle.id

    # Its ancestry runs back through every service to the Zigflow workflow: the agent
    # workflow's activities hang under the span that started it (Temporal's interceptor
    # parents workflow-side spans on the workflow's start), which hangs under StartAgent.
    chain = [(span.service, span.name) for span in _ancestors(deliver, by_id)]
    expected_in_order = [
        ("stigma-orchestrator", "RunActivity:deliver_callback"),
        ("stigma-orchestrator", "StartActivity:deliver_callback"),
        ("stigma-api", "StartWorkflow:AgentExecutionWorkflow"),
        ("stigma-api", START_AGENT_RPC),
        ("zigflow-worker", START_AGENT_RPC),
        ("zigflow-worker", "RunActivity:CallAgent"),
        ("zigflow-worker", "StartActivity:CallAgent"),
        ("zigflow-worker", "RunWorkflow:observed-call"),
    ]
    assert chain == expected_in_order, f"{chain}\n{described}"
    # The root is the Zigflow run, derived from its run id: the trace id is the run id.
    root = _ancestors(deliver, by_id)[-1]
    assert not root.parent_span_id, described
    assert root.attributes.get("temporalWorkflowID") == handle.id, described
    assert root.attributes.get("temporalRunID") == run_id, described
    assert caller.trace_id == uuid.UUID(run_id).hex, described
    # Nothing of this run went to another trace: every span naming the workflow is here,
    # and so is the span that records its completion.
    stray = [
        s
        for s in receiver.spans
        if s.attributes.get("temporalWorkflowID") == handle.id and s.trace_id != caller.trace_id
    ]
    assert not stray, _tree(stray)
    (completed,) = [s for s in spans if s.name == "CompleteWorkflow:observed-call"]
    assert completed.parent_span_id == root.span_id, described
    # The keep-alive's per-beat status query is not in the trace (it beats at least once,
    # at the start of every call).
    assert not [s for s in spans if "Query" in s.name], described
    (agent_run,) = [s for s in spans if s.name == "RunWorkflow:AgentExecutionWorkflow"]
    assert by_id[agent_run.parent_span_id].name == "StartWorkflow:AgentExecutionWorkflow"

    # The agent's steps (two model calls, the think tool between them) hang under the same
    # agent workflow.
    steps = [span for span in spans if span.name in (MODEL_CALL, TOOL_CALL)]
    assert sorted(span.name for span in steps) == [MODEL_CALL, MODEL_CALL, TOOL_CALL], described
    for step in steps:
        assert step.service == "ai-worker"
        assert ("stigma-api", "StartWorkflow:AgentExecutionWorkflow") in [
            (span.service, span.name) for span in _ancestors(step, by_id)
        ], described

    # The agent spans speak the OpenTelemetry GenAI conventions: each model request sent
    # has a ``chat`` span with model, provider and token usage under its activity; the
    # tool call an ``execute_tool`` span naming the tool.
    chats = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert len(chats) == 2, described
    for chat in chats:
        assert chat.service == "ai-worker", described
        assert by_id[chat.parent_span_id].name == MODEL_CALL, described
        assert chat.name == "chat scripted:echo", described
        assert chat.attributes["gen_ai.request.model"] == "scripted:echo", chat.attributes
        assert chat.attributes["gen_ai.response.model"] == "scripted:echo", chat.attributes
        assert chat.attributes.get("gen_ai.provider.name") or chat.attributes.get(
            "gen_ai.system"
        ), chat.attributes
        assert int(chat.attributes["gen_ai.usage.input_tokens"]) > 0, chat.attributes
        assert int(chat.attributes["gen_ai.usage.output_tokens"]) > 0, chat.attributes
        # The text of prompts and answers stays out of spans unless the operator asks.
        assert "trace me" not in str(chat.attributes), chat.attributes
    (tool,) = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "execute_tool"]
    assert tool.name == "execute_tool think", described
    assert tool.attributes["gen_ai.tool.name"] == "think", tool.attributes
    assert by_id[tool.parent_span_id].name == TOOL_CALL, described

    # Every service's JSON log lines about this call carry the trace id; the delivery's
    # line also carries the execution id and the token's fingerprint (never the token).
    for service in SERVICES:
        lines = [
            json.loads(line)
            for line in observed.stack.services[service].log_file.read_text().splitlines()
            if caller.trace_id in line
        ]
        assert lines, f"no {service} log line with trace_id {caller.trace_id}"
        assert all(line["service"] == service for line in lines)
        assert all(line["trace_id"] == caller.trace_id and line["span_id"] for line in lines)
    delivered = [
        json.loads(line)
        for line in observed.stack.services["stigma-orchestrator"].log_file.read_text().splitlines()
        if caller.trace_id in line and "delivered" in line
    ]
    assert delivered, "no delivery log line"
    assert delivered[0]["execution_id"] == deliver.attributes["stigma.execution_id"]
    assert delivered[0]["token_fp"] == deliver.attributes["stigma.token_fp"]
    assert {"time", "level"} <= delivered[0].keys()


async def test_the_keeper_beats_add_no_spans_to_the_calls_trace(observed: Observed) -> None:
    """A 6 s caller heartbeat: the shard's keeper beats the caller every ~2 s while the 7 s
    agent runs, and lists and describes runs as it goes; none of it is a span of the call."""
    receiver = observed.receiver
    plain = await Client.connect(observed.stack.temporal.address)
    before = total(await observed.metrics("stigma-orchestrator"), "stigma_caller_heartbeats_total")
    handle = await start_dsl(
        plain, "reliability-fast", {"input": "beat", "parameters": {"delay_ms": "7000"}}
    )
    await handle.result()
    assert handle.result_run_id is not None
    trace_id = uuid.UUID(handle.result_run_id).hex

    async def delivery_exported() -> bool:
        return "DeliverCallback" in {span.name for span in receiver.trace(trace_id)}

    await eventually(delivery_exported, within=30)
    beats = (
        total(await observed.metrics("stigma-orchestrator"), "stigma_caller_heartbeats_total")
        - before
    )
    assert beats >= 2, f"the keeper beat {beats} time(s): the test proves nothing"
    spans = receiver.trace(trace_id)
    assert not [s for s in spans if "Query" in s.name or "keep" in s.name], _tree(spans)
    # Nor did the queries start traces of their own.
    execution = {s.attributes.get("temporalWorkflowID") for s in spans} - {handle.id, None}
    assert not [
        s
        for s in receiver.spans
        if "Query" in s.name and s.attributes.get("temporalWorkflowID") in execution
    ]


async def test_a_zigflow_worker_restart_keeps_the_run_in_its_trace(observed: Observed) -> None:
    """The zigflow-worker restarts while the call is pending: the new process replays the
    run, emits no second root, and what the run does next hangs under the same root."""
    receiver = observed.receiver
    plain = await Client.connect(observed.stack.temporal.address)
    handle = await start_dsl(
        plain, "observed-call", {"input": "restart", "parameters": {"delay_ms": "8000"}}
    )
    run_id = (await handle.describe()).run_id
    trace_id = uuid.UUID(run_id).hex

    async def pending() -> bool:
        return any(s.name == "RunActivity:CallAgent" for s in receiver.trace(trace_id))

    await eventually(pending, within=30)
    await observed.stack.stop_service("zigflow-worker")
    await observed.stack.start_service("zigflow-worker")
    await handle.result()

    async def completion_exported() -> bool:
        return any(s.name == "CompleteWorkflow:observed-call" for s in receiver.trace(trace_id))

    await eventually(completion_exported, within=30)
    spans = receiver.trace(trace_id)
    roots = [
        s
        for s in receiver.spans
        if s.name == "RunWorkflow:observed-call" and s.attributes.get("temporalRunID") == run_id
    ]
    assert len(roots) == 1, _tree(spans)
    (completed,) = [s for s in spans if s.name == "CompleteWorkflow:observed-call"]
    assert completed.parent_span_id == roots[0].span_id, _tree(spans)
    stray = [
        s
        for s in receiver.spans
        if s.attributes.get("temporalWorkflowID") == handle.id and s.trace_id != trace_id
    ]
    assert not stray, _tree(stray)
