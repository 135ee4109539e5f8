from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from prometheus_client import CollectorRegistry, disable_created_metrics, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_GAUGE,
    MetricBuffer,
    MetricBufferDurationFormat,
    Runtime,
    TelemetryConfig,
)

from service_kit._core_logs import core_logging

logger = logging.getLogger(__name__)

# Seconds. Covers Temporal's sub-millisecond poll replies up to hour-long agent runs.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3600.0, 4 * 3600.0, 24 * 3600.0,
)  # fmt: skip
BUFFER_SIZE = 100_000
DRAIN_INTERVAL = 1.0


@dataclass
class _Histogram:
    buckets: list[int]
    count: int = 0
    total: float = 0.0


@dataclass
class _Family:
    name: str
    description: str
    kind: int
    series: dict[tuple[tuple[str, str], ...], float | _Histogram] = field(default_factory=dict)


def _labels(attributes: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((str(k), str(v)) for k, v in attributes.items()))


class TemporalMetricsCollector(Collector):
    """Re-exposes the Temporal SDK's metrics (Core's MetricBuffer) as Prometheus families.

    Temporal's Runtime can serve Prometheus itself, but on a second port; draining its
    buffer into this collector keeps ONE /metrics endpoint per service. Counters keep
    their Temporal name plus ``_total``; durations are histograms in seconds.
    """

    def __init__(self, buffer: MetricBuffer, *, buckets: Sequence[float] = LATENCY_BUCKETS):
        self._buffer = buffer
        self._bounds = tuple(buckets)
        self._families: dict[str, _Family] = {}
        self._lock = threading.Lock()

    def drain(self) -> None:
        """Fold the buffered updates into the running totals (call it often)."""
        with self._lock:
            for update in self._buffer.retrieve_updates():
                metric = update.metric
                family = self._families.get(metric.name)
                if family is None:
                    family = _Family(metric.name, metric.description or metric.name, metric.kind)
                    self._families[metric.name] = family
                key = _labels(update.attributes)
                value = float(update.value)
                if family.kind == BUFFERED_METRIC_KIND_COUNTER:
                    current = family.series.get(key, 0.0)
                    assert isinstance(current, float)
                    family.series[key] = current + value
                elif family.kind == BUFFERED_METRIC_KIND_GAUGE:
                    family.series[key] = value
                else:
                    hist = family.series.get(key)
                    if not isinstance(hist, _Histogram):
                        hist = _Histogram(buckets=[0] * len(self._bounds))
                        family.series[key] = hist
                    hist.count += 1
                    hist.total += value
                    for index, bound in enumerate(self._bounds):
                        if value <= bound:
                            hist.buckets[index] += 1

    def collect(self) -> Iterable[Metric]:
        try:
            self.drain()
        except RuntimeError:  # runtime not created yet: nothing buffered
            return []
        with self._lock:
            return [self._family(family) for family in self._families.values()]

    def _family(self, family: _Family) -> Metric:
        if family.kind == BUFFERED_METRIC_KIND_COUNTER:
            metric = Metric(family.name, family.description, "counter")
            for key, value in family.series.items():
                metric.add_sample(f"{family.name}_total", dict(key), float(value))  # type: ignore[arg-type]
            return metric
        if family.kind == BUFFERED_METRIC_KIND_GAUGE:
            metric = Metric(family.name, family.description, "gauge")
            for key, value in family.series.items():
                metric.add_sample(family.name, dict(key), float(value))  # type: ignore[arg-type]
            return metric
        metric = Metric(family.name, family.description, "histogram")
        for key, hist in family.series.items():
            assert isinstance(hist, _Histogram)
            labels = dict(key)
            for bound, count in zip(self._bounds, hist.buckets, strict=True):
                metric.add_sample(f"{family.name}_bucket", {**labels, "le": _le(bound)}, count)
            metric.add_sample(f"{family.name}_bucket", {**labels, "le": "+Inf"}, hist.count)
            metric.add_sample(f"{family.name}_count", labels, hist.count)
            metric.add_sample(f"{family.name}_sum", labels, hist.total)
        return metric


def _le(bound: float) -> str:
    return str(float(bound)) if math.isfinite(bound) else "+Inf"


class Metrics:
    """One process's Prometheus endpoint: its own metrics and the Temporal SDK's.

    ``registry`` is where the service registers its own metrics; ``runtime`` is the
    Temporal Runtime to connect clients with, so that the SDK's worker and client
    metrics land on the same endpoint. ``port`` 0 keeps the endpoint off (the
    metrics are still counted, e.g. for tests in-process).
    """

    def __init__(self, *, service: str, port: int = 0, host: str = "127.0.0.1") -> None:
        self.service = service
        self.port = port
        self.host = host
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created: noise
        self.registry = CollectorRegistry(auto_describe=True)
        self._buffer = MetricBuffer(BUFFER_SIZE, MetricBufferDurationFormat.SECONDS)
        # No service_name="temporal-core-sdk" on every series: the scrape job names the service.
        # Core's own log lines reach the JSON logs without task tokens (_core_logs).
        self.runtime = Runtime(
            telemetry=TelemetryConfig(
                metrics=self._buffer, attach_service_name=False, logging=core_logging()
            )
        )
        self.temporal = TemporalMetricsCollector(self._buffer)
        self.registry.register(self.temporal)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._drainer: asyncio.Task[None] | None = None

    async def _drain_forever(self) -> None:
        while True:
            try:
                self.temporal.drain()
            except Exception:  # never let metrics take the service down
                logger.exception("draining Temporal metrics failed")
            await asyncio.sleep(DRAIN_INTERVAL)

    async def __aenter__(self) -> Metrics:
        self._drainer = asyncio.create_task(self._drain_forever())
        if self.port:
            self._server, self._thread = start_http_server(
                self.port, addr=self.host, registry=self.registry
            )
            logger.info("metrics on http://%s:%d/metrics", self.host, self.port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._drainer is not None:
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
