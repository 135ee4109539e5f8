from __future__ import annotations

import asyncio
import logging
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from agent_contract import AI_TASK_QUEUE, ORCHESTRATOR_TASK_QUEUE, ZIGFLOW_TASK_QUEUE
from devstack._credentials import STACK_PRINCIPALS, ApiPrincipal, StackKeys
from devstack._lifecycle import Startable
from devstack._private import private_dir, private_file, write_private
from devstack._processes import ServiceProcess, StartupError
from devstack._temporal import TemporalDevServer, free_port
from zigflow.stigma_channel import StigmaTls, stigma_channel

logger = logging.getLogger(__name__)

# service name -> (python module, task queue it polls, or None for the gRPC server)
SERVICES: dict[str, tuple[str, str | None]] = {
    "stigma-api": ("stigma_api", None),
    "stigma-orchestrator": ("stigma_orchestrator", ORCHESTRATOR_TASK_QUEUE),
    "ai-worker": ("ai_worker", AI_TASK_QUEUE),
    "zigflow-worker": ("zigflow", ZIGFLOW_TASK_QUEUE),
}
REPO_ROOT = Path(__file__).resolve().parents[4]
# Settings prefix of each service (its /metrics port is <PREFIX>METRICS_PORT).
ENV_PREFIXES: dict[str, str] = {
    "stigma-api": "STIGMA_API_",
    "stigma-orchestrator": "STIGMA_ORCHESTRATOR_",
    "ai-worker": "AI_WORKER_",
    "zigflow-worker": "ZIGFLOW_",
}

# The local stack runs on a developer's machine, where the servers a document calls (the
# tests' and examples' HTTP and gRPC servers, stigma-api itself) listen on loopback, which
# the zigflow-worker's egress policy refuses by default: these rules name loopback to lift
# that. 0.0.0.0/0 and ::/0 keep every other address reachable (a non-empty allow list
# admits only what it matches); they open no other built-in refusal (cloud metadata stays
# refused). A deployment keeps the default.
LOCAL_ZIGFLOW_EGRESS_ALLOW = "127.0.0.1/32,::1/128,localhost,0.0.0.0/0,::/0"


def fixed_metrics_ports(base: int) -> dict[str, int]:
    """``make up``'s /metrics ports: the services in SERVICES order from ``base``, then
    Temporal's own (key ``temporal``); prometheus/prometheus.local.yml scrapes these."""
    ports = {name: base + index for index, name in enumerate(SERVICES)}
    ports["temporal"] = base + len(SERVICES)
    return ports


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    """Where the SQLite database, the logs and the generated callback key live."""
    workflows_dir: Path = REPO_ROOT / "examples"
    temporal_port: int | None = None
    """Fixed port for Temporal (default: a free one)."""
    ui_port: int | None = None
    stigma_port: int | None = None
    headless: bool = False
    """Start Temporal without its web UI (tests)."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for every service."""
    service_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Extra environment per service name (every instance), and per instance name (e.g.
    ``zigflow-worker-2``: on top of its service's)."""
    metrics_ports: Mapping[str, int] = field(default_factory=dict)
    """Fixed /metrics port per service name (default: free ones, kept across restarts)."""
    temporal_metrics_port: int | None = None
    """Fixed port of the Temporal server's own /metrics (default: a free one)."""
    principals: Sequence[ApiPrincipal] = ()
    """More callers of stigma-api to make API keys for (tests: other tenants), beside
    ``zigflow-worker`` and ``operator``."""
    replicas: Mapping[str, int] = field(default_factory=dict)
    """Instances per service name (default 1). The first instance keeps the service's name,
    the others are ``<name>-2``, ``<name>-3``...; each is its own process with its own
    /metrics port, and each stigma-api its own gRPC port, which the zigflow-worker reaches
    by client-side load balancing over all of them."""


def instance_names(service: str, replicas: int) -> list[str]:
    """The process names of a service's instances: ``stigma-api``, ``stigma-api-2``..."""
    return [service if i == 1 else f"{service}-{i}" for i in range(1, replicas + 1)]


def callback_keys_file(state_dir: Path) -> Path:
    """The file of this state folder's random signing key (created once, 0600, in the 0700
    state folder): the services get its path (CALLBACK_KEYS_FILE), never the key itself."""
    private_dir(state_dir)
    path = state_dir / "callback-keys"
    if not path.exists():
        write_private(path, f"local:{secrets.token_urlsafe(32)}")
    private_file(path)
    return path


class LocalStack(Startable):
    """Temporal dev server plus the four services, each a real process."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.temporal = TemporalDevServer(
            state_dir=config.state_dir,
            port=config.temporal_port,
            ui_port=config.ui_port,
            metrics_port=config.temporal_metrics_port,
            headless=config.headless,
        )
        self.instances: dict[str, str] = {
            instance: name
            for name in SERVICES
            for instance in instance_names(name, max(1, config.replicas.get(name, 1)))
        }
        """Process name -> service name, in start order."""
        self.stigma_port = config.stigma_port or free_port()
        self.stigma_ports = {
            instance: self.stigma_port if instance == "stigma-api" else free_port()
            for instance, name in self.instances.items()
            if name == "stigma-api"
        }
        self.callback_keys_file = callback_keys_file(config.state_dir)
        # The keys themselves, for tests that sign their own tokens.
        self.callback_keys = self.callback_keys_file.read_text().strip()
        self.api_keys = StackKeys(config.state_dir, [*STACK_PRINCIPALS, *config.principals])
        self.metrics_ports = {
            instance: config.metrics_ports.get(instance) or free_port()
            for instance in self.instances
        }
        self.services = {instance: self._process(instance) for instance in self.instances}
        self._client: Client | None = None

    @property
    def stigma_address(self) -> str:
        """The first stigma-api's ``host:port``."""
        return f"127.0.0.1:{self.stigma_port}"

    @property
    def stigma_target(self) -> str:
        """Every stigma-api instance, as the zigflow-worker's ZIGFLOW_STIGMA_ADDRESS names
        them (one ``host:port``, or a list it balances over)."""
        return ",".join(f"127.0.0.1:{port}" for port in self.stigma_ports.values())

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the stack is not started")
        return self._client

    def env_for(self, instance: str) -> dict[str, str]:
        """The environment of one instance (a service name is its first instance)."""
        name = self.instances[instance]
        env = {
            "TEMPORAL_ADDRESS": self.temporal.address,
            "TEMPORAL_NAMESPACE": "default",
            "CALLBACK_KEYS_FILE": str(self.callback_keys_file),
            "PYTHONUNBUFFERED": "1",
            "STIGMA_API_LISTEN_ADDRESS": (
                f"127.0.0.1:{self.stigma_ports[instance]}"
                if name == "stigma-api"
                else self.stigma_address
            ),
            "STIGMA_API_API_KEYS_FILE": str(self.api_keys.server_file),
            "ZIGFLOW_STIGMA_ADDRESS": self.stigma_target,
            "ZIGFLOW_STIGMA_API_KEY_FILE": str(self.api_keys.key_file("zigflow-worker")),
            "ZIGFLOW_WORKFLOWS_DIR": str(self.config.workflows_dir),
        }
        prefix = ENV_PREFIXES[name]
        env[f"{prefix}METRICS_PORT"] = str(self.metrics_ports[instance])
        env[f"{prefix}METRICS_HOST"] = "127.0.0.1"
        if name == "zigflow-worker":
            env["ZIGFLOW_EGRESS_ALLOW"] = LOCAL_ZIGFLOW_EGRESS_ALLOW
        env.update(self.config.env)
        env.update(self.config.service_env.get(name, {}))
        if instance != name:
            env.update(self.config.service_env.get(instance, {}))
        return env

    def metrics_targets(self) -> dict[str, str]:
        """``host:port`` of every instance's /metrics endpoint, Temporal's own included."""
        targets = {name: f"127.0.0.1:{port}" for name, port in self.metrics_ports.items()}
        targets["temporal"] = f"127.0.0.1:{self.temporal.metrics_port}"
        return targets

    def scrape_jobs(self) -> dict[str, list[str]]:
        """Prometheus' jobs: one per service (its instances' targets) and ``temporal``."""
        jobs: dict[str, list[str]] = {}
        for instance, target in self.metrics_targets().items():
            jobs.setdefault(self.instances.get(instance, instance), []).append(target)
        return jobs

    def _process(self, instance: str) -> ServiceProcess:
        module, _ = SERVICES[self.instances[instance]]
        return ServiceProcess(
            name=instance,
            argv=[sys.executable, "-m", module],
            env=self.env_for(instance),
            log_file=self.config.state_dir / "logs" / f"{instance}.log",
        )

    async def start(self) -> None:
        await self.temporal.start()
        self._client = await Client.connect(self.temporal.address)
        await asyncio.gather(*(self.start_service(instance) for instance in self.instances))

    async def start_service(self, name: str, *, ready_within: float = 60.0) -> None:
        """(Re)start one instance (a service name is its first) and wait until it serves."""
        process = self.services[name]
        if process.running:
            raise RuntimeError(f"{name} is already running")
        await process.start()
        _, task_queue = SERVICES[self.instances[name]]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ready_within
        while not await self._ready(name, process, task_queue):
            process.raise_if_exited()
            if loop.time() > deadline:
                raise StartupError(f"{name} not ready after {ready_within:.0f}s\n{process.tail()}")
            await asyncio.sleep(0.1)

    async def _ready(self, name: str, process: ServiceProcess, task_queue: str | None) -> bool:
        if task_queue is None:
            return await self._serving(f"127.0.0.1:{self.stigma_ports[name]}")
        response = await self.client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=self.client.namespace,
                task_queue=TaskQueue(name=task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            )
        )
        return any(p.identity.startswith(f"{process.pid}@") for p in response.pollers)

    def stigma_tls(self) -> StigmaTls:
        """How clients reach stigma-api: the zigflow-worker's ZIGFLOW_STIGMA_TLS_* settings."""
        env = self.env_for("zigflow-worker")
        return StigmaTls(
            enabled=env.get("ZIGFLOW_STIGMA_TLS", "").lower() in ("1", "true", "yes"),
            ca_path=env.get("ZIGFLOW_STIGMA_TLS_CA_PATH", ""),
            cert_path=env.get("ZIGFLOW_STIGMA_TLS_CERT_PATH", ""),
            key_path=env.get("ZIGFLOW_STIGMA_TLS_KEY_PATH", ""),
            server_name=env.get("ZIGFLOW_STIGMA_TLS_SERVER_NAME", ""),
        )

    def stigma_channel(self, principal: str = "operator") -> grpc.aio.Channel:
        """A channel to stigma-api that calls as ``principal`` (an API key of this stack),
        over the zigflow-worker's transport settings. Use it as an async context manager."""
        return stigma_channel(
            self.stigma_target,
            self.stigma_tls(),
            credentials=self.api_keys.credentials(principal),
        )

    async def _serving(self, address: str) -> bool:
        async with stigma_channel(address, self.stigma_tls()) as channel:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=1
                )
            except grpc.aio.AioRpcError:
                return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def stop_service(self, name: str) -> int | None:
        return await self.services[name].stop()

    async def kill_service(self, name: str) -> None:
        await self.services[name].kill()

    async def stop(self) -> None:
        # Callers first (zigflow), then Stigma, then Temporal: nothing is cut mid-request.
        for instance in reversed(self.instances):
            await self.services[instance].stop()
        await self.temporal.stop()
