"""The four measurements of issue 7, each against the local stack."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psutil
from temporalio.client import Client
from temporalio.worker import Worker

from agent_contract import ZIGFLOW_TASK_QUEUE
from devstack import LocalStack
from handshake_bench import probes
from handshake_bench.activities import BenchActivities, RpcCounter
from handshake_bench.stats import summary
from handshake_bench.workflows import BareCompletion, BlockingAgentCall, PollingAgentCall
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc

BENCH_WORKFLOW = "bench-call"
WARM_UP_CALLS = 100
CALLER_BEAT_S = 60 / 3  # the default caller heartbeat timeout, over three
# The zigflow-worker's activity slots while calls are held: a pending call holds none of
# them (slots_used shows it). One slot also paces the StartAgent calls (about 4 a second
# here); 50 at once overloaded the dev server on two cores, the agent runs' workflow tasks
# waited up to 28 s, and 612 of the first 1,250 callers timed out before their run
# published them for the keeper (docs/scaling.md).
PENDING_ZIGFLOW_SLOTS = 1
# Issue 14's orchestrator: 100 activity slots, against far more pending calls.
ORCHESTRATOR_SLOTS = 100
# The server RPCs of pending calls are counted over a minute: every caller is beaten three
# times in it (60 s heartbeat timeout), and the keeper lists its shard twice.
RPC_WINDOW_S = 60.0
# What keeps a pending call alive on Stigma's side: the keeper's beats, its checks and
# progress reads, its listings, its reports to runs, and the failures of orphaned callers.
# The agent's own model call beats the ai-worker's activity (RecordActivityTaskHeartbeat,
# once a second for a prompt cancel): that is the agent running, counted apart.
# The RPCs clients send, not the server's calls between its own services.
FRONTEND = 'service_name="frontend"'
CALLER_LIVENESS_RPCS = frozenset(
    {
        "RecordActivityTaskHeartbeatById",
        "DescribeWorkflowExecution",
        "ListWorkflowExecutions",
        "SignalWorkflowExecution",
        "RespondActivityTaskFailedById",
    }
)


@dataclass(frozen=True)
class Sizes:
    concurrency: tuple[int, ...]
    rounds_at_1: int
    throughput_calls: int
    pending_calls: int
    alt_agents: int
    alt_seconds: float
    alt_slots: int
    window: float

    @classmethod
    def for_mode(cls, *, quick: bool) -> Sizes:
        if quick:
            return cls((1, 10, 100), 10, 200, 1000, 12, 1.0, 2, 20.0)
        return cls((1, 10, 100), 40, 1000, 10000, 40, 3.0, 4, 30.0)


async def _bounded(limit: int, jobs: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


async def _call(client: Client, *, delay_ms: int = 0) -> tuple[str, dict[str, Any]]:
    workflow_id = f"bench-{uuid.uuid4().hex[:12]}"
    result = await client.execute_workflow(
        BENCH_WORKFLOW,
        {"input": "bench", "parameters": {"delay_ms": str(delay_ms)}},
        id=workflow_id,
        task_queue=ZIGFLOW_TASK_QUEUE,
    )
    return workflow_id, result


async def delivery_overhead(stack: LocalStack, sizes: Sizes) -> dict[str, Any]:
    """Zero-work agents: agent end -> caller's activity completed, at each concurrency."""
    client = stack.client
    figures: dict[str, Any] = {}
    for concurrency in sizes.concurrency:
        rounds = sizes.rounds_at_1 if concurrency == 1 else max(1, 100 // concurrency)
        samples: list[float] = []
        for _ in range(rounds):
            done = await asyncio.gather(*(_call(client) for _ in range(concurrency)))
            for workflow_id, result in done:
                completed = await probes.caller_completed_at(client, workflow_id)
                samples.append(probes.delivery_ms(result, completed))
        figures[str(concurrency)] = summary(samples)
    return figures


async def ack_latency(stub: agent_pb2_grpc.AgentServiceStub, sizes: Sizes) -> dict[str, Any]:
    """StartAgent round trip (fire-and-forget, zero-work agents) at each concurrency."""
    figures: dict[str, Any] = {}
    everything: list[float] = []
    for concurrency in sizes.concurrency:
        samples: list[float] = []

        async def one(samples: list[float] = samples) -> None:
            started = time.perf_counter()
            await stub.StartAgent(
                agent_pb2.StartAgentRequest(
                    request_id=f"ack-{uuid.uuid4().hex}",
                    spec=agent_pb2.AgentSpec(input="ack", model="scripted:echo"),
                )
            )
            samples.append((time.perf_counter() - started) * 1000)

        for _ in range(max(1, 100 // concurrency)):
            await asyncio.gather(*(one() for _ in range(concurrency)))
        figures[str(concurrency)] = summary(samples)
        everything += samples
    return summary(everything) | {"by_concurrency": figures}


def _processes(stack: LocalStack) -> dict[str, int]:
    """Every process of the run: the services, Temporal, and this one (the bare side's
    worker and both sides' clients)."""
    pids = {name: service.pid for name, service in stack.services.items()}
    return pids | {"temporal": stack.temporal.process.pid}


def _own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


THROUGHPUT_ROUNDS = 4


class _Side:
    """One side of the throughput comparison: its wall time and CPU, summed over rounds."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self.seconds = 0.0
        self.cpu = dict.fromkeys([*pids, "bench"], 0.0)

    async def run(self, jobs: list[Callable[[], Awaitable[Any]]]) -> None:
        before = probes.cpu_seconds(self._pids) | {"bench": _own_cpu()}
        started = time.perf_counter()
        await _bounded(100, jobs)
        self.seconds += time.perf_counter() - started
        after = probes.cpu_seconds(self._pids) | {"bench": _own_cpu()}
        for name in self.cpu:
            self.cpu[name] += after[name] - before[name]


async def throughput(stack: LocalStack, bench: BenchActivities, sizes: Sizes) -> dict[str, Any]:
    """N calls through the whole stack versus N bare async completions, same server; and
    where each side's CPU goes, per process and per call (the profile behind the cuts).

    The two sides alternate in rounds (ABAB), so a slow spell of the shared machine or of
    the Temporal server's SQLite weighs on both instead of on whichever ran then.
    """
    client = stack.client
    calls = sizes.throughput_calls
    per_round = calls // THROUGHPUT_ROUNDS
    pids = _processes(stack)
    handshake, bare = _Side(pids), _Side(pids)

    async def complete(count: int) -> None:
        async with asyncio.TaskGroup() as group:
            for _ in range(count):
                token = await bench.tokens.get()
                group.create_task(client.get_async_activity_handle(task_token=token).complete("ok"))

    async def bare_call() -> Any:
        return await client.execute_workflow(
            BareCompletion.run, "x", id=f"bare-{uuid.uuid4().hex}", task_queue="bench-bare"
        )

    worker = Worker(
        client,
        task_queue="bench-bare",
        workflows=[BareCompletion],
        activities=[bench.bare_pending],
        max_concurrent_activities=100,
    )
    async with worker:
        for _ in range(THROUGHPUT_ROUNDS):
            await handshake.run([lambda: _call(client) for _ in range(per_round)])
            completer = asyncio.create_task(complete(per_round))
            await bare.run([bare_call for _ in range(per_round)])
            await completer
    done = per_round * THROUGHPUT_ROUNDS
    handshake_rate, bare_rate = done / handshake.seconds, done / bare.seconds
    return {
        "calls": done,
        "rounds": THROUGHPUT_ROUNDS,
        "cpu_ms_per_call": {
            "handshake": probes.cpu_ms_per_call(handshake.cpu, done),
            "bare": probes.cpu_ms_per_call(bare.cpu, done),
        },
        "handshake_calls_per_s": round(handshake_rate, 1),
        "bare_calls_per_s": round(bare_rate, 1),
        "throughput_ratio_vs_bare": round(handshake_rate / bare_rate, 3),
    }


async def _restart_zigflow(stack: LocalStack, slots: int) -> None:
    await stack.stop_service("zigflow-worker")
    stack.services["zigflow-worker"].env["ZIGFLOW_MAX_CONCURRENT_ACTIVITIES"] = str(slots)
    await stack.start_service("zigflow-worker")


async def _restart_orchestrator(stack: LocalStack, slots: int) -> None:
    await stack.stop_service("stigma-orchestrator")
    env = stack.services["stigma-orchestrator"].env
    env["STIGMA_ORCHESTRATOR_MAX_CONCURRENT_ACTIVITIES"] = str(slots)
    await stack.start_service("stigma-orchestrator")


async def _count_running_agents(client: Client, caller_prefix: str) -> int:
    """Running agent runs of the callers whose workflow id starts with ``caller_prefix``
    (an agent's id is ``agent-<caller id>/...``), so runs of earlier phases never count."""
    count = await client.count_workflows(
        "WorkflowType = 'AgentExecutionWorkflow' AND ExecutionStatus = 'Running'"
        f" AND WorkflowId STARTS_WITH 'agent-{caller_prefix}'"
    )
    return count.count


async def alternatives(
    stack: LocalStack, stub: agent_pb2_grpc.AgentServiceStub, sizes: Sizes
) -> dict[str, Any]:
    """N agents of d seconds with S activity slots: handshake vs blocking vs polling."""
    client = stack.client
    n, delay_ms, slots = sizes.alt_agents, int(sizes.alt_seconds * 1000), sizes.alt_slots
    figures: dict[str, Any] = {"agents": n, "agent_seconds": sizes.alt_seconds, "slots": slots}

    await _restart_zigflow(stack, slots)
    started = time.perf_counter()
    await asyncio.gather(*(_call(client, delay_ms=delay_ms) for _ in range(n)))
    figures["handshake_s"] = round(time.perf_counter() - started, 2)
    figures["handshake_rpcs"] = {"StartAgent": n}

    for name, workflow_cls in (("blocking", BlockingAgentCall), ("polling", PollingAgentCall)):
        rpcs = RpcCounter()
        activities = BenchActivities(stub, rpcs)
        worker = Worker(
            client,
            task_queue=f"bench-{name}",
            workflows=[workflow_cls],
            activities=[activities.start_agent, activities.wait_blocking, activities.poll_once],
            max_concurrent_activities=slots,
        )
        async with worker:
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    client.execute_workflow(
                        workflow_cls.run,
                        delay_ms,
                        id=f"{name}-{uuid.uuid4().hex}",
                        task_queue=f"bench-{name}",
                    )
                    for _ in range(n)
                )
            )
            figures[f"{name}_s"] = round(time.perf_counter() - started, 2)
            figures[f"{name}_rpcs"] = rpcs.calls
    return figures


async def _hold(client: Client, calls: int, *, already: int = 0) -> None:
    """Start ``calls`` agent calls held far longer than the measurement (released by the
    stack's teardown) and wait until every agent of ``already + calls`` is running."""
    hold_ms = 30 * 60 * 1000
    await _bounded(
        200,
        [
            lambda: client.start_workflow(
                BENCH_WORKFLOW,
                {"input": "held", "parameters": {"delay_ms": str(hold_ms)}},
                id=f"held-{uuid.uuid4().hex[:12]}",
                task_queue=ZIGFLOW_TASK_QUEUE,
            )
            for _ in range(calls)
        ],
    )
    # Half a second per call at least: a slow machine starts 2,000 agents in more than 600 s.
    allowed = max(600.0, 0.5 * (already + calls))
    ready_by = time.monotonic() + allowed
    while await _count_running_agents(client, "held-") < already + calls:
        if time.monotonic() > ready_by:
            raise TimeoutError(f"{already + calls} agents did not all start within {allowed:.0f} s")
        await asyncio.sleep(1)


LATENESS_BUCKETS = "stigma_keeper_beat_lateness_seconds_bucket"


async def pending_at_scale(stack: LocalStack, sizes: Sizes) -> dict[str, Any]:
    """N agent calls pending at once: what they cost the zigflow-worker and the orchestrator."""
    client = stack.client
    n = sizes.pending_calls
    await _restart_zigflow(stack, PENDING_ZIGFLOW_SLOTS)
    await _restart_orchestrator(stack, ORCHESTRATOR_SLOTS)
    # Idle means warmed up: a fresh process makes its one-time allocations (imports, jq and
    # protobuf caches, gRPC buffers) on its first calls, which are not a pending call's cost.
    await _bounded(50, [lambda: _call(client) for _ in range(WARM_UP_CALLS)])
    zig_pid = stack.services["zigflow-worker"].pid
    orch_pid = stack.services["stigma-orchestrator"].pid
    idle_zig, idle_orch = probes.usage(zig_pid), probes.usage(orch_pid)
    idle_cpu = await probes.cpu_share(zig_pid, sizes.window)
    targets = stack.metrics_targets()
    api = f"http://{targets['stigma-api']}/metrics"

    async def start_agents() -> float:
        return probes.total(
            await probes.scrape(api), "stigma_start_agent_requests_total", 'mode="callback"'
        )

    started_before = await start_agents()

    # Held in two waves: the first quarter, then the rest. Past the workflow cache (at most
    # ZIGFLOW_MAX_CACHED_WORKFLOWS runs stay in memory) a pending call should cost nothing,
    # which the growth between the waves shows.
    first_wave = n // 4
    await _hold(client, first_wave)
    quarter_zig, quarter_orch = probes.usage(zig_pid), probes.usage(orch_pid)
    await _hold(client, n - first_wave, already=first_wave)
    server = f"http://{targets['temporal']}/metrics"
    zigflow = f"http://{targets['zigflow-worker']}/metrics"
    orchestrator = f"http://{targets['stigma-orchestrator']}/metrics"

    async def counters() -> tuple[float, float]:
        caller = probes.total(await probes.scrape(orchestrator), "stigma_caller_heartbeats_total")
        every = probes.total(
            await probes.scrape(server),
            "service_requests",
            'operation="RecordActivityTaskHeartbeat"',
            # What clients sent: the dev server also counts the frontend's calls to its
            # history service under the same name (service_name="history").
            'service_name="frontend"',
        )
        return caller, every

    async def slots_used() -> float:
        return probes.total(
            await probes.scrape(zigflow),
            "temporal_worker_task_slots_used",
            'worker_type="ActivityWorker"',
        )

    # Keep-alive loops start one caller beat (a third of its 60 s heartbeat timeout) after
    # their call: measure once every pending call has been beaten at least once.
    start, _ = await counters()
    beaten_by = time.monotonic() + 10 * CALLER_BEAT_S
    while (await counters())[0] < start + n:
        if time.monotonic() > beaten_by:
            raise TimeoutError(f"{n} pending calls were not all kept alive in time")
        await asyncio.sleep(1)
    caller_before, every_before = await counters()
    used = [await slots_used()]
    pending_cpu = await probes.cpu_share(zig_pid, sizes.window)
    used.append(await slots_used())
    caller_after, every_after = await counters()
    busy_zig, busy_orch = probes.usage(zig_pid), probes.usage(orch_pid)
    # Every RPC the server answers in a minute of n pending calls, by operation.
    rpcs_before = probes.by_label(
        await probes.scrape(server), "service_requests", "operation", FRONTEND
    )
    orchestrator_before = await probes.scrape(orchestrator)
    keeper_before = probes.by_label(orchestrator_before, "stigma_keeper_rpcs_total", "rpc")
    lateness_before = probes.by_label(orchestrator_before, LATENESS_BUCKETS, "le")
    await asyncio.sleep(RPC_WINDOW_S)
    rpcs_after = probes.by_label(
        await probes.scrape(server), "service_requests", "operation", FRONTEND
    )
    orchestrator_after = await probes.scrape(orchestrator)
    keeper_after = probes.by_label(orchestrator_after, "stigma_keeper_rpcs_total", "rpc")
    lateness_after = probes.by_label(orchestrator_after, LATENESS_BUCKETS, "le")
    keeper_per_call_min = {
        rpc: (count - keeper_before.get(rpc, 0.0)) / n / (RPC_WINDOW_S / 60)
        for rpc, count in keeper_after.items()
    }
    per_call_min = {
        op: (count - rpcs_before.get(op, 0.0)) / n / (RPC_WINDOW_S / 60)
        for op, count in rpcs_after.items()
    }
    churn = await start_agents() - started_before - n
    return {
        "calls": n,
        "zigflow_slots": PENDING_ZIGFLOW_SLOTS,
        "slots_used": max(used),
        "zigflow_rss_idle_mb": round(idle_zig.rss_bytes / 2**20, 1),
        "zigflow_rss_pending_mb": round(busy_zig.rss_bytes / 2**20, 1),
        "zigflow_rss_ratio_vs_idle": round(busy_zig.rss_bytes / idle_zig.rss_bytes, 3),
        "zigflow_rss_quarter_mb": round(quarter_zig.rss_bytes / 2**20, 1),
        "zigflow_kb_per_call_past_quarter": round(
            (busy_zig.rss_bytes - quarter_zig.rss_bytes) / 1024 / (n - first_wave), 2
        ),
        "zigflow_cpu_idle": round(idle_cpu, 4),
        "zigflow_cpu_pending": round(pending_cpu, 4),
        "orchestrator_kb_per_pending_agent": round(
            (busy_orch.rss_bytes - idle_orch.rss_bytes) / 1024 / n, 1
        ),
        "orchestrator_slots": ORCHESTRATOR_SLOTS,
        "orchestrator_rss_idle_mb": round(idle_orch.rss_bytes / 2**20, 1),
        "orchestrator_rss_pending_mb": round(busy_orch.rss_bytes / 2**20, 1),
        "orchestrator_rss_quarter_mb": round(quarter_orch.rss_bytes / 2**20, 1),
        "orchestrator_kb_per_call_past_quarter": round(
            (busy_orch.rss_bytes - quarter_orch.rss_bytes) / 1024 / (n - first_wave), 2
        ),
        "orchestrator_rss_limit_mb": round((1.2 * idle_orch.rss_bytes + 10 * 1024 * n) / 2**20, 1),
        "server_rpcs_per_call_per_min": round(sum(per_call_min.values()), 2),
        "caller_liveness_rpcs_per_call_per_min": round(
            sum(v for op, v in per_call_min.items() if op in CALLER_LIVENESS_RPCS), 2
        ),
        "step_heartbeat_rpcs_per_call_per_min": round(
            per_call_min.get("RecordActivityTaskHeartbeat", 0.0), 2
        ),
        "keeper_rpcs_per_call_per_min": round(sum(keeper_per_call_min.values()), 2),
        "keeper_rpcs_by_kind": {rpc: round(v, 3) for rpc, v in sorted(keeper_per_call_min.items())},
        # How late the keeper started beats in the window (bucket bounds: "at most"), and
        # how many it let wait on the server at once at the end of it.
        "keeper_beat_lateness_p50_le_s": probes.bucket_quantile(
            lateness_before, lateness_after, 0.5
        ),
        "keeper_beat_lateness_p99_le_s": probes.bucket_quantile(
            lateness_before, lateness_after, 0.99
        ),
        "keeper_beat_limit": probes.total(orchestrator_after, "stigma_keeper_beat_limit"),
        "rpcs_per_call_per_min": {
            op: round(v, 3) for op, v in sorted(per_call_min.items()) if v >= 0.005
        },
        "caller_attempts_beyond_first": int(churn),
        "heartbeat_rps": round((caller_after - caller_before) / sizes.window, 1),
        "server_heartbeat_rpcs_per_s": round((every_after - every_before) / sizes.window, 1),
    }
