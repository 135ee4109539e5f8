"""The pending-call gauges say nothing until they know something."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from service_kit import PendingReading
from stigma_api.metrics import ApiMetrics

NAMES = (
    "stigma_pending_agent_calls",
    "stigma_oldest_pending_agent_call_age_seconds",
    "stigma_pending_agent_calls_last_read_timestamp_seconds",
)


def _exported(registry: CollectorRegistry) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name in NAMES:
                values[sample.name] = sample.value
    return values


def test_no_pending_sample_before_the_first_read_never_a_confident_zero() -> None:
    registry = CollectorRegistry()
    ApiMetrics(registry)
    assert _exported(registry) == {}
    text = generate_latest(registry).decode()
    assert all(name not in text for name in NAMES)


def test_the_last_reading_is_exported_with_its_time() -> None:
    registry = CollectorRegistry()
    metrics = ApiMetrics(registry)
    metrics.pending.reading = PendingReading(count=3, oldest_age_seconds=42.5, read_at=1.7e9)
    assert _exported(registry) == {
        "stigma_pending_agent_calls": 3,
        "stigma_oldest_pending_agent_call_age_seconds": 42.5,
        "stigma_pending_agent_calls_last_read_timestamp_seconds": 1.7e9,
    }
