"""stigmactl complete|fail|cancel acts on a pending CallAgent of its own namespace only."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio.api.common.v1 import ActivityType
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse

from stigmactl.cli import UsageError, amain, finish


@dataclass
class FakeHandle:
    calls: list[tuple[str, Any]]

    async def complete(self, result: Any) -> None:
        self.calls.append(("complete", result))

    async def fail(self, error: BaseException) -> None:
        self.calls.append(("fail", str(error)))

    async def report_cancellation(self, details: Any) -> None:
        self.calls.append(("report_cancellation", details))


@dataclass
class FakeClient:
    """Temporal with one workflow run whose activity 5 is pending as ``kind``."""

    kind: str = "CallAgent"
    namespace: str = "default"
    calls: list[tuple[str, Any]] = field(default_factory=list)
    acted_on: list[dict[str, Any]] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str) -> Any:
        kind = self.kind

        class _Handle:
            async def describe(self) -> Any:
                pending = PendingActivityInfo(
                    activity_id="5", activity_type=ActivityType(name=kind), attempt=1
                )
                raw = DescribeWorkflowExecutionResponse(pending_activities=[pending])
                return type("Description", (), {"raw_description": raw, "run_id": "run-7"})()

        return _Handle()

    def get_async_activity_handle(self, **ids: Any) -> FakeHandle:
        self.acted_on.append(ids)
        return FakeHandle(self.calls)


async def _finish(client: FakeClient, **options: Any) -> tuple[int, str]:
    out = io.StringIO()
    code = await finish(
        client,  # type: ignore[arg-type]
        action="complete",
        workflow_id="order-42",
        activity_id="5",
        result={"ok": True},
        confirm=lambda _prompt: True,
        out=out,
        **options,
    )
    return code, out.getvalue()


@pytest.mark.parametrize("kind", ["CallGrpc", "CallHttp", "keep_caller_alive"])
async def test_an_activity_that_is_not_a_call_agent_is_refused(kind: str) -> None:
    client = FakeClient(kind=kind)
    with pytest.raises(UsageError) as refused:
        await _finish(client)
    assert f"is a {kind!r} activity, not a CallAgent" in str(refused.value)
    assert "--force" in str(refused.value)
    assert client.acted_on == []
    assert client.calls == []


async def test_force_acts_on_it_anyway() -> None:
    client = FakeClient(kind="CallGrpc")
    assert (await _finish(client, force=True))[0] == 0
    assert client.calls == [("complete", {"ok": True})]


async def test_a_call_agent_is_finished_in_the_run_that_was_described() -> None:
    client = FakeClient()
    code, out = await _finish(client)
    assert code == 0
    assert "done: order-42 activity 5 completed" in out
    assert client.acted_on == [{"workflow_id": "order-42", "run_id": "run-7", "activity_id": "5"}]


async def test_the_prompt_names_the_namespace_and_the_activity_type() -> None:
    prompts: list[str] = []

    def confirm(prompt: str) -> bool:
        prompts.append(prompt)
        return True

    await finish(
        FakeClient(),  # type: ignore[arg-type]
        action="fail",
        workflow_id="order-42",
        activity_id="5",
        message="stuck",
        confirm=confirm,
        out=io.StringIO(),
    )
    assert prompts[0].startswith("default/order-42 activity 5 (CallAgent, attempt 1)")


async def test_a_client_of_another_namespace_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "agents")
    client = FakeClient(namespace="default")
    with pytest.raises(UsageError, match="configured for 'agents'"):
        await _finish(client)
    assert client.acted_on == []


async def test_the_command_line_takes_force() -> None:
    client = FakeClient(kind="CallHttp")
    out = io.StringIO()
    argv = ["cancel", "order-42", "5", "--yes", "--force", "--message", "by hand"]
    assert await amain(argv, client=client, out=out) == 0  # type: ignore[arg-type]
    assert client.calls[0][0] == "fail"
    with pytest.raises(UsageError):
        await amain(["cancel", "order-42", "5", "--yes"], client=client, out=out)  # type: ignore[arg-type]
