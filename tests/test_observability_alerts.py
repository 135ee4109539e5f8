"""The alert rules are valid, every alert is tested firing AND not firing with promtool,
every alert has a runbook section, and the Prometheus and Alertmanager configs load."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack import DEFAULT_RUNBOOK_BASE_URL, fixed_metrics_ports, render_rules
from devstack.cli import DEFAULT_METRICS_BASE_PORT

ROOT = Path(__file__).resolve().parents[1]
PROMETHEUS = ROOT / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.test.yml"))
RUNBOOK = ROOT / "docs" / "runbook.md"
APT_PACKAGES = "prometheus prometheus-alertmanager"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise AssertionError(
            f"{name} is missing: apt-get install prometheus prometheus-alertmanager"
        )
    return path


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _alerts() -> dict[str, dict[str, Any]]:
    alerts: dict[str, dict[str, Any]] = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    alerts[rule["alert"]] = rule
    return alerts


def test_rule_files_pass_promtool_check() -> None:
    assert RULE_FILES
    _run(_tool("promtool"), "check", "rules", *map(str, RULE_FILES))


def test_promtool_unit_tests_pass() -> None:
    assert TEST_FILES
    output = _run(_tool("promtool"), "test", "rules", *map(str, TEST_FILES))
    assert "SUCCESS" in output


@pytest.mark.parametrize("alert", sorted(_alerts()))
def test_every_alert_is_tested_firing_and_not_firing(alert: str) -> None:
    firing = quiet = 0
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check["alertname"] == alert:
                    if check.get("exp_alerts"):
                        firing += 1
                    else:
                        quiet += 1
    assert firing, f"{alert} has no promtool case where it fires"
    assert quiet, f"{alert} has no promtool case where it stays quiet"


@pytest.mark.parametrize("alert", sorted(_alerts()))
def test_every_alert_has_a_runbook_section(alert: str) -> None:
    rule = _alerts()[alert]
    assert rule["labels"]["severity"] in {"page", "warning"}
    assert rule["annotations"]["runbook_url"] == f"{DEFAULT_RUNBOOK_BASE_URL}#{alert.lower()}"
    headings = re.findall(r"^## (\S+)", RUNBOOK.read_text(), flags=re.MULTILINE)
    assert alert in headings, f"docs/runbook.md has no '## {alert}' section"


def test_prometheus_configs_load() -> None:
    for variant in ("prometheus.local.yml", "prometheus.yml"):
        _run(_tool("promtool"), "check", "config", str(PROMETHEUS / variant))
    compose = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in compose["scrape_configs"]}
    local = yaml.safe_load((PROMETHEUS / "prometheus.local.yml").read_text())
    assert {job["job_name"] for job in local["scrape_configs"]} <= jobs
    assert {"stigma-api", "stigma-orchestrator", "ai-worker", "zigflow-worker", "temporal"} <= jobs


def test_local_config_scrapes_the_ports_make_up_uses() -> None:
    local = yaml.safe_load((PROMETHEUS / "prometheus.local.yml").read_text())
    configured = {
        job["job_name"]: job["static_configs"][0]["targets"][0] for job in local["scrape_configs"]
    }
    ports = fixed_metrics_ports(DEFAULT_METRICS_BASE_PORT)
    assert configured == {name: f"127.0.0.1:{port}" for name, port in ports.items()}


def test_alertmanager_config_loads() -> None:
    _run(_tool("amtool"), "check-config", str(PROMETHEUS / "alertmanager.yml"))


def test_rendering_makes_every_runbook_url_absolute_under_the_configured_base(
    tmp_path: Path,
) -> None:
    """devstack's render_rules and compose's render-rules.sh (run here with the host's sh
    and sed) give the same file, every runbook_url under the configured base."""
    base = "https://wiki.example.org/ops/agent-handshake/runbook"
    done = subprocess.run(
        ["sh", str(PROMETHEUS / "render-rules.sh"), str(PROMETHEUS / "rules"), str(tmp_path)],
        env={"RUNBOOK_BASE_URL": base + "/", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    for path in RULE_FILES:
        rendered = render_rules(path.read_text(), runbook_base_url=base)
        assert (tmp_path / path.name).read_text() == rendered
        for group in yaml.safe_load(rendered)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    url = rule["annotations"]["runbook_url"]
                    assert url == f"{base}#{rule['alert'].lower()}"
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["prometheus"]
    assert "render-rules.sh /etc/prometheus/rules /rendered/rules" in " ".join(
        compose["entrypoint"]
    )
    assert compose["environment"]["RUNBOOK_BASE_URL"].endswith(f":-{DEFAULT_RUNBOOK_BASE_URL}}}")
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/rendered/rules/*.yml"]


def test_inhibitions_stay_within_one_service() -> None:
    config = yaml.safe_load((PROMETHEUS / "alertmanager.yml").read_text())
    assert config["inhibit_rules"]
    for rule in config["inhibit_rules"]:
        assert "job" in rule.get("equal", []), f"inhibit rule without equal: [job]: {rule}"


def test_compose_scrapes_the_telemetry_pipeline_and_ships_a_working_receiver() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"alertmanager", "otel-collector", "tempo", "grafana", "prometheus"} <= jobs
    alertmanager = yaml.safe_load((PROMETHEUS / "alertmanager.yml").read_text())
    [receiver] = alertmanager["receivers"]
    [webhook] = receiver["webhook_configs"]
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    host_port = webhook["url"].split("//", 1)[1].split("/", 1)[0]
    assert host_port == "alert-sink:9095"
    assert services["alert-sink"]["command"] == ["python", "-m", "service_kit.alert_sink"]
    assert webhook["send_resolved"] is True
