"""The integration suite's stack: one Temporal dev server and the four services as
processes for the whole session, exactly as ``make up`` runs them."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from temporalio.client import Client

from devstack import LocalStack, StackConfig
from stigma.agent.v1 import agent_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent

# The zigflow-worker gets ONE activity slot for the whole suite: every agent call
# must therefore free its slot at once (raise_complete_async), or the suite stalls.
ZIGFLOW_SLOTS = 1


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    state = tmp_path_factory.mktemp("stack")
    workflows = state / "workflows"
    workflows.mkdir()
    for source in [*(ROOT / "examples").glob("*.yaml"), *(HERE / "workflows").glob("*.yaml")]:
        shutil.copy(source, workflows / source.name)
    config = StackConfig(
        state_dir=state,
        workflows_dir=workflows,
        headless=True,
        service_env={"zigflow-worker": {"ZIGFLOW_MAX_CONCURRENT_ACTIVITIES": str(ZIGFLOW_SLOTS)}},
    )
    async with LocalStack(config) as running:
        yield running


@pytest.fixture(scope="session")
async def client(stack: LocalStack) -> Client:
    return stack.client


@pytest.fixture(scope="session")
async def stigma(stack: LocalStack) -> AsyncIterator[agent_pb2_grpc.AgentServiceStub]:
    async with grpc.aio.insecure_channel(stack.stigma_address) as channel:
        yield agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
