"""Every service's /metrics counts what really happened, and the pending-call gauge comes
from Temporal's durable state: it survives a restart of every process."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from temporalio.client import WorkflowFailureError

from agent_contract import RUNNING_AGENTS_QUERY, caller_request_id
from callback_token import CallbackSigner, KeyRing
from devstack import SERVICES
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from stigma.agent.v1.callback_pb2 import SignedCallback
from tests.observability_support import Observed, Samples, total
from tests.reliability_support import agent_of, status_of
from tests.support import eventually, start_dsl, unique

SPEC = agent_pb2.AgentSpec(name="metered", input="count me", model="scripted:echo")


def _token(keys: str, request_id: str, *, now: datetime | None = None) -> bytes:
    """A validly signed envelope around a task token that Temporal does not know, bound to
    ``request_id`` (made by :func:`_caller_request_id`) and SPEC."""
    workflow_id, run_id, activity_id = request_id.split("/")
    return CallbackSigner(KeyRing.parse(keys)).sign(
        namespace="default",
        workflow_id=workflow_id,
        run_id=run_id,
        activity_id=activity_id,
        attempt=1,
        task_token=b"not-a-task-token",
        request_id=request_id,
        spec=SPEC,
        valid_for=timedelta(hours=1),
        now=now,
    )


def _caller_request_id() -> str:
    """The request id of a made-up caller's call: a token is only valid with its own."""
    return caller_request_id(workflow_id=unique("nobody"), run_id="run", activity_id="1")


def _tampered(keys: str) -> bytes:
    signed = SignedCallback.FromString(_token(keys, _caller_request_id()))
    return SignedCallback(
        target=signed.target + b"\x00", key_id=signed.key_id, signature=signed.signature
    ).SerializeToString()


async def _all(observed: Observed) -> dict[str, Samples]:
    names = list(observed.stack.metrics_targets())
    scraped = await asyncio.gather(*(observed.metrics(name) for name in names))
    return dict(zip(names, scraped, strict=True))


async def _phase(stub: agent_pb2_grpc.AgentServiceStub, execution_id: str) -> int:
    reply = await stub.GetExecution(agent_pb2.GetExecutionRequest(execution_id=execution_id))
    return int(reply.execution.phase)


async def test_every_metric_counts_successes_failures_rejections_and_stale_callbacks(
    observed: Observed,
) -> None:
    stack = observed.stack
    before = await _all(observed)
    async with stack.stigma_channel() as channel:
        stigma = agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]

        # A Zigflow call that succeeds (2 steps) and one that fails at its second step.
        handle = await start_dsl(
            stack.client, "observed-call", {"input": "ok", "parameters": {"steps": "2"}}
        )
        await handle.result()
        failing = await start_dsl(stack.client, "failing-agent", {"question": "fail?"})
        with pytest.raises(WorkflowFailureError):
            await failing.result()

        # Fire-and-forget, then a late token for that finished run: its stored outcome is
        # redelivered to a caller Temporal does not know, so the callback is stale.
        request_id = _caller_request_id()
        ack = await stigma.StartAgent(agent_pb2.StartAgentRequest(request_id=request_id, spec=SPEC))

        async def finished() -> bool:
            return await _phase(stigma, ack.execution_id) == agent_pb2.EXECUTION_PHASE_COMPLETED

        await eventually(finished)
        late = await stigma.StartAgent(
            agent_pb2.StartAgentRequest(
                request_id=request_id,
                spec=SPEC,
                callback_token=_token(stack.callback_keys, request_id),
            )
        )
        assert late.already_running

        # Two refused tokens: a tampered one and an expired one.
        for token in (
            _tampered(stack.callback_keys),
            _token(
                stack.callback_keys,
                _caller_request_id(),
                now=datetime.now(UTC) - timedelta(hours=2),
            ),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stigma.StartAgent(
                    agent_pb2.StartAgentRequest(
                        request_id=unique("bad"), spec=SPEC, callback_token=token
                    )
                )
            assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT

    api, orchestrator, ai, zigflow = (
        "stigma-api",
        "stigma-orchestrator",
        "ai-worker",
        "zigflow-worker",
    )
    expected: dict[tuple[str, str, str], float] = {
        (api, "stigma_start_agent_requests_total", "mode=callback,code=OK"): 3,
        (api, "stigma_start_agent_requests_total", "mode=fire_and_forget,code=OK"): 1,
        (api, "stigma_start_agent_requests_total", "code=INVALID_ARGUMENT"): 2,
        (api, "stigma_start_agent_duration_seconds_count", ""): 6,
        (api, "stigma_token_rejections_total", "reason=bad_signature"): 1,
        (api, "stigma_token_rejections_total", "reason=expired"): 1,
        (orchestrator, "stigma_callback_deliveries_total", "outcome=completed"): 1,
        (orchestrator, "stigma_callback_deliveries_total", "outcome=failed"): 1,
        (orchestrator, "stigma_callback_deliveries_total", "outcome=stale"): 1,
        (orchestrator, "stigma_callback_deliveries_total", "outcome=error"): 0,
        (orchestrator, "stigma_callback_delivery_latency_seconds_count", ""): 2,
        (orchestrator, "stigma_agent_executions_total", "outcome=completed"): 2,
        (orchestrator, "stigma_agent_executions_total", "outcome=failed"): 1,
        (orchestrator, "stigma_agent_execution_duration_seconds_count", ""): 3,
        (ai, "stigma_agent_steps_total", "outcome=ok"): 4,
        (ai, "stigma_agent_steps_total", "outcome=ScriptedFailure"): 1,
        # The think call between the two model calls of each Zigflow call.
        (orchestrator, "stigma_agent_tool_calls_total", "tool=think,outcome=ok"): 2,
        (zigflow, "zigflow_start_agent_calls_total", "code=OK"): 2,
    }
    deltas: dict[tuple[str, str, str], float] = {}

    def value(samples: dict[str, Samples], key: tuple[str, str, str]) -> float:
        service, name, labels = key
        wanted = dict(pair.split("=") for pair in labels.split(",") if pair)
        return total(samples[service], name, **wanted)

    async def counted() -> bool:
        after = await _all(observed)
        for key in expected:
            deltas[key] = value(after, key) - value(before, key)
        return deltas == expected

    try:
        await eventually(counted, within=20)
    except AssertionError:
        wrong = {k: (deltas.get(k), want) for k, want in expected.items() if deltas.get(k) != want}
        raise AssertionError(f"(got, expected) per metric: {wrong}") from None

    # Tokens by provider, model and kind (the scripted model's counts are estimates).
    after = await _all(observed)
    for kind in ("input", "output"):
        used = total(
            after[orchestrator],
            "stigma_agent_tokens_total",
            provider="scripted",
            model="echo",
            kind=kind,
        ) - total(
            before[orchestrator],
            "stigma_agent_tokens_total",
            provider="scripted",
            model="echo",
            kind=kind,
        )
        assert used > 0, kind

    # The Temporal SDK's metrics are on the same endpoints.
    for service, (_, task_queue) in SERVICES.items():
        assert total(after[service], "temporal_request_total") > 0, service
        if task_queue is not None:  # the Temporal workers (stigma-api is a client only)
            slots = total(
                after[service], "temporal_worker_task_slots_available", task_queue=task_queue
            )
            assert slots > 0, service


async def _pending(observed: Observed) -> tuple[float, float]:
    samples = await observed.metrics("stigma-api")
    return (
        total(samples, "stigma_pending_agent_calls"),
        total(samples, "stigma_oldest_pending_agent_call_age_seconds"),
    )


async def test_pending_gauge_reads_durable_state_and_survives_restarting_every_process(
    observed: Observed,
) -> None:
    stack = observed.stack
    calls = 3
    handles = [
        await start_dsl(
            stack.client,
            "observed-call",
            {"input": f"wait {i}", "parameters": {"steps": "1", "delay_ms": "600000"}},
        )
        for i in range(calls)
    ]

    async def all_pending() -> bool:
        count, age = await _pending(observed)
        return count == calls and age > 0

    # Counted once they outlive the caller's first beat (60 s heartbeat / 3).
    await eventually(all_pending, within=60)
    _, age_before = await _pending(observed)

    await observed.restart_all()

    # A fresh stigma-api reads the same numbers back from Temporal, and the age kept growing.
    await eventually(all_pending, within=60)
    _, age_after = await _pending(observed)
    assert age_after > age_before

    # The restarted orchestrator keeps the callers alive again.
    async def heartbeating() -> bool:
        samples = await observed.metrics("stigma-orchestrator")
        return total(samples, "stigma_caller_heartbeats_total", result="ok") >= calls

    await eventually(heartbeating)

    cancelled_before = total(
        await observed.metrics("stigma-orchestrator"),
        "stigma_callback_deliveries_total",
        outcome="cancelled",
    )
    async with stack.stigma_channel() as channel:
        stigma = agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
        running = stack.client.list_workflows(RUNNING_AGENTS_QUERY)
        async for execution in running:
            await stigma.CancelExecution(
                agent_pb2.CancelExecutionRequest(execution_id=execution.id, reason="test")
            )
    for handle in handles:
        with pytest.raises(WorkflowFailureError):
            await handle.result()

    async def none_pending() -> bool:
        return await _pending(observed) == (0, 0)

    await eventually(none_pending)
    cancelled = total(
        await observed.metrics("stigma-orchestrator"),
        "stigma_callback_deliveries_total",
        outcome="cancelled",
    )
    assert cancelled - cancelled_before == calls


async def test_a_caller_the_keep_alive_finds_gone_counts_as_a_stale_delivery(
    observed: Observed,
) -> None:
    stack = observed.stack
    caller = await start_dsl(
        stack.client,
        "observed-call",
        {"input": "abandoned", "parameters": {"steps": "1", "delay_ms": "600000"}},
    )
    agent = await agent_of(stack.client, caller.id)

    async def kept_alive() -> bool:
        description = await caller.describe()
        return any(
            pending.HasField("last_heartbeat_time")
            for pending in description.raw_description.pending_activities
        )

    await eventually(kept_alive, within=60)  # the first caller beat: the keep-alive runs
    before = await observed.metrics("stigma-orchestrator")
    await caller.terminate("the caller's workflow is gone")

    async def counted() -> bool:
        after = await observed.metrics("stigma-orchestrator")
        stale = "stigma_callback_deliveries_total"
        return total(after, stale, outcome="stale") - total(before, stale, outcome="stale") == 1

    try:
        # Found at the keep-alive's next caller beat (a third of the 60 s heartbeat timeout).
        await eventually(counted, within=60)
        status = await status_of(agent)
        assert [cb.state for cb in status.callbacks] == ["stale"]
    finally:
        await agent.terminate("test over")
