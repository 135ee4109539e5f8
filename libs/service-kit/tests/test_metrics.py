"""The Temporal SDK's metrics, recorded by a real Runtime into its MetricBuffer, come out
of the service's one Prometheus registry with Prometheus names and histogram buckets."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from service_kit import Metrics


def _samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_counters_gauges_and_histograms_of_the_runtime_are_exposed() -> None:
    metrics = Metrics(service="unit")
    meter = metrics.runtime.metric_meter
    calls = meter.create_counter("unit_calls", "calls")
    calls.add(2, {"queue": "a"})
    calls.add(3, {"queue": "a"})
    calls.add(1, {"queue": "b"})
    meter.create_gauge("unit_slots", "slots").set(7, {"queue": "a"})
    latency = meter.create_histogram_timedelta("unit_latency", "latency")
    latency.record(timedelta(milliseconds=20), {"queue": "a"})
    latency.record(timedelta(seconds=2), {"queue": "a"})

    samples = _samples(metrics)

    assert samples[("unit_calls_total", frozenset({("queue", "a")}))] == 5
    assert samples[("unit_calls_total", frozenset({("queue", "b")}))] == 1
    assert samples[("unit_slots", frozenset({("queue", "a")}))] == 7
    a = frozenset({("queue", "a")})
    assert samples[("unit_latency_count", a)] == 2
    assert abs(samples[("unit_latency_sum", a)] - 2.02) < 1e-6
    assert samples[("unit_latency_bucket", a | {("le", "0.025")})] == 1
    assert samples[("unit_latency_bucket", a | {("le", "2.5")})] == 2
    assert samples[("unit_latency_bucket", a | {("le", "+Inf")})] == 2


def test_counts_accumulate_across_scrapes() -> None:
    metrics = Metrics(service="unit")
    counter = metrics.runtime.metric_meter.create_counter("unit_events", "events")
    counter.add(1)
    assert _samples(metrics)[("unit_events_total", frozenset())] == 1
    counter.add(4)
    assert _samples(metrics)[("unit_events_total", frozenset())] == 5
