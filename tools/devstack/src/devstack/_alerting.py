"""The alert rules as Prometheus loads them: rendered with a runbook base URL, and for the
alert-delivery test with every duration scaled down.

Prometheus annotations cannot read the environment, and promtool 2.42 (Debian's, which CI
uses) cannot set the external labels a ``{{ $externalLabels... }}`` template would need in
its unit tests. So the checked-in rules carry absolute runbook URLs under a default base
(``DEFAULT_RUNBOOK_BASE_URL``), and whoever loads them replaces that base: compose's
prometheus entrypoint with ``sed`` (the same literal replacement), devstack here.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

PROMETHEUS_DIR = Path(__file__).resolve().parents[4] / "prometheus"
RULE_FILES = tuple(sorted((PROMETHEUS_DIR / "rules").glob("*.yml")))
RUNBOOK = PROMETHEUS_DIR.parent / "docs" / "runbook.md"

DEFAULT_RUNBOOK_BASE_URL = "http://localhost:9095/runbook"
"""The base in the checked-in rules: the runbook as compose's alert-sink serves it."""
RUNBOOK_BASE_URL_ENV = "RUNBOOK_BASE_URL"

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_RANGE = re.compile(r"\[(\d+(?:\.\d+)?(?:ms|s|m|h|d))(:[^\]]*)?\]")
_VECTOR = re.compile(r"^\s*vector\((\d+(?:\.\d+)?)\)\s*$")


def local_runbook_base_url() -> str:
    """``RUNBOOK_BASE_URL``, else the checkout's own runbook as a file:// URL (``make up``)."""
    return os.environ.get(RUNBOOK_BASE_URL_ENV) or RUNBOOK.as_uri()


def duration_seconds(duration: str) -> float:
    """A Prometheus duration (``5m``, ``1h30m``, ``500ms``) in seconds."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def format_duration(seconds: float) -> str:
    """Seconds as a Prometheus duration, in whole milliseconds (at least 1 ms)."""
    millis = max(1, round(seconds * 1000))
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def _scaled(duration: str, scale: float) -> str:
    return format_duration(duration_seconds(duration) * scale)


def _scale_rule(rule: dict[str, Any], scale: float, thresholds: Mapping[str, float]) -> None:
    name = rule.get("record", "")
    if name in thresholds:
        rule["expr"] = f"vector({thresholds[name]:g})"
    elif name.endswith("_seconds") and (match := _VECTOR.match(str(rule["expr"]))):
        rule["expr"] = f"vector({float(match.group(1)) * scale:g})"
    else:
        rule["expr"] = _RANGE.sub(
            lambda m: f"[{_scaled(m.group(1), scale)}{m.group(2) or ''}]", str(rule["expr"])
        )
    if "for" in rule:
        rule["for"] = _scaled(str(rule["for"]), scale)


def render_rules(
    text: str,
    *,
    runbook_base_url: str,
    scale: float = 1.0,
    thresholds: Mapping[str, float] | None = None,
) -> str:
    """One rule file, its runbook URLs under ``runbook_base_url``.

    With ``scale`` below 1 every ``for:``, every range window and every
    ``*_seconds`` threshold recording rule shrink by that factor (the alert-delivery test
    runs the real rules in seconds, not hours); ``thresholds`` then sets recording rules
    outright, by name, for thresholds that are not durations or that would still be long.
    """
    rendered = text.replace(DEFAULT_RUNBOOK_BASE_URL, runbook_base_url.rstrip("/"))
    if scale == 1.0 and not thresholds:
        return rendered
    document = yaml.safe_load(rendered)
    for group in document["groups"]:
        for rule in group["rules"]:
            _scale_rule(rule, scale, thresholds or {})
    return yaml.safe_dump(document, sort_keys=False, width=1000)


def write_rules(
    directory: Path,
    *,
    runbook_base_url: str,
    scale: float = 1.0,
    thresholds: Mapping[str, float] | None = None,
    sources: tuple[Path, ...] = RULE_FILES,
) -> list[Path]:
    """Render every rule file of prometheus/rules into ``directory``; the written paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for source in sources:
        target = directory / source.name
        target.write_text(
            render_rules(
                source.read_text(),
                runbook_base_url=runbook_base_url,
                scale=scale,
                thresholds=thresholds,
            )
        )
        written.append(target)
    return written
