"""Logs that tell the truth: normal runs, restarts and runbook actions log no WARNING or
ERROR that is not a real problem, and every line of every service is a JSON line.

Each scenario runs on a stack of its own (it restarts the orchestrator), reads only the
lines the four services wrote while it ran (stdout and stderr of each process: the
stack's log files), and waits until the orchestrator has no activity left running, so
the lines a keep-alive writes after its run ended are read too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle

from agent_contract import (
    AGENT_WORKFLOW,
    ORCHESTRATOR_TASK_QUEUE,
    Phase,
)
from devstack import LocalStack
from stigma.agent.v1 import agent_pb2, agent_pb2_grpc
from tests.observability_support import scrape, total
from tests.reliability_support import agent_stepping, own_stack, pending_call, status_of
from tests.support import eventually, start_dsl

# reliability-fast.yaml's caller heartbeat timeout is 6 s: the keep-alive starts 2 s in.
OUTLIVES_FIRST_BEAT = {"steps": "3", "delay_ms": "1500"}
LONG_AGENT = {"steps": "1", "delay_ms": "120000"}
SERIOUS = frozenset({"WARNING", "ERROR", "CRITICAL"})


@dataclass
class Finding:
    service: str
    line: str
    why: str

    def __str__(self) -> str:
        return f"{self.service}: {self.why}: {self.line[:600]}"


@dataclass
class LogWatch:
    """The lines each service's process writes from now on (``from_start``: all of them)."""

    logs: Path
    from_start: bool = False
    offsets: dict[str, int] = field(default_factory=dict)
    expected: set[str] = field(default_factory=set)
    """Lines a scenario has checked and expects (see :meth:`expect`)."""

    def __post_init__(self) -> None:
        if not self.from_start:
            self.offsets = {path.stem: path.stat().st_size for path in self._files()}

    def _files(self) -> list[Path]:
        return [path for path in self.logs.glob("*.log") if path.stem != "temporal"]

    def lines(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for path in self._files():
            with path.open("rb") as log:
                log.seek(self.offsets.get(path.stem, 0))
                text = log.read().decode(errors="replace")
            found[path.stem] = text.splitlines()
        return found

    def expect(self, findings: list[Finding]) -> None:
        """These lines are a scenario's real problems, checked by it: not findings."""
        self.expected.update(finding.line for finding in findings)

    def findings(self) -> list[Finding]:
        """Every line that is not JSON, or is a WARNING or above (and not expected)."""
        out: list[Finding] = []
        for service, lines in self.lines().items():
            for line in lines:
                if line in self.expected:
                    continue
                try:
                    entry: Any = json.loads(line)
                except ValueError:
                    out.append(Finding(service, line, "not JSON"))
                    continue
                if not isinstance(entry, dict):
                    out.append(Finding(service, line, "not a JSON object"))
                elif entry.get("level") in SERIOUS:
                    out.append(Finding(service, line, str(entry["level"])))
        return out


# The only lines allowed: the zigflow-worker refusing, at start-up, the test definitions
# that are invalid on purpose (tests/workflows; the other tests check those refusals). A
# refused definition is a real problem anywhere else, so it stays an ERROR.
REFUSED_ON_PURPOSE = ("security-env.yaml", "dsl-secrets-missing.yaml")


def _refused_on_purpose(finding: Finding) -> bool:
    entry = json.loads(finding.line)
    return (
        finding.service == "zigflow-worker"
        and entry.get("message", "").startswith("definition refused: ")
        and any(f"/{name}:" in entry["message"] for name in REFUSED_ON_PURPOSE)
    )


def _model_call_failed(finding: Finding) -> bool:
    entry = json.loads(finding.line)
    return (
        finding.service == "ai-worker"
        and entry.get("level") == "WARNING"
        and entry.get("message", "").startswith("Completing activity as failed")
        and "ScriptedFailure" in finding.line
    )


@pytest.fixture(scope="module")
async def log_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with own_stack(
        tmp_path_factory.mktemp("log-stack"),
        service_env={
            # dsl-secrets.yaml's secret (the suite's stack provides it too).
            "zigflow-worker": {"ZIGFLOW_SECRET_DSL_TOKEN": "tok"},
            "stigma-orchestrator": {
                "STIGMA_ORCHESTRATOR_KEEPER_HEARTBEAT": "PT2S",
                "STIGMA_ORCHESTRATOR_STICKY_QUEUE_TIMEOUT": "PT2S",
                # A SIGTERM waits this long for the keep-alive loops (which never end by
                # themselves) before cancelling them: keep the restart inside the callers'
                # heartbeat timeout on a busy machine.
                "STIGMA_ORCHESTRATOR_GRACEFUL_SHUTDOWN": "PT2S",
            },
        },
    ) as stack:
        yield stack


@pytest.fixture
async def watch(log_stack: LocalStack) -> AsyncIterator[LogWatch]:
    """The scenario's lines; checked once the orchestrator has nothing left running."""
    watching = LogWatch(log_stack.config.state_dir / "logs")
    yield watching

    async def orchestrator_idle() -> bool:
        samples = await scrape(log_stack.metrics_targets()["stigma-orchestrator"])
        return (
            total(
                samples,
                "temporal_worker_task_slots_used",
                task_queue=ORCHESTRATOR_TASK_QUEUE,
                worker_type="ActivityWorker",
            )
            == 0
        )

    async def runs_closed() -> bool:
        running = await log_stack.client.count_workflows(
            f"WorkflowType = '{AGENT_WORKFLOW}' AND ExecutionStatus = 'Running'"
        )
        return running.count == 0

    # Every run closed (its last workflow task done), and no keep-alive left running.
    await eventually(runs_closed, within=60)
    await eventually(orchestrator_idle, within=60)
    findings = watching.findings()
    assert not findings, "\n".join(str(finding) for finding in findings)


async def test_starting_the_stack_logs_nothing_alarming(log_stack: LocalStack) -> None:
    findings = LogWatch(log_stack.config.state_dir / "logs", from_start=True).findings()
    unexpected = [finding for finding in findings if not _refused_on_purpose(finding)]
    assert not unexpected, "\n".join(str(finding) for finding in unexpected)
    assert len(findings) == len(REFUSED_ON_PURPOSE)


async def test_handshakes_log_nothing_alarming(log_stack: LocalStack, watch: LogWatch) -> None:
    client = log_stack.client
    quick = await start_dsl(client, "agent-call", {"input": "quick"})
    # Longer than the caller's first beat: the keep-alive runs and races the normal end.
    slow = [
        await start_dsl(
            client, "reliability-fast", {"input": f"slow {n}", "parameters": OUTLIVES_FIRST_BEAT}
        )
        for n in range(3)
    ]
    assert (await quick.result())["output"] == "quick"
    for n, handle in enumerate(slow):
        assert (await handle.result())["output"] == f"slow {n}"


async def test_an_agent_failure_logs_nothing_alarming(
    log_stack: LocalStack, watch: LogWatch
) -> None:
    client = log_stack.client
    quick = await start_dsl(client, "failing-agent", {"question": "fail fast"})
    slow = await start_dsl(
        client,
        "reliability-fast",
        {"input": "fail slow", "parameters": {**OUTLIVES_FIRST_BEAT, "fail_at_step": "3"}},
    )
    for handle in (quick, slow):
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    # A model call that fails is a real problem, and the ai-worker says so: one WARNING for
    # each failed model request (the scripted model's asked-for failure stands for a
    # provider's, and is counted in temporal_activity_execution_failed like one). Nothing else.
    failed_calls = [finding for finding in watch.findings() if _model_call_failed(finding)]
    assert len(failed_calls) == 2, failed_calls
    watch.expect(failed_calls)


async def test_cancelling_the_caller_logs_nothing_alarming(
    log_stack: LocalStack, watch: LogWatch
) -> None:
    client = log_stack.client
    caller = await start_dsl(
        client, "reliability-fast", {"input": "never mind", "parameters": LONG_AGENT}
    )
    agent = await agent_stepping(client, caller.id)
    await caller.cancel()
    await agent.result()
    assert (await status_of(agent)).phase is Phase.CANCELLED
    with pytest.raises(WorkflowFailureError):
        await caller.result()


async def test_cancelling_from_stigma_as_the_runbook_says_logs_nothing_alarming(
    log_stack: LocalStack, watch: LogWatch
) -> None:
    client = log_stack.client
    callers = [
        await start_dsl(
            client, "reliability-catch", {"input": f"stop {n}", "parameters": LONG_AGENT}
        )
        for n in range(2)
    ]
    agents = [await agent_stepping(client, caller.id) for caller in callers]
    # The runbook's two ways: CancelExecution, and `temporal workflow cancel`.
    async with log_stack.stigma_channel() as channel:
        stigma = agent_pb2_grpc.AgentServiceStub(channel)  # type: ignore[no-untyped-call]
        await stigma.CancelExecution(
            agent_pb2.CancelExecutionRequest(execution_id=agents[0].id, reason="runbook")
        )
    await agents[1].cancel()
    for caller in callers:
        assert await caller.result() == {"caught": "AgentCancelled"}


async def _beaten(caller: WorkflowHandle[Any, Any]) -> None:
    """Once the keep-alive has beaten the caller's activity: its heartbeat timeout then
    runs from that beat, and a restart must fit in it."""

    async def beaten() -> bool:
        call = await pending_call(caller)
        return call is not None and call.last_heartbeat_time.seconds > 0

    await eventually(beaten, within=60)


@pytest.mark.parametrize("how", ["sigterm", "kill"])
async def test_an_orchestrator_restart_logs_nothing_alarming(
    log_stack: LocalStack, watch: LogWatch, how: str
) -> None:
    client = log_stack.client
    # observed-call.yaml's caller heartbeat timeout (60 s) outlasts a restart on a busy
    # machine; its keep-alive starts 20 s in, so these agents are kept alive at the kill.
    callers = [
        await start_dsl(
            client,
            "observed-call",
            {"input": f"{how} {n}", "parameters": {"steps": "2", "delay_ms": "15000"}},
        )
        for n in range(3)
    ]
    for caller in callers:
        await _beaten(caller)
    if how == "kill":
        await log_stack.kill_service("stigma-orchestrator")
    else:
        await log_stack.stop_service("stigma-orchestrator")
    await log_stack.start_service("stigma-orchestrator")
    for n, caller in enumerate(callers):
        assert (await caller.result())["output"] == f"{how} {n}"
