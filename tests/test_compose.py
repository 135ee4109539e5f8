"""compose.yaml, its PostgreSQL override and the files they mount hold together.

What `docker compose up` needs but this machine cannot run (most images cannot be pulled
here) is checked from the files: docker-compose's own validation and merge, the Compose
specification's JSON schema (vendored by check-jsonschema), the collector pipeline, the
healthchecks, loopback-only ports, pinned images, and the names shared with the code.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack._temporal import QUEUE_READER_SETTINGS, SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
POSTGRES = ROOT / "compose.postgres.yaml"
COLLECTOR = ROOT / "docker" / "otel-collector.yaml"
PROJECT_SERVICES = ("stigma-api", "stigma-orchestrator", "ai-worker", "zigflow-worker")
COMPOSE_SETS = {"dev-server": [COMPOSE], "postgres": [COMPOSE, POSTGRES]}


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def pins() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (ROOT / ".env").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[key] = value
    return values


def interpolate(text: str) -> str:
    """Compose's ${VAR} and ${VAR:-default} against .env (enough for these files)."""
    values = pins()

    def one(match: re.Match[str]) -> str:
        name, _, default = match.group(1).partition(":-")
        return values.get(name, default)

    return re.sub(r"\$\{([^}?]+)\}", one, text)


def merged(files: list[Path]) -> dict[str, Any]:
    """The config docker-compose itself computes (merge of the files, interpolated)."""
    args = [arg for path in files for arg in ("-f", str(path))]
    out = subprocess.run(
        [compose_cli(), *args, "config"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    data = yaml.safe_load(out)
    assert isinstance(data, dict)
    return data


def compose_cli() -> str:
    found = shutil.which("docker-compose")
    assert found, "docker-compose is missing: apt-get install docker-compose (.ci/run does)"
    return found


@pytest.mark.docker
@pytest.mark.parametrize("files", COMPOSE_SETS.values(), ids=COMPOSE_SETS.keys())
def test_docker_compose_accepts_the_files(files: list[Path]) -> None:
    args = [arg for path in files for arg in ("-f", str(path))]
    result = subprocess.run(
        [compose_cli(), *args, "config", "-q"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.docker
@pytest.mark.parametrize("files", COMPOSE_SETS.values(), ids=COMPOSE_SETS.keys())
def test_every_service_has_a_healthcheck_or_a_reason(files: list[Path]) -> None:
    # docker-compose 1.x drops x- keys when it merges files: reasons come from the files.
    reasons = {
        name: str(service["x-healthcheck-reason"]).strip()
        for path in files
        for name, service in load(path)["services"].items()
        if "x-healthcheck-reason" in service
    }
    for name, service in merged(files)["services"].items():
        check = service.get("healthcheck", {})
        reason = reasons.get(name, "")
        has_check = bool(check.get("test")) and not check.get("disable", False)
        assert has_check or len(reason) > 20, f"{name}: no healthcheck and no reason given"


@pytest.mark.docker
@pytest.mark.parametrize("files", COMPOSE_SETS.values(), ids=COMPOSE_SETS.keys())
def test_services_wait_for_a_healthy_temporal_and_publish_on_loopback_only(
    files: list[Path],
) -> None:
    services = merged(files)["services"]
    for name in PROJECT_SERVICES:
        waits = services[name]["depends_on"]
        upstream = "temporal" if name != "zigflow-worker" else "stigma-api"
        assert waits[upstream]["condition"] == "service_healthy", name
    for name, service in services.items():
        for port in service.get("ports", []):
            # docker-compose 1.x prints "ip:host:container/proto"; compose v2 a mapping.
            host_ip = port.get("host_ip") if isinstance(port, dict) else port.split(":")[0]
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond loopback"


def test_compose_spec_schema_accepts_the_files() -> None:
    schema = json.loads(
        resources.files("check_jsonschema.builtin_schemas.vendor")
        .joinpath("compose-spec.json")
        .read_text()
    )
    assert "compose" in schema.get("$id", "") + schema.get("title", "").lower()
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(COMPOSE), str(POSTGRES)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_version_key_and_every_image_pinned_in_env() -> None:
    values = pins()
    for path in (COMPOSE, POSTGRES):
        raw = load(path)
        assert "version" not in raw, f"{path.name}: the Compose specification has no version"
        for name, service in raw["services"].items():
            if "image" not in service:
                continue  # an override entry that only adds dependencies
            image = str(service["image"])
            assert "${" in image, f"{path.name} {name}: image {image!r} not pinned through .env"
    for key, value in values.items():
        if key.endswith("_IMAGE"):
            assert re.fullmatch(r"[\w./-]+:[\w.-]+", value), f"{key}={value} has no tag"
            assert not value.endswith(":latest"), f"{key} uses latest"


def test_mounted_files_exist() -> None:
    for path in (COMPOSE, POSTGRES):
        for name, service in load(path)["services"].items():
            for volume in service.get("volumes", []):
                source = str(volume).split(":", 1)[0]
                if source.startswith("./"):
                    assert (ROOT / source).exists(), f"{path.name} {name} mounts missing {source}"


def test_collector_pipeline_is_complete() -> None:
    config = load(COLLECTOR)
    service = config["service"]
    for extension in service.get("extensions", []):
        assert extension in config["extensions"], f"extension {extension} is not configured"
    pipelines = service["pipelines"]
    assert "traces" in pipelines
    for name, pipeline in pipelines.items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in config.get(kind, {}), (
                    f"{name}: {kind[:-1]} {component} undefined"
                )
        assert pipeline["processors"][0] == "memory_limiter", (
            f"{name}: memory_limiter must be first"
        )
        assert pipeline["receivers"] == ["otlp"], name
    limiter = config["processors"]["memory_limiter"]
    assert limiter["limit_mib"] > limiter["spike_limit_mib"] > 0
    # The services export to the port the collector listens on; traces go to the trace store.
    compose = load(COMPOSE)
    endpoint = compose["x-service-env"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    grpc_port = config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].rsplit(":", 1)[1]
    assert endpoint == f"http://otel-collector:{grpc_port}"
    for exporter in pipelines["traces"]["exporters"]:
        host = config["exporters"][exporter]["endpoint"].split(":")[0]
        assert host in compose["services"], f"exporter {exporter} sends to unknown host {host}"


def test_prometheus_and_grafana_reach_compose_services() -> None:
    services = load(COMPOSE)["services"]
    prometheus = load(ROOT / "prometheus" / "prometheus.yml")
    for job in prometheus["scrape_configs"]:
        hosts = [
            target.split(":")[0]
            for static in job.get("static_configs", [])
            for target in static["targets"]
        ]
        hosts += [name for dns in job.get("dns_sd_configs", []) for name in dns["names"]]
        assert hosts, f"job {job['job_name']} has no target"
        for host in hosts:
            assert host == "localhost" or host in services, f"scrape target {host}"
    # Every replica of a scalable service is its own target: found through DNS, not pinned.
    discovered = {
        job["job_name"] for job in prometheus["scrape_configs"] if "dns_sd_configs" in job
    }
    assert set(PROJECT_SERVICES) <= discovered
    for path in (ROOT / "grafana" / "provisioning" / "datasources").glob("*.y*ml"):
        for source in load(path)["datasources"]:
            host = source["url"].split("//")[1].split(":")[0]
            assert host in services, f"datasource {source['name']} points at {host}"


def test_the_services_scale_with_compose() -> None:
    """`docker compose up --scale <service>=N`: no container name, and no fixed host port
    except on the stateful singletons a person opens (stigma-api publishes a range)."""
    # alert-sink: the runbook links of every alert point at its one host port.
    singletons = {"temporal", "temporal-ui", "prometheus", "alertmanager", "grafana", "alert-sink"}
    for path in (COMPOSE, POSTGRES):
        for name, service in load(path)["services"].items():
            assert "container_name" not in service, f"{path.name} {name}: container_name"
            for port in service.get("ports", []):
                host = str(port).rsplit(":", 1)[0]
                published = host.split(":", 1)[1]
                if name not in singletons:
                    assert "-" in interpolate(published), f"{path.name} {name} pins {port}"
    scalable = set(load(COMPOSE)["services"]) - singletons
    assert {*PROJECT_SERVICES, "loadgen", "otel-collector"} <= scalable


def test_images_know_the_search_attributes_and_the_services_their_health_targets() -> None:
    temporal = (ROOT / "docker" / "temporal.Dockerfile").read_text()
    init = interpolate(POSTGRES.read_text())
    for name, kind in SEARCH_ATTRIBUTES.items():
        assert f'"{name}={kind}"' in temporal, f"temporal.Dockerfile lacks {name}"
        assert f"--name {name} --type {kind}" in init, f"temporal-init lacks {name}"
    services = load(COMPOSE)["services"]
    for name in PROJECT_SERVICES:
        target = services[name]["build"]["args"]["HEALTHCHECK_TARGET"]
        assert target.startswith("grpc:" if name == "stigma-api" else "pollers:"), name


def test_the_dev_server_image_reads_its_history_queues_as_devstacks_does() -> None:
    temporal = (ROOT / "docker" / "temporal.Dockerfile").read_text()
    values = QUEUE_READER_SETTINGS[1::2]
    assert values, "devstack sets no queue reader rate"
    for value in values:
        expected = f'"--dynamic-config-value", "{value}"'
        assert expected in temporal, f"temporal.Dockerfile lacks {value}"
