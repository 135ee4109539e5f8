"""One agent call is one trace across all four service processes, collected by a real
OTLP receiver: Zigflow workflow (StartActivity:CallAgent) -> CallAgent -> StartAgent
(gRPC client and server) -> agent workflow -> AI steps -> DeliverCallback, which links
back to the caller's CallAgent span through the traceparent in the callback token."""

from __future__ import annotations

import json

from devstack import SERVICES
from tests.observability_support import Observed, Span
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


async def test_one_trace_covers_all_four_services_and_links_the_delivery_to_the_caller(
    observed: Observed,
) -> None:
    receiver = observed.receiver
    handle = await start_dsl(
        observed.stack.client, "observed-call", {"input": "trace me", "parameters": {"steps": "2"}}
    )
    await handle.result()

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
        return {"DeliverCallback", MODEL_CALL, TOOL_CALL} <= names and {
            span.service for span in spans
        } >= set(SERVICES)

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
    ]
    assert chain[: len(expected_in_order)] == expected_in_order, f"{chain}\n{described}"
    root = _ancestors(deliver, by_id)[-1]
    assert root.service == "zigflow-worker", described
    assert not root.parent_span_id, described
    # One trace per agent call: it starts in the Zigflow workflow, where it schedules
    # CallAgent (a caller that starts the workflow with a traced client gets its own
    # StartWorkflow span above it, and so one trace for the whole workflow).
    assert root.name == "StartActivity:CallAgent", described
    assert root.attributes.get("temporalWorkflowID") == handle.id, described
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
