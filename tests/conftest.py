"""The integration suite's stack: one Temporal dev server and the four services as
processes for the whole session, exactly as ``make up`` runs them.

``--stack=containers`` (or STACK_MODE=containers) runs the same tests against the project's
images and the Temporal dev-server image, started through testcontainers
(tests/containers_support.py); the pytest header says which mode ran. Tests that need the
processes themselves are marked ``processes_only`` here (PROCESSES_ONLY, with the reason)
and are deselected in container mode; ``make test-containers`` runs the rest.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest
from temporalio.client import Client

from devstack import LocalStack, StackConfig
from stigma.agent.v1 import agent_pb2_grpc
from tests.containers_support import ContainerImages, ContainerStack, ContainerStackConfig
from tests.observability_support import observed  # noqa: F401  (session fixture)
from tests.security_support import STIGMA_API_QUOTAS, SUITE, SUITE_PRINCIPALS
from tests.support import stage_workflows

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent

# The zigflow-worker gets ONE activity slot for the whole suite: every agent call
# must therefore free its slot at once (raise_complete_async), or the suite stalls.
ZIGFLOW_SLOTS = 1
# The zigflow-worker's env in both stack modes: its one activity slot, and the secrets
# tests/workflows/dsl-secrets.yaml reads (env-var secrets need no mount in containers).
ZIGFLOW_ENV = {
    "ZIGFLOW_MAX_CONCURRENT_ACTIVITIES": str(ZIGFLOW_SLOTS),
    "ZIGFLOW_SECRET_DSL_TOKEN": "tok-only-the-worker-knows",
    "ZIGFLOW_SECRET_UNDECLARED": "never-visible",
}

STACK_MODES = ("processes", "containers")
# Tests (module, or module::test) that need the stack as local processes, and why.
PROCESSES_ONLY: dict[str, str] = {
    "test_alert_delivery.py": (
        "runs Prometheus and Alertmanager as local processes scraping endpoints on the host"
    ),
    "test_agents.py": "runs its own process stack pointed at model and MCP doubles on the host",
    "test_reliability_crashes.py": "kills and restarts service processes and the Temporal server",
    "test_reliability_hostile.py": "restarts service processes with other settings",
    "test_reliability_liveness.py": "stops service processes mid-run",
    "test_replicas.py": "runs two instances of each service as processes and kills some",
    "test_versioning.py": "runs two builds of two services as processes, one stopped mid-test",
    "test_reliability_tls.py": "restarts stigma-api processes with TLS files from the host",
    "test_token_secrecy.py": "reads the services' log files under the stack's state dir",
    "test_observability_logs.py": (
        "reads the services' log files under the stack's state dir and restarts a service"
    ),
    "test_security_tokens.py": (
        "serves HTTP on the host's 127.0.0.1 and reads the stack's state dir and logs"
    ),
    "test_dsl_http.py": "serves HTTP on the host's 127.0.0.1, which containers cannot reach",
    "test_dsl_cli.py": "runs the zigflow CLI and its own dev server and worker as processes",
    "test_dsl_definition_pinning.py": "runs its own dev server and a worker it restarts",
    "test_dsl_hostile_documents.py": (
        "runs its own dev server and worker as processes, and HTTP servers on the host"
    ),
    "test_trace_viewer.py": "runs make demo (its own stack and Phoenix) and chromium on the host",
    "test_dsl_examples.py::test_http_to_agent": "serves HTTP on the host's 127.0.0.1",
    "test_dsl_secrets.py::test_the_worker_log_names_the_refusal_and_never_a_value": (
        "reads the zigflow-worker's log file under the stack's state dir"
    ),
    **{
        f"test_dsl_grpc.py::{test}": "serves gRPC on the host's 127.0.0.1"
        for test in (
            "test_echo_then_a_status_caught_by_type_and_status",
            "test_an_uncaught_status_fails_the_workflow_with_a_communication_error",
            "test_unavailable_is_retried_by_temporal_before_the_workflow_sees_it",
            "test_an_argument_the_message_has_no_field_for_is_a_validation_error",
        )
    },
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--stack",
        choices=STACK_MODES,
        default=os.environ.get("STACK_MODE", "processes"),
        help="run the integration stack as local processes (default) or as containers "
        "through testcontainers (the project's images; `make images` builds them)",
    )


def stack_mode(config: pytest.Config) -> str:
    return str(config.getoption("--stack"))


def pytest_report_header(config: pytest.Config) -> str:
    if stack_mode(config) == "containers":
        images = ", ".join(ContainerImages.pinned().all())
        return f"stack: containers through testcontainers ({images}); processes_only deselected"
    return "stack: processes (Temporal dev server and the four services as local processes)"


# Any test using these fixtures runs its own process stack (observability_support: the
# services export to an in-process OTLP receiver and are restarted by the tests).
PROCESSES_ONLY_FIXTURES: dict[str, str] = {
    "observed": "runs its own process stack with an in-process OTLP receiver",
    "jwt_stack": "runs its own process stack (JWT auth; restarts services; reads its logs)",
}


def processes_only_reason(item: pytest.Item) -> str | None:
    for fixture in getattr(item, "fixturenames", ()):
        if fixture in PROCESSES_ONLY_FIXTURES:
            return PROCESSES_ONLY_FIXTURES[fixture]
    module = Path(str(item.path)).name
    test = getattr(item, "originalname", item.name)
    return PROCESSES_ONLY.get(f"{module}::{test}") or PROCESSES_ONLY.get(module)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    deselected: list[pytest.Item] = []
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)
            if processes_only_reason(item) is not None:
                item.add_marker(pytest.mark.processes_only)
                if stack_mode(config) == "containers":
                    deselected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


@pytest.fixture(scope="session")
async def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LocalStack]:
    state = tmp_path_factory.mktemp("stack")
    workflows = stage_workflows(state)
    if stack_mode(request.config) == "containers":
        containers = ContainerStackConfig(
            workflows_dir=workflows,
            service_env={"zigflow-worker": ZIGFLOW_ENV, "stigma-api": STIGMA_API_QUOTAS},
            principals=SUITE_PRINCIPALS,
        )
        async with ContainerStack(containers) as in_containers:
            # Same surface as LocalStack for the tests that run here (client, stigma_address,
            # stigma_channel, callback_keys, metrics_targets); the processes_only ones never
            # see it.
            yield cast(LocalStack, in_containers)
        return
    config = StackConfig(
        state_dir=state,
        workflows_dir=workflows,
        headless=True,
        service_env={
            "zigflow-worker": ZIGFLOW_ENV,
            "stigma-api": STIGMA_API_QUOTAS,
            # Shorter than the 15 s caller beat of reliability-slow-beat.yaml, on purpose.
            "stigma-orchestrator": {"STIGMA_ORCHESTRATOR_KEEPER_HEARTBEAT": "PT10S"},
        },
        principals=SUITE_PRINCIPALS,
    )
    async with LocalStack(config) as running:
        yield running


@pytest.fixture(scope="session")
async def client(stack: LocalStack) -> Client:
    return stack.client


@pytest.fixture(scope="session")
async def stigma(stack: LocalStack) -> AsyncIterator[agent_pb2_grpc.AgentServiceStub]:
    """stigma-api as the suite calls it: principal ``suite`` of the default tenant."""
    async with stack.stigma_channel(SUITE.name) as channel:
        yield agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
