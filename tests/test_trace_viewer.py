"""``make demo`` traces into Phoenix by default and prints a link to its call's trace; the
link opens in a real browser (Debian's chromium, headless) once ``make up`` serves the
traces again; Phoenix's API has the trace's spans from all four services; every service's
log lines about the call carry its trace id; and Phoenix listens on loopback only."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import shutil
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from agent_contract import AGENT_WORKFLOW, CALL_AGENT_ACTIVITY, MODEL_REQUEST_ACTIVITIES
from devstack import SERVICES, LocalPhoenix, PhoenixSpan, PhoenixTrace
from stigma.agent.v1 import agent_pb2

pytestmark = pytest.mark.timeout(900)

START_AGENT_RPC = f"/{agent_pb2.DESCRIPTOR.services_by_name['AgentService'].full_name}/StartAgent"
DEMO_SPAN = "devstack demo"
MODEL_REQUEST_SPANS = {f"RunActivity:{activity}" for activity in MODEL_REQUEST_ACTIVITIES}
LINK = re.compile(r"^trace: (http://127\.0\.0\.1:(\d+)/projects/[^/\s]+/traces/([0-9a-f]{32}))$")
TRACE_ID_LINE = re.compile(r"^trace id: ([0-9a-f]{32})\b")


def _started_agent(span: PhoenixSpan, by_id: dict[str, PhoenixSpan]) -> bool:
    """stigma-api's server span of StartAgent: a child of zigflow-worker's client span."""
    parent = by_id.get(span.parent_id or "")
    return span.name == START_AGENT_RPC and parent is not None and parent.name == START_AGENT_RPC


# Phoenix keeps no resource attributes (service.name): each service is recognised by a span
# only it makes.
SERVICE_SPANS: dict[str, Callable[[PhoenixSpan, dict[str, PhoenixSpan]], bool]] = {
    "zigflow-worker": lambda span, _: span.name == f"RunActivity:{CALL_AGENT_ACTIVITY}",
    "stigma-api": _started_agent,
    "stigma-orchestrator": lambda span, _: span.name == f"RunWorkflow:{AGENT_WORKFLOW}",
    "ai-worker": lambda span, _: span.name in MODEL_REQUEST_SPANS,
}


def _free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports free on 127.0.0.1 (the demo's /metrics ports
    are five in a row)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = int(probe.getsockname()[1])
        if first + count > 65535:
            continue
        try:
            for port in range(first, first + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports")


def _on_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return (mapped or ip).is_loopback


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is missing: `apt-get install chromium` (.ci/run installs it)")
    return found


async def _rendered(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran (Phoenix's UI is a single-page app that fetches
    the trace over GraphQL), as headless chromium renders it."""
    process = await asyncio.create_subprocess_exec(
        _chromium(),
        "--headless",
        "--no-sandbox",  # the suite may run as root, whom chromium's sandbox refuses
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=180)
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out.decode()


async def _run_demo(state: Path, base: int) -> str:
    """``make demo``, on ports of its own: what it prints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "devstack.cli",
        "--state-dir", str(state),
        "--temporal-port", str(base),
        "--ui-port", str(base + 1),
        "--stigma-port", str(base + 2),
        "--phoenix-port", str(base + 3),
        "--phoenix-grpc-port", str(base + 4),
        "--metrics-base-port", str(base + 5),
        "demo",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout=600)
    printed = out.decode()
    assert process.returncode == 0, printed
    return printed


def _assert_four_services(trace: PhoenixTrace) -> None:
    by_id = {span.span_id: span for span in trace.spans}
    missing = [
        service
        for service, made_by in SERVICE_SPANS.items()
        if not any(made_by(span, by_id) for span in trace.spans)
    ]
    names = sorted(span.name for span in trace.spans)
    assert not missing, f"no span of {missing} in Phoenix's trace: {names}"
    (root,) = [span for span in trace.spans if span.parent_id is None]
    assert root.name == DEMO_SPAN, names


async def test_make_demo_links_its_trace_and_phoenix_shows_it_in_a_browser(
    tmp_path: Path,
) -> None:
    _chromium()  # fail before minutes of demo when the browser is missing
    state = tmp_path / "state"
    base = _free_ports(10)
    printed = await _run_demo(state, base)

    links = [m for line in printed.splitlines() if (m := LINK.match(line))]
    assert len(links) == 1, f"no trace link in what make demo printed:\n{printed}"
    url, port, trace_id = links[0].groups()
    assert int(port) == base + 3
    printed_ids = [m[1] for line in printed.splitlines() if (m := TRACE_ID_LINE.match(line))]
    assert printed_ids == [trace_id], printed

    # Every service's log lines about the call carry the trace id (JSON field trace_id).
    for service in SERVICES:
        lines = [
            json.loads(line)
            for line in (state / "logs" / f"{service}.log").read_text().splitlines()
            if line.startswith("{") and trace_id in line
        ]
        assert lines, f"no {service} log line with trace_id {trace_id}"
        assert all(line["trace_id"] == trace_id for line in lines)

    # What `make up` does after the demo: Phoenix again, on the same state and port.
    async with LocalPhoenix(state_dir=state / "phoenix", port=int(port)) as phoenix:
        listening = [
            c
            for c in psutil.Process(phoenix.process.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]
        assert {c.laddr.port for c in listening} == {phoenix.port, phoenix.grpc_port}
        exposed = [c.laddr for c in listening if not _on_loopback(c.laddr.ip)]
        assert not exposed, f"Phoenix listens beyond loopback: {exposed}"

        trace = await phoenix.trace(trace_id)
        assert trace is not None, f"Phoenix has no trace {trace_id}"
        assert phoenix.trace_url(trace) == url
        _assert_four_services(trace)

        dom = await _rendered(url, tmp_path / "chromium")
        assert trace_id in dom, f"the trace page does not name trace {trace_id}"
        for span in (DEMO_SPAN, f"RunActivity:{CALL_AGENT_ACTIVITY}"):
            assert span in dom, f"the trace page shows no span {span!r}"
