"""The benchmark's outputs: a table on stdout, results/latest.json and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from handshake_bench import ack_auth, replicas

GOALS = {
    "delivery p99 at 100 concurrent < 100 ms":
        lambda r: r["delivery_overhead_ms"]["100"]["p99"] < 100,
    "delivery p50 at 1 < 30 ms": lambda r: r["delivery_overhead_ms"]["1"]["p50"] < 30,
    "throughput ratio vs bare >= 0.4": lambda r: r["throughput_ratio_vs_bare"] >= 0.4,
    "zigflow RSS pending <= 1.1 x idle": lambda r: r["pending"]["zigflow_rss_ratio_vs_idle"] <= 1.1,
    "pending calls: no caller attempt beyond the first":
        lambda r: r["pending"]["caller_attempts_beyond_first"] == 0,
    "pending calls: <= 4 server RPCs per call per minute to keep it alive":
        lambda r: r["pending"]["caller_liveness_rpcs_per_call_per_min"] <= 4,
    "pending calls: orchestrator RSS <= 1.2 x idle + 10 KB per call":
        lambda r: r["pending"]["orchestrator_rss_pending_mb"]
        <= r["pending"]["orchestrator_rss_limit_mb"],
    "agent loop p50 per step at 1 agent < 15 ms":
        lambda r: r["agent_step_overhead_ms"]["1"]["agent_ms"]["p50"] < 15,
    "ACK p50 with a JWT <= 1.2 x without (1 caller)":
        lambda r: r["ack_auth"]["jwt_vs_none"]["1"]["p50_ratio"] <= 1.2,
    "ACK p50 with a JWT <= 1.2 x without (100 at once)":
        lambda r: r["ack_auth"]["jwt_vs_none"]["100"]["p50_ratio"] <= 1.2,
    "ACK p50 everything on, 100 at once < 20 ms":
        lambda r: r["ack_auth"]["all_on"]["ack_ms"]["p50"] < 20,
    "ACK p99 everything on, 100 at once < 100 ms":
        lambda r: r["ack_auth"]["all_on"]["ack_ms"]["p99"] < 100,
}  # fmt: skip


def table(results: dict[str, Any]) -> str:
    lines = ["", "delivery overhead (agent end -> caller completed), ms"]
    for concurrency, figures in results["delivery_overhead_ms"].items():
        lines.append(
            f"  {concurrency:>4} concurrent  p50 {figures['p50']:>7}  p95 {figures['p95']:>7}"
            f"  p99 {figures['p99']:>7}  (n={figures['n']})"
        )
    ack = results["ack_latency_ms"]
    lines.append(f"StartAgent ACK, ms        p50 {ack['p50']}  p99 {ack['p99']}")
    if "ack_auth" in results:
        lines += ack_auth.report_lines(results["ack_auth"])
    tp = results["throughput"]
    lines.append(
        f"throughput ({tp['calls']} calls)  handshake {tp['handshake_calls_per_s']}/s"
        f"  bare {tp['bare_calls_per_s']}/s  ratio {results['throughput_ratio_vs_bare']}"
    )
    cpu = tp.get("cpu_ms_per_call")
    if cpu:
        for side in ("handshake", "bare"):
            shares = ", ".join(
                f"{name} {ms}" for name, ms in cpu[side].items() if name != "total" and ms >= 0.05
            )
            lines.append(f"  CPU per call, {side:<9} {cpu[side]['total']} ms ({shares})")
    if "replicas" in results:
        lines += replicas.report_lines(results["replicas"])
    pending = results["pending"]
    lines.append(
        f"{pending['calls']} pending         zigflow RSS {pending['zigflow_rss_idle_mb']} ->"
        f" {pending['zigflow_rss_pending_mb']} MB (x{pending['zigflow_rss_ratio_vs_idle']};"
        f" {pending.get('zigflow_rss_quarter_mb')} MB at a quarter, then"
        f" {pending.get('zigflow_kb_per_call_past_quarter')} KB per further call),"
        f" CPU {pending['zigflow_cpu_idle']} -> {pending['zigflow_cpu_pending']} cores,"
        f" slots used {pending['slots_used']}, heartbeat RPCs {pending['heartbeat_rps']}/s,"
        f" orchestrator {pending['orchestrator_kb_per_pending_agent']} KB/agent"
    )
    if "server_rpcs_per_call_per_min" in pending:
        lines.append(
            f"  against {pending['orchestrator_slots']} orchestrator slots: server RPCs per call"
            f" per minute {pending['caller_liveness_rpcs_per_call_per_min']} to keep it alive,"
            f" {pending['step_heartbeat_rpcs_per_call_per_min']} of its agent's step heartbeats,"
            f" {pending['server_rpcs_per_call_per_min']} in all; orchestrator RSS"
            f" {pending['orchestrator_rss_idle_mb']} -> {pending['orchestrator_rss_pending_mb']}"
            f" MB (limit {pending['orchestrator_rss_limit_mb']}), caller attempts beyond the"
            f" first {pending['caller_attempts_beyond_first']}"
        )
    if "keeper_beat_limit" in pending:
        lines.append(
            f"  keeper: beats started at most {pending['keeper_beat_lateness_p50_le_s']} s"
            f" (p50) / {pending['keeper_beat_lateness_p99_le_s']} s (p99) late,"
            f" {pending['keeper_beat_limit']:.0f} allowed in flight"
        )
    alt = results["alternatives"]
    lines.append(
        f"alternatives ({alt['agents']} agents x {alt['agent_seconds']} s, {alt['slots']} slots)"
        f"  handshake {alt['handshake_s']} s  blocking {alt['blocking_s']} s"
        f"  polling {alt['polling_s']} s (RPCs: {alt['polling_rpcs']})"
    )
    lines.append("agent loop, per step (model time excluded), ms")
    for concurrency, figures in results["agent_step_overhead_ms"].items():
        agent, bare = figures["agent_ms"], figures["bare_activity_ms"]
        lines.append(
            f"  {concurrency:>4} agents  p50 {agent['p50']:>7}  p99 {agent['p99']:>7}"
            f"  (n={agent['n']})   bare activity p50 {bare['p50']}  p99 {bare['p99']}"
            f"   ratio p50 {figures['p50_ratio_vs_bare']}"
        )
    lines.append("goals:")
    for goal, check in GOALS.items():
        lines.append(f"  [{'met' if check(results) else 'MISSED'}] {goal}")
    return "\n".join(lines)


def write(results: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    latest = out_dir / "latest.json"
    latest.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    written = [latest]

    figure, axis = plt.subplots(figsize=(6, 3.5))
    overhead = results["delivery_overhead_ms"]
    levels = list(overhead)
    for quantile in ("p50", "p95", "p99"):
        axis.plot(levels, [overhead[c][quantile] for c in levels], marker="o", label=quantile)
    axis.axhline(100, color="grey", linestyle="--", linewidth=0.8, label="goal p99 @100")
    axis.set_xlabel("concurrent calls")
    axis.set_ylabel("ms")
    axis.set_title("Delivery overhead: agent end -> caller completed")
    axis.legend()
    figure.tight_layout()
    path = out_dir / "delivery_overhead.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    written.append(path)

    alt = results["alternatives"]
    figure, axis = plt.subplots(figsize=(6, 3.5))
    names = ["handshake", "blocking", "polling"]
    axis.bar(names, [alt[f"{name}_s"] for name in names], color=["#2a9d8f", "#e76f51", "#e9c46a"])
    axis.set_ylabel("wall time, s")
    axis.set_title(f"{alt['agents']} agents x {alt['agent_seconds']} s with {alt['slots']} slots")
    figure.tight_layout()
    path = out_dir / "alternatives.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    written.append(path)
    return written
