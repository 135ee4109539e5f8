"""Worker Versioning: runs stay on the build they started on while a changed build is
deployed beside it, new runs take the new build, and the old one drains.

Version 1 of the orchestrator and of the zigflow-worker serve 50 calls of an agent that
takes 40 s. Version 2 is deployed beside them: the zigflow-worker's definition of the same
workflow gains a timer before the agent call and a field after it (replaying a version-1
history with it would be a nondeterminism error), and the orchestrator a new build id. The
operator makes version 2 current; new calls run on it while the 50 finish on version 1;
then version 1's workers are stopped (nothing is left for them) and version 2 serves on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from devstack import LocalStack
from service_kit import DeploymentVersion, current_build_id, make_current
from tests.reliability_support import agent_runs, own_stack
from tests.support import eventually, history_events, stage_workflows, start_dsl

OPEN_ON_V1 = 50
NEW_ON_V2 = 10
ORCHESTRATOR = "stigma-orchestrator"
ZIGFLOW = "zigflow-worker"
VERSION_2_STEPS = """
do:
  - pause:
      wait:
        milliseconds: 100
  - call:
      call: agent
      with:
        name: versioned
        model: scripted:echo
        input: ${ .input }
        parameters: ${ .parameters // {} }
        heartbeat: PT30S
  - stamp:
      set:
        output: ${ .output }
        release: v2
"""


def _version_2(state: Path) -> Path:
    """Every definition as staged, but versioned-call.yaml changed under the same name."""
    workflows = stage_workflows(state)
    path = workflows / "versioned-call.yaml"
    head = path.read_text().split("\ndo:\n")[0]
    path.write_text(head + "\n" + VERSION_2_STEPS.lstrip("\n"))
    return workflows


@pytest.fixture(scope="module")
async def versioned(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    v2_workflows = _version_2(tmp_path_factory.mktemp("workflows-v2"))
    async with own_stack(
        tmp_path_factory.mktemp("versioned"),
        replicas={ORCHESTRATOR: 2, ZIGFLOW: 2},
        service_env={
            ORCHESTRATOR: {"STIGMA_ORCHESTRATOR_BUILD_ID": "v1"},
            f"{ORCHESTRATOR}-2": {"STIGMA_ORCHESTRATOR_BUILD_ID": "v2"},
            ZIGFLOW: {"ZIGFLOW_BUILD_ID": "v1"},
            f"{ZIGFLOW}-2": {
                "ZIGFLOW_BUILD_ID": "v2",
                "ZIGFLOW_WORKFLOWS_DIR": str(v2_workflows),
            },
        },
    ) as stack:
        yield stack


async def _builds(handle: WorkflowHandle[Any, Any]) -> set[str]:
    """The build ids of the workers that completed the run's workflow tasks."""
    completed = await history_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    return {
        event.workflow_task_completed_event_attributes.deployment_version.build_id
        for event in completed
    }


async def _failed_tasks(handle: WorkflowHandle[Any, Any]) -> int:
    return len(await history_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED))


async def _agent(client: Client, caller: WorkflowHandle[Any, Any]) -> WorkflowHandle[Any, Any]:
    (run,) = await agent_runs(client, caller.id)
    return client.get_workflow_handle(run)


@pytest.mark.timeout(600)
async def test_open_runs_finish_on_their_build_while_new_runs_take_the_new_one(
    versioned: LocalStack,
) -> None:
    stack, client = versioned, versioned.client
    # Version 2 came up with version 1 (the stack starts every instance): take it away
    # again, and make version 1 current as an operator would for a first release.
    for name in (ORCHESTRATOR, ZIGFLOW):
        await stack.stop_service(f"{name}-2")
        await make_current(client, DeploymentVersion(name, "v1"))

    slow = {"steps": "1", "delay_ms": "40000"}
    old = [
        await start_dsl(client, "versioned-call", {"input": f"old {n}", "parameters": slow})
        for n in range(OPEN_ON_V1)
    ]

    async def all_agents_running() -> bool:
        counts = await asyncio.gather(*(agent_runs(client, caller.id) for caller in old))
        return all(len(runs) == 1 for runs in counts)

    await eventually(all_agents_running, within=60)

    # Version 2 deployed beside version 1: it does not take new runs by itself ...
    for name in (ORCHESTRATOR, ZIGFLOW):
        await stack.start_service(f"{name}-2")
        assert await current_build_id(client, name) == "v1"
    # ... until the operator makes it current.
    for name in (ORCHESTRATOR, ZIGFLOW):
        await make_current(client, DeploymentVersion(name, "v2"))
    quick = {"steps": "1", "delay_ms": "500"}
    new = [
        await start_dsl(client, "versioned-call", {"input": f"new {n}", "parameters": quick})
        for n in range(NEW_ON_V2)
    ]
    new_results = await asyncio.wait_for(asyncio.gather(*(c.result() for c in new)), 120)
    old_results = await asyncio.wait_for(asyncio.gather(*(c.result() for c in old)), 180)

    assert [r["output"] for r in old_results] == [f"old {n}" for n in range(OPEN_ON_V1)]
    assert all("release" not in r for r in old_results)
    assert [r["release"] for r in new_results] == ["v2"] * NEW_ON_V2
    assert [r["output"] for r in new_results] == [f"new {n}" for n in range(NEW_ON_V2)]
    for caller in old:
        assert await _builds(caller) == {"v1"}, caller.id
        assert await _builds(await _agent(client, caller)) == {"v1"}, caller.id
        assert await _failed_tasks(caller) == 0, caller.id
    for caller in new:
        assert await _builds(caller) == {"v2"}, caller.id
        assert await _builds(await _agent(client, caller)) == {"v2"}, caller.id

    # Version 1 has nothing left to run: its workers go, and version 2 serves on.
    for name in (ORCHESTRATOR, ZIGFLOW):
        assert await stack.stop_service(name) == 0
    last = await start_dsl(client, "versioned-call", {"input": "last", "parameters": quick})
    assert (await asyncio.wait_for(last.result(), 60))["release"] == "v2"
