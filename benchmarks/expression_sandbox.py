"""The cost per evaluation of the expression sandbox (dsl/sandbox.py) against jq in-process.

The same fields, with the same data and variables as a task of a real run, are rendered
both ways, interleaved sample by sample: by ``InProcessEvaluator`` (jq in the calling
process, as the worker did before) and by an ``ExpressionSandbox`` of two processes (as
the worker does now: one round trip per field, a field's expressions in one batch).

    uv run --frozen python benchmarks/expression_sandbox.py              # 2000 samples per case
    uv run --frozen python benchmarks/expression_sandbox.py --samples 300  # quick

Figures (microseconds per field) go to stdout and benchmarks/results/expression-sandbox.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from devstack import REPO_ROOT
from handshake_bench.stats import summary
from zigflow.dsl.expressions import IN_PROCESS, Evaluator, render
from zigflow.dsl.sandbox import ExpressionSandbox

RESULTS = REPO_ROOT / "benchmarks" / "results" / "expression-sandbox.json"
WORKFLOW = {
    "id": "bench-0123456789",
    "runId": "9f1c6e9e-2f43-4d5e-9a55-0123456789ab",
    "definition": {"dsl": "1.0.0", "namespace": "bench", "name": "bench", "version": "1.0.0"},
    "input": {"topic": "durable workflows"},
    "startedAt": "2026-01-01T10:00:00+00:00",
}
VARIABLES: dict[str, Any] = {
    "input": {"topic": "durable workflows", "requester": "newcomer"},
    "context": {"agent": "agent-req-1"},
    "secrets": {},
    "runtime": {"name": "zigflow", "version": "0.1.0"},
    "workflow": WORKFLOW,
    "task": {"name": "step", "reference": "/do/0/step", "input": {"n": 1}},
}
ITEMS = [{"id": n, "name": f"item-{n}", "price": n * 1.5, "tags": ["a", "b"]} for n in range(500)]


@dataclass(frozen=True)
class Case:
    name: str
    value: Any
    data: Any


CASES = (
    Case("one small expression (`if: ${ .n > 0 }`)", "${ .n > 0 }", {"n": 1}),
    Case(
        "a `with` map of 5 expressions (one batch)",
        {
            "model": "scripted:echo",
            "input": '${ "Explain " + $input.topic }',
            "name": "${ $task.name }",
            "labels": {"run": "${ $workflow.id }", "agent": "${ $context.agent }"},
            "parameters": {"n": "${ .n + 1 }"},
        },
        {"n": 1},
    ),
    Case(
        "one expression over 500 items (~45 KB of data)",
        "${ [.items[] | select(.price > 100) | .name] | length }",
        {"items": ITEMS},
    ),
)


def _sample(evaluator: Evaluator, case: Case) -> float:
    started = time.perf_counter()
    render(case.value, case.data, VARIABLES, evaluator)
    return (time.perf_counter() - started) * 1e6


def measure(case: Case, sandbox: ExpressionSandbox, samples: int) -> dict[str, Any]:
    ways: dict[str, Callable[[], float]] = {
        "in_process": lambda: _sample(IN_PROCESS, case),
        "sandbox": lambda: _sample(sandbox, case),
    }
    for way in ways.values():  # warm: programs compiled on both sides
        for _ in range(20):
            way()
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(samples):
        for name, way in ways.items():
            times[name].append(way())
    figures: dict[str, Any] = {name: summary(values) for name, values in times.items()}
    figures["ratio_p50"] = round(figures["sandbox"]["p50"] / figures["in_process"]["p50"], 2)
    figures["ratio_p99"] = round(figures["sandbox"]["p99"] / figures["in_process"]["p99"], 2)
    figures["overhead_p50_us"] = round(figures["sandbox"]["p50"] - figures["in_process"]["p50"], 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="samples per case and way")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "jq": metadata.version("jq"),
        },
        "unit": "microseconds per rendered field",
        "cases": {},
    }
    with ExpressionSandbox(processes=2) as sandbox:
        for case in CASES:
            results["cases"][case.name] = measure(case, sandbox, args.samples)
    print("Expression sandbox against jq in-process: microseconds per rendered field")
    print(f"{'case':52} {'way':11} {'p50':>8} {'p99':>8}")
    for name, figures in results["cases"].items():
        for way in ("in_process", "sandbox"):
            row = figures[way]
            print(f"{name:52} {way:11} {row['p50']:8.1f} {row['p99']:8.1f}")
        print(
            f"{'':52} {'ratio':11} {figures['ratio_p50']:8.2f} {figures['ratio_p99']:8.2f}"
            f"   (+{figures['overhead_p50_us']} us at p50)"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
