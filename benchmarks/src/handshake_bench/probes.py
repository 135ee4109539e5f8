"""What the benchmark reads off the running system: history events, process usage, metrics."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psutil
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client


async def caller_completed_at(client: Client, workflow_id: str) -> datetime:
    """When Temporal recorded the caller's CallAgent activity as completed."""
    handle = client.get_workflow_handle(workflow_id)
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            return event.event_time.ToDatetime(tzinfo=UTC)
    raise LookupError(f"{workflow_id}: no completed activity")


def delivery_ms(result: dict[str, Any], completed_at: datetime) -> float:
    """Agent's end (its workflow's finish time) to the caller's activity completing."""
    ended = datetime.fromisoformat(result["finished_at"])
    return (completed_at - ended).total_seconds() * 1000


@dataclass(frozen=True)
class Usage:
    rss_bytes: int
    cpu_seconds: float


def usage(pid: int) -> Usage:
    process = psutil.Process(pid)
    times = process.cpu_times()
    return Usage(rss_bytes=process.memory_info().rss, cpu_seconds=times.user + times.system)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each named process (and its children, for launchers)."""
    used: dict[str, float] = {}
    for name, pid in pids.items():
        process = psutil.Process(pid)
        total = 0.0
        for member in [process, *process.children(recursive=True)]:
            try:
                times = member.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        used[name] = total
    return used


def cpu_ms_per_call(used: dict[str, float], calls: int) -> dict[str, float]:
    """Each process's CPU milliseconds per call, from its CPU seconds over ``calls`` calls."""
    per_call = {name: round(seconds * 1000 / calls, 2) for name, seconds in used.items()}
    return per_call | {"total": round(sum(per_call.values()), 2)}


async def cpu_share(pid: int, window: float) -> float:
    """Fraction of one core the process used over ``window`` seconds."""
    before = usage(pid).cpu_seconds
    await asyncio.sleep(window)
    return (usage(pid).cpu_seconds - before) / window


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<labels>\{[^}]*\})?\s+(?P<value>\S+)")


async def scrape(url: str) -> list[tuple[str, str, float]]:
    """(metric name, label text, value) of every sample at a Prometheus endpoint."""

    def fetch() -> str:
        with urllib.request.urlopen(url, timeout=10) as response:
            return str(response.read().decode())

    samples = []
    for line in (await asyncio.to_thread(fetch)).splitlines():
        if line.startswith("#") or not (match := _SAMPLE.match(line)):
            continue
        try:
            value = float(match["value"])
        except ValueError:
            continue
        samples.append((match["name"], match["labels"] or "", value))
    return samples


def total(samples: list[tuple[str, str, float]], name: str, *label_parts: str) -> float:
    return sum(
        value
        for metric, labels, value in samples
        if metric == name and all(part in labels for part in label_parts)
    )


def by_label(
    samples: list[tuple[str, str, float]], name: str, label: str, *label_parts: str
) -> dict[str, float]:
    """The samples called ``name`` (with ``label_parts``) summed by one of their labels."""
    pattern = re.compile(rf'{label}="([^"]*)"')
    sums: dict[str, float] = {}
    for metric, labels, value in samples:
        if metric != name or not all(part in labels for part in label_parts):
            continue
        if found := pattern.search(labels):
            sums[found.group(1)] = sums.get(found.group(1), 0.0) + value
    return sums


def bucket_quantile(before: dict[str, float], after: dict[str, float], q: float) -> float | None:
    """The upper bound of the histogram bucket holding quantile ``q`` of what was observed
    between two scrapes of its ``_bucket`` samples (by ``le``); None if nothing was."""
    counts = sorted((float(le), after[le] - before.get(le, 0.0)) for le in after if le != "+Inf")
    observed = after.get("+Inf", 0.0) - before.get("+Inf", 0.0)
    if observed <= 0:
        return None
    for bound, cumulative in counts:
        if cumulative >= q * observed:
            return bound
    return float("inf")
