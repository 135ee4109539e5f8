"""The ``zigflow`` CLI as a user runs it: a real process against a real Temporal dev server
and a real zigflow-worker. It ends with the right exit code every time (never 134 at
exit), prints JSON for scripts, refuses a YAML bomb fast (and the worker skips it and serves
the rest), and never waits silently on a file no worker serves.

This module runs its own dev server and worker (no stigma-api: no agent is called), so the
worker's folder can hold the bomb and the test files alone.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from agent_contract import ZIGFLOW_TASK_QUEUE
from devstack import ServiceProcess, TemporalDevServer
from tests.support import eventually, history_events, unique
from tests.zigflow_support import BOMB

ZIGFLOW = str(Path(sys.executable).parent / "zigflow")
RUNS = 20  # the abort at exit came in about 1 run of 3 to 9

HELLO = """\
document: {dsl: "1.0.0", namespace: tests, name: cli-hello, version: "1.0.0"}
do:
  - greet:
      set: {greeting: '${ "hello " + .name }', task: '${ $task.name }'}
"""
FAIL = """\
document: {dsl: "1.0.0", namespace: tests, name: cli-fail, version: "1.0.0"}
do:
  - refuse:
      raise:
        error:
          type: https://example.com/errors/refused
          status: 422
          title: Refused
          detail: '${ "no " + .name }'
"""
WAIT = """\
document: {dsl: "1.0.0", namespace: tests, name: cli-wait, version: "1.0.0"}
do:
  - hold: { listen: { to: { one: { with: { type: go } } } } }
"""


@dataclass(frozen=True)
class Setup:
    client: Client
    address: str
    folder: Path
    outside: Path
    worker: ServiceProcess


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str
    seconds: float


@pytest.fixture(scope="module")
async def setup(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Setup]:
    state = tmp_path_factory.mktemp("cli")
    folder = state / "workflows"
    folder.mkdir()
    (folder / "cli-hello.yaml").write_text(HELLO)
    (folder / "cli-fail.yaml").write_text(FAIL)
    (folder / "cli-wait.yaml").write_text(WAIT)
    (folder / "bomb.yaml").write_text(BOMB)
    outside = state / "elsewhere"
    outside.mkdir()
    async with TemporalDevServer(state_dir=state, headless=True) as temporal:
        client = await Client.connect(temporal.address)
        worker = ServiceProcess(
            name="zigflow-worker",
            argv=[sys.executable, "-m", "zigflow"],
            env={
                "TEMPORAL_ADDRESS": temporal.address,
                "CALLBACK_KEYS": "cli:" + "k" * 32,
                "ZIGFLOW_WORKFLOWS_DIR": str(folder),
                "ZIGFLOW_STIGMA_API_KEY": "unused-no-agent-is-called",
                "PYTHONUNBUFFERED": "1",
            },
            log_file=state / "logs" / "zigflow-worker.log",
        )
        await worker.start()
        try:

            async def polling() -> bool:
                worker.raise_if_exited()
                response = await client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=client.namespace,
                        task_queue=TaskQueue(name=ZIGFLOW_TASK_QUEUE),
                        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                    )
                )
                return any(p.identity.startswith(f"{worker.pid}@") for p in response.pollers)

            await eventually(polling, within=60)
            yield Setup(client, temporal.address, folder, outside, worker)
        finally:
            await worker.stop()


async def zigflow(setup: Setup, *args: str) -> Outcome:
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        ZIGFLOW,
        *args,
        env={"TEMPORAL_ADDRESS": setup.address, "PATH": "/usr/bin:/bin"},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return Outcome(process.returncode, out.decode(), err.decode(), time.monotonic() - started)


async def test_zigflow_run_ends_with_code_0_every_time(setup: Setup) -> None:
    hello = str(setup.folder / "cli-hello.yaml")
    outcomes: list[Outcome] = []
    for _ in range(RUNS // 2):  # two at a time: the machine has two cores
        outcomes += await asyncio.gather(
            *(zigflow(setup, "run", hello, "--json", "--input", '{"name": "you"}') for _ in "ab")
        )
    codes = [outcome.code for outcome in outcomes]
    assert codes == [0] * RUNS, [o.err for o in outcomes if o.code]
    for outcome in outcomes:
        assert json.loads(outcome.out) == {"greeting": "hello you", "task": "greet"}


async def test_a_failed_run_prints_the_dsl_error_as_json_and_exits_1(setup: Setup) -> None:
    outcome = await zigflow(
        setup, "run", str(setup.folder / "cli-fail.yaml"), "--json", "--input", '{"name": "x"}'
    )
    assert outcome.code == 1, outcome.err
    assert json.loads(outcome.out) == {
        "type": "https://example.com/errors/refused",
        "status": 422,
        "title": "Refused",
        "detail": "no x",
        "instance": "/do/0/refuse",
    }
    plain = await zigflow(setup, "run", str(setup.folder / "cli-fail.yaml"))
    assert plain.code == 1
    assert plain.out == ""
    assert "workflow cli-fail failed" in plain.err


async def test_bad_input_exits_2(setup: Setup) -> None:
    outcome = await zigflow(setup, "run", str(setup.folder / "cli-hello.yaml"), "--input", "{")
    assert outcome.code == 2
    assert "--input is not valid JSON" in outcome.err


async def test_the_worker_skips_the_bomb_and_names_it_in_its_log(setup: Setup) -> None:
    log = setup.worker.log_file.read_text()
    (line,) = [line for line in log.splitlines() if "bomb.yaml" in line]
    assert "definition refused" in line
    assert "ZIGFLOW_YAML_MAX_ALIAS_NODES" in line
    assert setup.worker.running


async def test_validate_and_run_refuse_the_bomb_as_fast_as_they_accept_a_small_file(
    setup: Setup,
) -> None:
    bomb = str(setup.folder / "bomb.yaml")
    baseline = await zigflow(setup, "validate", str(setup.folder / "cli-hello.yaml"))
    assert baseline.code == 0
    for command in (["validate", bomb], ["run", bomb, "--json"]):
        outcome = await zigflow(setup, *command)
        assert outcome.code == 1
        assert "ZIGFLOW_YAML_MAX_ALIAS_NODES" in outcome.err + outcome.out
        assert bomb in outcome.err + outcome.out
        # The process's start (imports) is the same for both; the refusal adds under 1 s.
        assert outcome.seconds < baseline.seconds + 1.0, (outcome.seconds, baseline.seconds)


async def terminated_runs(client: Client, workflow_type: str) -> list[WorkflowExecutionStatus]:
    return [
        execution.status
        async for execution in client.list_workflows(f"WorkflowType = '{workflow_type}'")
        if execution.status is not None
    ]


async def test_a_file_the_worker_does_not_serve_fails_fast_and_leaves_nothing_running(
    setup: Setup,
) -> None:
    name = unique("cli-unknown")
    path = setup.outside / f"{name}.yaml"
    path.write_text(HELLO.replace("cli-hello", name))
    baseline = await zigflow(setup, "validate", str(path))
    outcome = await zigflow(setup, "run", str(path))
    assert outcome.code == 3, outcome.err
    assert f"no worker on task queue '{ZIGFLOW_TASK_QUEUE}' serves workflow type" in outcome.err
    assert "ZIGFLOW_WORKFLOWS_DIR" in outcome.err
    assert outcome.seconds < baseline.seconds + 5.0, (outcome.seconds, baseline.seconds)

    async def terminated() -> bool:
        return await terminated_runs(setup.client, name) == [WorkflowExecutionStatus.TERMINATED]

    await eventually(terminated, within=10)


async def test_a_file_edited_since_the_worker_loaded_it_is_refused(setup: Setup) -> None:
    path = setup.outside / "cli-hello.yaml"
    path.write_text(HELLO.replace('"hello "', '"goodbye "'))
    outcome = await zigflow(setup, "run", str(path), "--json")
    assert outcome.code == 3, outcome.err
    error = json.loads(outcome.out)
    assert error["title"] == "Other content served"
    assert "serves other content for workflow type 'cli-hello'" in error["detail"]
    # The worker's own copy still runs, and so does a byte-identical copy anywhere else.
    same = await zigflow(setup, "run", str(setup.folder / "cli-hello.yaml"), "--json")
    assert same.code == 0
    path.write_text(HELLO)
    copy = await zigflow(setup, "run", str(path), "--json", "--input", '{"name": "copy"}')
    assert (copy.code, json.loads(copy.out)["greeting"]) == (0, "hello copy")


async def test_a_queue_no_worker_polls_is_refused_before_starting(setup: Setup) -> None:
    queue = unique("cli-nobody")
    path = setup.outside / "cli-queue.yaml"
    path.write_text(
        HELLO.replace("cli-hello", "cli-queue").replace(
            'version: "1.0.0"}', f'version: "1.0.0", metadata: {{taskQueue: {queue}}}}}'
        )
    )
    outcome = await zigflow(setup, "run", str(path))
    assert outcome.code == 3, outcome.err
    assert f"no worker polls task queue '{queue}'" in outcome.err
    assert await terminated_runs(setup.client, "cli-queue") == []


async def test_ctrl_c_ends_the_cli_with_130_and_names_the_run_that_goes_on(setup: Setup) -> None:
    process = await asyncio.create_subprocess_exec(
        ZIGFLOW,
        "run",
        str(setup.folder / "cli-wait.yaml"),
        env={"TEMPORAL_ADDRESS": setup.address, "PATH": "/usr/bin:/bin"},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    handles: list[WorkflowHandle[Any, Any]] = []

    async def waiting_on_its_event() -> bool:
        async for execution in setup.client.list_workflows("WorkflowType = 'cli-wait'"):
            if execution.status == WorkflowExecutionStatus.RUNNING:
                handle = setup.client.get_workflow_handle(execution.id)
                if await history_events(handle, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED):
                    handles.append(handle)
                    return True
        return False

    await eventually(waiting_on_its_event, within=30)
    process.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    stderr = err.decode()
    (handle,) = handles
    assert process.returncode == 130, stderr
    assert f"run {handle.id} goes on in Temporal" in stderr
    assert "zigflow: interrupted" in stderr
    assert "Traceback" not in stderr
    assert out == b""
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    await handle.terminate("test over")
