"""Rendering the alert rules: runbook base URL, and durations scaled for the delivery test."""

from __future__ import annotations

import pytest
import yaml

from devstack import DEFAULT_RUNBOOK_BASE_URL, duration_seconds, render_rules
from devstack._alerting import format_duration

RULES = f"""
groups:
  - name: thresholds
    rules:
      - record: x:threshold_seconds
        expr: vector(300)
      - record: x:count_threshold
        expr: vector(5)
  - name: alerts
    rules:
      - alert: Slow
        expr: rate(a_total[5m]) > 0 and max_over_time(b[1h:1m]) > 0
        for: 10m
        annotations:
          runbook_url: {DEFAULT_RUNBOOK_BASE_URL}#slow
"""


def test_durations_parse_and_format() -> None:
    assert duration_seconds("1h30m") == 5400
    assert duration_seconds("500ms") == 0.5
    assert format_duration(5) == "5s"
    assert format_duration(0.5) == "500ms"
    assert format_duration(0) == "1ms"
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        duration_seconds("5 minutes")


def test_only_the_base_changes_without_a_scale() -> None:
    rendered = render_rules(RULES, runbook_base_url="https://wiki.example/rb/")
    assert rendered == RULES.replace(DEFAULT_RUNBOOK_BASE_URL, "https://wiki.example/rb")


def test_scaling_shrinks_for_windows_and_second_thresholds_together() -> None:
    rendered = yaml.safe_load(
        render_rules(
            RULES,
            runbook_base_url="https://x",
            scale=1 / 60,
            thresholds={"x:count_threshold": 2},
        )
    )
    thresholds, alerts = (group["rules"] for group in rendered["groups"])
    assert thresholds[0]["expr"] == "vector(5)"
    assert thresholds[1]["expr"] == "vector(2)"
    [slow] = alerts
    assert slow["for"] == "10s"
    assert slow["expr"] == "rate(a_total[5s]) > 0 and max_over_time(b[60s:1m]) > 0"
    assert slow["annotations"]["runbook_url"] == "https://x#slow"
