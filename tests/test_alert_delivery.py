"""Alerts reach a receiver and resolve: the repository's rules and Alertmanager config,
rendered short, through a real Prometheus and a real Alertmanager (Debian's packages) to the
project's own default receiver (service_kit.alert_sink, served in this test on 127.0.0.1).

What is real: Prometheus (scraping every second, evaluating every second), Alertmanager,
the webhook receiver, the rules and routes themselves. The rules and alertmanager.yml are
not copied: ``devstack.render_rules`` scales every ``for:``, range window and
``*_threshold_seconds`` rule by ``SCALE`` (1/60: minutes become seconds) and this test
scales the route's group_wait / group_interval / repeat_interval by the same factor.

What is not: the scrape targets. Firing six alerts with the real services would take real
outages of minutes (a call pending past a threshold, visibility unreadable, Temporal
refusing completions for a sustained error rate). Instead the targets are real /metrics
endpoints this test controls (prometheus_client's HTTP server on 127.0.0.1), under the job
names and with the metric names the services export (stigma-api's and the
zigflow-worker's pending gauges, stigma-orchestrator's ``stigma_callback_deliveries_total``);
"down" is a real endpoint stopped, so Prometheus' scrape really fails. That the services
export these names is checked against real runs elsewhere (test_observability_metrics.py,
test_observability_dashboards.py).

The measured delivery and resolution times are printed (``-s``) and recorded in
docs/runbook.md ("Alert delivery, measured").
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

import pytest
import yaml
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from devstack import (
    LocalPrometheus,
    ServiceProcess,
    StartupError,
    duration_seconds,
    free_port,
    write_rules,
)
from devstack._alerting import format_duration
from service_kit.alert_sink import AlertSink, ReceivedAlert
from tests.support import eventually

ROOT = Path(__file__).resolve().parents[1]
ALERTMANAGER_CONFIG = ROOT / "prometheus" / "alertmanager.yml"
SCALE = 1 / 60
# Thresholds that are not durations, or that stay long once scaled (24 h -> 24 min).
THRESHOLDS = {"stigma:agent_call_pending_threshold_seconds": 5.0}
RUNBOOK_BASE = "https://runbooks.example.org/agent-handshake"
SLACK = 10.0
"""Allowed beyond an alert's own (scaled) durations: a scrape and an evaluation (1 s each),
Alertmanager's group_wait and group_interval (0.5 s, 1 s), and a 2-core CI host's load."""


@dataclass
class Ramp:
    """A counter that grows at ``per_second`` while running."""

    per_second: float
    total: float = 0.0
    since: float | None = None

    def value(self) -> float:
        if self.since is None:
            return self.total
        return self.total + self.per_second * (time.time() - self.since)

    def start(self) -> None:
        self.since = time.time()

    def stop(self) -> None:
        self.total, self.since = self.value(), None


@dataclass(eq=False)  # registered by identity
class Exported(Collector):
    """What one controlled endpoint exports right now (a callable gauge is read per scrape)."""

    gauges: dict[str, float | Callable[[], float]] = field(default_factory=dict)
    deliveries: dict[str, Ramp] = field(default_factory=dict)

    def collect(self) -> Iterator[Metric]:
        for name, value in self.gauges.items():
            yield GaugeMetricFamily(name, name, value=value() if callable(value) else value)
        if self.deliveries:
            family = CounterMetricFamily(
                "stigma_callback_deliveries", "deliveries", labels=["outcome"]
            )
            for outcome, ramp in self.deliveries.items():
                family.add_metric([outcome], ramp.value())
            yield family


class Endpoint:
    """A real /metrics endpoint on 127.0.0.1 that can be stopped and started again."""

    def __init__(self, exported: Exported) -> None:
        self.exported = exported
        self.port = free_port()
        self._registry = CollectorRegistry()
        self._registry.register(exported)
        self._server: WSGIServer | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server, _thread = start_http_server(self.port, "127.0.0.1", self._registry)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class LocalAlertmanager:
    """Debian's ``prometheus-alertmanager`` on 127.0.0.1, clustering off."""

    def __init__(self, state_dir: Path, config: dict[str, Any]) -> None:
        self.port = free_port()
        self._config_file = state_dir / "alertmanager.yml"
        self._config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        self.process = ServiceProcess(
            name="alertmanager",
            argv=[
                "prometheus-alertmanager",
                f"--config.file={self._config_file}",
                f"--storage.path={state_dir / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            env={},
            log_file=state_dir / "alertmanager.log",
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> LocalAlertmanager:
        await self.process.start()

        async def ready() -> bool:
            self.process.raise_if_exited()
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                return False
            writer.close()
            await writer.wait_closed()
            return True

        try:
            await eventually(ready, within=30)
        except AssertionError:
            raise StartupError(f"alertmanager not ready\n{self.process.tail()}") from None
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.process.stop()


def _scaled(duration: str) -> str:
    return format_duration(duration_seconds(duration) * SCALE)


def alertmanager_config(webhook_url: str) -> dict[str, Any]:
    """prometheus/alertmanager.yml with its route timings scaled and the test's webhook."""
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    routes = [config["route"], *config["route"].get("routes", [])]
    for route in routes:
        for key in ("group_wait", "group_interval", "repeat_interval"):
            if key in route:
                route[key] = _scaled(route[key])
    for receiver in config["receivers"]:
        for webhook in receiver["webhook_configs"]:
            webhook["url"] = webhook_url
    return config


@dataclass
class Received:
    alerts: list[ReceivedAlert] = field(default_factory=list)

    def first(
        self, alertname: str, status: str, *, after: float, job: str | None = None
    ) -> ReceivedAlert | None:
        return next(
            (
                a
                for a in self.alerts
                if a.labels.get("alertname") == alertname
                and a.status == status
                and a.received_at >= after
                and (job is None or a.labels.get("job") == job)
            ),
            None,
        )

    async def wait(
        self, alertname: str, status: str, *, after: float, within: float, job: str | None = None
    ) -> float:
        """Seconds from ``after`` until the receiver got ``alertname`` (for ``job``, if
        given) in ``status``."""

        async def arrived() -> bool:
            return self.first(alertname, status, after=after, job=job) is not None

        try:
            await eventually(arrived, within=within, every=0.05)
        except AssertionError:
            seen = sorted({(a.labels.get("alertname", ""), a.status) for a in self.alerts})
            raise AssertionError(
                f"{alertname} {status} not received within {within:.0f}s; received: {seen}"
            ) from None
        got = self.first(alertname, status, after=after, job=job)
        assert got is not None
        return got.received_at - after


@dataclass
class Rig:
    received: Received
    api: Exported
    callers: Exported
    orchestrator: Exported
    worker: Endpoint


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    received = Received()
    sink = AlertSink(host="127.0.0.1", port=free_port(), on_alert=received.alerts.append)
    api = Exported()
    callers = Exported()
    orchestrator = Exported(
        deliveries={"completed": Ramp(2.0), "error": Ramp(4.0), "stale": Ramp(1.0)}
    )
    endpoints = {
        "stigma-api": Endpoint(api),
        "zigflow-worker": Endpoint(callers),
        "stigma-orchestrator": Endpoint(orchestrator),
        "ai-worker": Endpoint(Exported()),
    }
    rules = write_rules(
        tmp_path / "rules", runbook_base_url=RUNBOOK_BASE, scale=SCALE, thresholds=THRESHOLDS
    )
    for endpoint in endpoints.values():
        endpoint.start()
    try:
        async with (
            sink,
            LocalAlertmanager(tmp_path, alertmanager_config(f"{sink.url}/alerts")) as manager,
            LocalPrometheus(
                state_dir=tmp_path / "prometheus",
                targets={job: e.target for job, e in endpoints.items()},
                scrape_interval="1s",
                rule_files=rules,
                alertmanager=manager.address,
            ),
        ):
            yield Rig(received, api, callers, orchestrator, endpoints["ai-worker"])
    finally:
        for endpoint in endpoints.values():
            endpoint.stop()


def _for(alert: str) -> float:
    """The alert's scaled ``for:`` in seconds (0 without one)."""
    for path in sorted((ROOT / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alert:
                    return duration_seconds(rule.get("for", "0s")) * SCALE
    raise KeyError(alert)


async def test_every_silence_and_failure_alert_reaches_the_webhook_and_resolves(
    rig: Rig,
) -> None:
    timings: list[tuple[str, float, float]] = []
    received = rig.received

    async def fires(alert: str, since: float, extra: float = 0.0, job: str | None = None) -> float:
        return await received.wait(
            alert, "firing", after=since, within=_for(alert) + extra + SLACK, job=job
        )

    async def worker_outage() -> tuple[float, float]:
        """ai-worker's endpoint down until ServiceDown arrives, then up until it resolves."""
        since = time.time()
        rig.worker.stop()
        fired = await fires("ServiceDown", since)
        rig.worker.start()
        repaired = time.time()
        return fired, await received.wait("ServiceDown", "resolved", after=repaired, within=SLACK)

    # t0: stigma-api exports no gauge (it has not read visibility), deliveries error at
    # 4 of 6 per second and go stale at 1 per second, ai-worker's endpoint is stopped.
    t0 = time.time()
    for ramp in rig.orchestrator.deliveries.values():
        ramp.start()
    timings.append(("ServiceDown", *await worker_outage()))
    # A re-fire right after the resolve is delivered (group_interval, alertmanager.yml).
    timings.append(("ServiceDown (re-fire)", *await worker_outage()))

    stale = await fires("StaleCallbacksRising", t0)
    failing = await fires("CallbackDeliveriesFailing", t0, extra=5)
    t_healthy = time.time()
    rig.orchestrator.deliveries["error"].stop()
    rig.orchestrator.deliveries["stale"].stop()
    # Resolution waits for the errors and stale callbacks to leave the rate windows
    # ([5m] and [30m], scaled: 5 s and 30 s).
    failing_ok = await received.wait(
        "CallbackDeliveriesFailing", "resolved", after=t_healthy, within=5 + SLACK
    )
    stale_ok = await received.wait(
        "StaleCallbacksRising", "resolved", after=t_healthy, within=30 + SLACK
    )
    timings.append(("CallbackDeliveriesFailing", failing, failing_ok))
    timings.append(("StaleCallbacksRising", stale, stale_ok))

    # Both exporters' gauges were absent since t0 (and unrelated ServiceDown of ai-worker
    # did not hide them).
    exporters = ("stigma-api", "zigflow-worker")
    absent = {job: await fires("PendingCallsGaugeAbsent", t0, job=job) for job in exporters}
    # The callers' exporter reads visibility: nothing pending in callers (every scrape sees
    # a fresh read); stigma-api reads one call pending for 10 s already.
    t_read = time.time()
    rig.callers.gauges.update(
        {
            "zigflow_pending_agent_calls": 0.0,
            "zigflow_oldest_pending_agent_call_age_seconds": 0.0,
            "zigflow_pending_agent_calls_last_read_timestamp_seconds": time.time,
        }
    )
    reading: dict[str, float | Callable[[], float]] = {
        "stigma_pending_agent_calls": 1.0,
        "stigma_oldest_pending_agent_call_age_seconds": 10.0,
        "stigma_pending_agent_calls_last_read_timestamp_seconds": time.time,
    }
    rig.api.gauges.update(reading)
    for job in exporters:
        absent_ok = await received.wait(
            "PendingCallsGaugeAbsent", "resolved", after=t_read, within=SLACK, job=job
        )
        timings.append((f"PendingCallsGaugeAbsent ({job})", absent[job], absent_ok))

    # The call's age (10 s, threshold 5 s) fires AgentCallPendingTooLong once read.
    pending = await fires("AgentCallPendingTooLong", t_read)
    t_done = time.time()
    rig.api.gauges.update(
        {
            "stigma_pending_agent_calls": 0.0,
            "stigma_oldest_pending_agent_call_age_seconds": 0.0,
            "stigma_pending_agent_calls_last_read_timestamp_seconds": t_done,
        }
    )
    pending_ok = await received.wait(
        "AgentCallPendingTooLong", "resolved", after=t_done, within=SLACK
    )
    timings.append(("AgentCallPendingTooLong", pending, pending_ok))

    # stigma-api stops reading (its last read stays at t_done): stale past 5 s.
    gauge_stale = await fires("PendingCallsGaugeStale", t_done, extra=5)
    t_fresh = time.time()
    rig.api.gauges["stigma_pending_agent_calls_last_read_timestamp_seconds"] = time.time
    gauge_fresh = await received.wait(
        "PendingCallsGaugeStale", "resolved", after=t_fresh, within=SLACK
    )
    timings.append(("PendingCallsGaugeStale", gauge_stale, gauge_fresh))

    print("\nalert                                    delivered (s)  resolved (s)")
    for name, fired, resolved in timings:
        print(f"{name:<40} {fired:>13.1f} {resolved:>13.1f}")

    for alert in received.alerts:
        url = alert.annotations["runbook_url"]
        assert url == f"{RUNBOOK_BASE}#{alert.labels['alertname'].lower()}", url
        assert "20785d" not in alert.annotations["summary"]
    summary = received.first("PendingCallsGaugeStale", "firing", after=t_done)
    assert summary is not None
    assert summary.annotations["summary"].endswith("s"), summary.annotations["summary"]
