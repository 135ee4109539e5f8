"""`docker compose up` as far as it runs offline: compose.yaml's own services, wiring, mounts
and healthchecks, with the load generator feeding Prometheus and Alertmanager.

The project's images and the Temporal dev server are the ones `make images` builds; Prometheus
and Alertmanager run from Debian's packages (tests/compose.offline.yaml) because their images
cannot be pulled here. The collector, Tempo and Grafana cannot run offline at all: services
start without them (`--no-deps`; trace export fails quietly in the background) and the checks
in tests/test_compose.py cover their configuration instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack import free_port
from tests.support import eventually
from tests.test_observability_dashboards import (
    _panels,
    _regex_literal,
    substitute,
    variable_query,
)

pytestmark = [pytest.mark.docker, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parents[1]
FILES = ["-f", str(ROOT / "compose.yaml"), "-f", str(ROOT / "tests" / "compose.offline.yaml")]
PROJECT_SERVICES = ["stigma-api", "stigma-orchestrator", "ai-worker", "zigflow-worker"]
RUNNABLE = [
    "temporal", *PROJECT_SERVICES, "loadgen", "alert-sink", "alertmanager", "prometheus",
]  # fmt: skip
# Scraped in compose.yaml but not runnable offline (their images cannot be pulled here).
OFFLINE_MISSING_JOBS = {"otel-collector", "tempo", "grafana"}
# Every project service runs this many replicas (`docker compose up --scale`).
REPLICAS = 2
# Host ports, each moved to a free one (STIGMA_API_PORTS: a range, one port per replica).
PORTS = ("TEMPORAL_PORT", "TEMPORAL_UI_PORT", "PROMETHEUS_PORT")
PORTS_UNUSED = ("ALERTMANAGER_PORT", "ALERT_SINK_PORT")


def _free_range(count: int) -> str:
    """``first-last``: ``count`` consecutive free ports (stigma-api's replicas' host ports)."""
    for _ in range(50):
        first = free_port()
        ports = range(first, first + count)
        if all(_bindable(port) for port in ports):
            return f"{first}-{first + count - 1}"
    raise RuntimeError(f"no {count} consecutive free ports found")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class ComposeStack:
    env: dict[str, str]

    def compose(self, *args: str) -> str:
        done = subprocess.run(
            ["docker-compose", *FILES, *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, f"docker-compose {' '.join(args)}: {done.stderr}"
        return done.stdout

    def health(self, service: str) -> str:
        """The health of the service's containers ("healthy" only when all of them are)."""
        containers = self.compose("ps", "-q", service).split()
        if not containers:
            return "absent"
        states = subprocess.run(
            ["docker", "inspect", "-f", "{{.State.Health.Status}}", *containers],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        for state in ("unhealthy", "starting"):
            if state in states:
                return state
        return "healthy"

    def containers(self, service: str) -> int:
        return len(self.compose("ps", "-q", service).split())

    def prometheus(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = f"http://127.0.0.1:{self.env['PROMETHEUS_PORT']}{path}{query}"
        with urllib.request.urlopen(url, timeout=10) as reply:
            return json.load(reply)["data"]


async def all_healthy(stack: ComposeStack, services: list[str]) -> bool:
    states = await asyncio.gather(*(asyncio.to_thread(stack.health, s) for s in services))
    assert "unhealthy" not in states, dict(zip(services, states, strict=True))
    return all(state == "healthy" for state in states)


@pytest.fixture(scope="module")
async def compose_stack() -> AsyncIterator[ComposeStack]:
    env = dict(os.environ)
    env["COMPOSE_PROJECT_NAME"] = f"ahtest{uuid.uuid4().hex[:8]}"
    env["CALLBACK_KEYS"] = f"test:{secrets.token_urlsafe(32)}"
    env["STIGMA_ZIGFLOW_API_KEY"] = secrets.token_urlsafe(32)
    env["STIGMA_OPERATOR_API_KEY"] = secrets.token_urlsafe(32)
    env["LOADGEN_RATE"] = "2"
    for name in (*PORTS, *PORTS_UNUSED):
        env[name] = str(free_port())
    env["STIGMA_API_PORTS"] = _free_range(REPLICAS)
    stack = ComposeStack(env)
    try:
        await asyncio.to_thread(stack.compose, "up", "-d", "--no-build", "--no-deps", "temporal")
        await eventually(lambda: all_healthy(stack, ["temporal"]), within=90, every=1)
        rest = [s for s in RUNNABLE if s != "temporal"]
        scale = [f"--scale={service}={REPLICAS}" for service in PROJECT_SERVICES]
        await asyncio.to_thread(stack.compose, "up", "-d", "--no-build", "--no-deps", *scale, *rest)
        await eventually(lambda: all_healthy(stack, RUNNABLE), within=240, every=1)
        yield stack
    finally:
        await asyncio.to_thread(stack.compose, "down", "-v", "--remove-orphans", "-t", "15")


async def test_services_start_from_compose_and_turn_healthy(compose_stack: ComposeStack) -> None:
    config = yaml.safe_load(await asyncio.to_thread(compose_stack.compose, "config"))
    for service in RUNNABLE:
        assert config["services"][service].get("healthcheck", {}).get("test"), service
    assert await all_healthy(compose_stack, RUNNABLE)


async def test_every_project_service_runs_scaled_and_calls_reach_every_stigma_api(
    compose_stack: ComposeStack,
) -> None:
    """`--scale` for the four services: every replica healthy and scraped, and the
    zigflow-worker's calls (from the load generator) balanced over both stigma-api replicas
    (dns:///stigma-api:50051, round robin)."""
    for service in PROJECT_SERVICES:
        assert compose_stack.containers(service) == REPLICAS, service

    async def every_replica_scraped_and_called() -> bool:
        targets = await asyncio.to_thread(compose_stack.prometheus, "/api/v1/targets")
        for service in PROJECT_SERVICES:
            up = [
                t
                for t in targets["activeTargets"]
                if t["labels"]["job"] == service and t["health"] == "up"
            ]
            if len(up) != REPLICAS:
                return False
        calls = await asyncio.to_thread(
            compose_stack.prometheus,
            "/api/v1/query",
            query='sum by (instance) (stigma_start_agent_requests_total{job="stigma-api"})',
        )
        return len([r for r in calls["result"] if float(r["value"][1]) > 0]) == REPLICAS

    await eventually(every_replica_scraped_and_called, within=120, every=2)


async def test_prometheus_scrapes_every_target_and_has_the_rules_and_alertmanager(
    compose_stack: ComposeStack,
) -> None:
    configured = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in configured["scrape_configs"]}

    async def every_target_up() -> bool:
        targets = await asyncio.to_thread(compose_stack.prometheus, "/api/v1/targets")
        up = {t["labels"]["job"] for t in targets["activeTargets"] if t["health"] == "up"}
        return up == jobs - OFFLINE_MISSING_JOBS

    await eventually(every_target_up, within=90, every=1)
    rules = await asyncio.to_thread(compose_stack.prometheus, "/api/v1/rules")
    loaded = {rule["name"] for group in rules["groups"] for rule in group["rules"]}
    written = {
        rule.get("alert") or rule.get("record")
        for path in (ROOT / "prometheus" / "rules").glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    }
    assert loaded == written
    managers = await asyncio.to_thread(compose_stack.prometheus, "/api/v1/alertmanagers")
    assert [m["url"] for m in managers["activeAlertmanagers"]] == [
        "http://alertmanager:9093/api/v2/alerts"
    ]


def fill(stack: ComposeStack, dashboard: dict[str, Any], expr: str) -> str:
    filled: dict[str, str] = {}
    for variable in dashboard["templating"]["list"]:
        if (asked := variable_query(variable, filled)) is None:
            continue
        metric, label = asked
        values = stack.prometheus(f"/api/v1/label/{label}/values", **{"match[]": metric})
        filled[variable["name"]] = "|".join(_regex_literal(value) for value in values) or "^$"
    return substitute(expr, filled)


def panels_without_data(stack: ComposeStack) -> list[str]:
    missing = []
    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in _panels(dashboard):
            if panel.get("description", "").startswith("Rare event:"):
                continue
            for target in panel.get("targets", []):
                if "expr" in target:
                    query = fill(stack, dashboard, target["expr"])
                    if not stack.prometheus("/api/v1/query", query=query)["result"]:
                        missing.append(f"{dashboard['title']} / {panel['title']}")
    return missing


async def test_the_load_generator_gives_every_dashboard_panel_live_data(
    compose_stack: ComposeStack,
) -> None:
    last: list[str] = []

    async def every_panel_has_data() -> bool:
        nonlocal last
        last = await asyncio.to_thread(panels_without_data, compose_stack)
        return not last

    try:
        await eventually(every_panel_has_data, within=180, every=5)
    except AssertionError:
        raise AssertionError(f"panels still without data: {last}") from None
