"""Throughput with one and with two instances of every Python service, against the same
Temporal server in the same run (issue 16's benchmark).

One stack is started with two instances of each service; the one-instance side stops the
second instances (SIGTERM, drained), the two-instance side starts them again. The sides
alternate in rounds (ABAB) so that a slow spell of the shared machine weighs on both. Each
round runs its calls 100 at a time through the whole handshake (a Zigflow workflow calling
a zero-work agent). CPU is summed per kind of process across its instances, and the
machine's CPU use over the round says whether adding processes could help at all: on a
machine whose cores are already saturated, a second instance only competes for them.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import REPO_ROOT, SERVICES, LocalStack, StackConfig
from handshake_bench import probes
from handshake_bench.scenarios import _bounded, _call, _own_cpu

CONCURRENCY = 100
SATURATED = 0.85
"""Share of the machine's cores busy above which the run is called CPU-bound."""


@dataclass
class _Tally:
    """One side's wall time and CPU seconds per kind of process, summed over its rounds."""

    calls: int = 0
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    async def run(self, stack: LocalStack, calls: int) -> None:
        pids = _running(stack)
        before = _cpu_by_kind(stack, pids)
        started = time.perf_counter()
        await _bounded(CONCURRENCY, [lambda: _call(stack.client) for _ in range(calls)])
        self.seconds += time.perf_counter() - started
        after = _cpu_by_kind(stack, pids)
        for kind, seconds in after.items():
            self.cpu[kind] = self.cpu.get(kind, 0.0) + seconds - before.get(kind, 0.0)
        self.calls += calls

    def figures(self) -> dict[str, Any]:
        cores = os.cpu_count() or 1
        busy = sum(self.cpu.values()) / (self.seconds * cores)
        return {
            "calls": self.calls,
            "calls_per_s": round(self.calls / self.seconds, 1),
            "cpu_ms_per_call": probes.cpu_ms_per_call(self.cpu, self.calls),
            "machine_cpu_busy": round(busy, 2),
        }


def _running(stack: LocalStack) -> dict[str, int]:
    pids = {name: process.pid for name, process in stack.services.items() if process.running}
    return pids | {"temporal": stack.temporal.process.pid}


def _cpu_by_kind(stack: LocalStack, pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each kind of process (a service's instances summed)."""
    by_kind: dict[str, float] = {"bench": _own_cpu()}
    for name, seconds in probes.cpu_seconds(pids).items():
        kind = stack.instances.get(name, name)
        by_kind[kind] = by_kind.get(kind, 0.0) + seconds
    return by_kind


async def _instances(stack: LocalStack, count: int) -> None:
    for name in SERVICES:
        second = f"{name}-2"
        if count == 1 and stack.services[second].running:
            await stack.stop_service(second)
        elif count == 2 and not stack.services[second].running:
            await stack.start_service(second)


def _bottleneck(one: dict[str, Any], two: dict[str, Any], ratio: float) -> str:
    per_call = two["cpu_ms_per_call"]
    heaviest = max((k for k in per_call if k != "total"), key=lambda k: per_call[k])
    if one["machine_cpu_busy"] >= SATURATED:
        return (
            f"CPU-bound: the machine's {os.cpu_count()} cores were {one['machine_cpu_busy']:.0%} "
            f"busy with one instance of each service, so a second instance competes for the "
            f"same cores (ratio {ratio:.2f}); the heaviest process per call is {heaviest} "
            f"({per_call[heaviest]} ms of {per_call['total']} ms)"
        )
    return (
        f"not CPU-bound ({one['machine_cpu_busy']:.0%} of the cores busy with one instance); "
        f"ratio {ratio:.2f}; the heaviest process per call is {heaviest} "
        f"({per_call[heaviest]} ms of {per_call['total']} ms)"
    )


async def scaling(*, quick: bool) -> dict[str, Any]:
    per_round, rounds = (60, 2) if quick else (200, 3)
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as state:
        config = StackConfig(
            state_dir=Path(state),
            workflows_dir=REPO_ROOT / "benchmarks" / "workflows",
            headless=True,
            replicas=dict.fromkeys(SERVICES, 2),
        )
        async with LocalStack(config) as stack:
            await _bounded(CONCURRENCY, [lambda: _call(stack.client) for _ in range(20)])
            sides = {1: _Tally(), 2: _Tally()}
            for _ in range(rounds):
                for count, tally in sides.items():
                    await _instances(stack, count)
                    await tally.run(stack, per_round)
    one, two = sides[1].figures(), sides[2].figures()
    ratio = two["calls_per_s"] / one["calls_per_s"]
    return {
        "rounds": rounds,
        "calls_per_round": per_round,
        "concurrency": CONCURRENCY,
        "one_instance": one,
        "two_instances": two,
        "ratio_two_vs_one": round(ratio, 2),
        "bottleneck": _bottleneck(one, two, ratio),
    }


def report_lines(results: dict[str, Any]) -> list[str]:
    one, two = results["one_instance"], results["two_instances"]
    return [
        "replicas: 1 vs 2 instances of every service, same Temporal server "
        f"({results['rounds']} rounds of {results['calls_per_round']} calls each)",
        f"  1 instance   {one['calls_per_s']:>6} calls/s  cores busy {one['machine_cpu_busy']:.0%}"
        f"  CPU/call {one['cpu_ms_per_call']['total']} ms",
        f"  2 instances  {two['calls_per_s']:>6} calls/s  cores busy {two['machine_cpu_busy']:.0%}"
        f"  CPU/call {two['cpu_ms_per_call']['total']} ms",
        f"  ratio 2/1    {results['ratio_two_vs_one']}: {results['bottleneck']}",
    ]
