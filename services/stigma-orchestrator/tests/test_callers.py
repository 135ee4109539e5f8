"""The orchestrator acts on a caller only once Temporal shows a pending CallAgent activity
with the signed ids at the signed attempt, and then by those ids, never by the token."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio.api.common.v1 import ActivityType
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse
from temporalio.service import RPCError, RPCStatusCode

from agent_contract import CallbackRef
from stigma_orchestrator.callers import CallerGone, CallerRefused, caller_activity


def _callback(*, activity_id: str = "5", attempt: int = 2) -> CallbackRef:
    return CallbackRef(
        namespace="default",
        workflow_id="victim",
        run_id="run-1",
        activity_id=activity_id,
        attempt=attempt,
        task_token_b64="Zm9yZ2Vk",  # a token that names some other activity: never used
        fingerprint="fp",
        expires_at="2030-01-01T00:00:00+00:00",
    )


@dataclass
class _Description:
    raw_description: DescribeWorkflowExecutionResponse


@dataclass
class FakeClient:
    """Temporal as the check sees it: one workflow run with some pending activities."""

    pending: list[PendingActivityInfo] = field(default_factory=list)
    describe_error: RPCStatusCode | None = None
    described: list[tuple[str, str | None]] = field(default_factory=list)
    handles: list[dict[str, Any]] = field(default_factory=list)

    def get_workflow_handle(self, workflow_id: str, *, run_id: str | None = None) -> Any:
        client = self

        class _Handle:
            async def describe(self, *, rpc_timeout: Any = None) -> _Description:
                client.described.append((workflow_id, run_id))
                if client.describe_error is not None:
                    raise RPCError("no", client.describe_error, b"")
                return _Description(
                    DescribeWorkflowExecutionResponse(pending_activities=client.pending)
                )

        return _Handle()

    def get_async_activity_handle(self, **ids: Any) -> Any:
        self.handles.append(ids)
        return ("handle", ids)


def _pending(activity_id: str, kind: str, attempt: int = 2) -> PendingActivityInfo:
    return PendingActivityInfo(
        activity_id=activity_id, activity_type=ActivityType(name=kind), attempt=attempt
    )


async def test_a_pending_call_agent_at_the_signed_attempt_is_acted_on_by_its_ids() -> None:
    client = FakeClient(pending=[_pending("3", "CallHttp"), _pending("5", "CallAgent")])
    handle = await caller_activity(client, _callback())  # type: ignore[arg-type]
    assert client.described == [("victim", "run-1")]
    assert client.handles == [{"workflow_id": "victim", "run_id": "run-1", "activity_id": "5"}]
    assert handle == ("handle", client.handles[0])  # type: ignore[comparison-overlap]


@pytest.mark.parametrize("kind", ["CallGrpc", "CallHttp", "keep_caller_alive", "anything"])
async def test_an_activity_that_is_not_a_call_agent_is_refused(kind: str) -> None:
    client = FakeClient(pending=[_pending("5", kind)])
    with pytest.raises(CallerRefused) as refused:
        await caller_activity(client, _callback())  # type: ignore[arg-type]
    assert f"is a {kind!r} activity, not a CallAgent" in str(refused.value)
    assert "Zm9yZ2Vk" not in str(refused.value)
    assert client.handles == []


async def test_a_superseded_attempt_is_gone() -> None:
    client = FakeClient(pending=[_pending("5", "CallAgent", attempt=3)])
    with pytest.raises(CallerGone, match="superseded by attempt 3"):
        await caller_activity(client, _callback(attempt=2))  # type: ignore[arg-type]
    assert client.handles == []


async def test_no_such_pending_activity_is_gone() -> None:
    client = FakeClient(pending=[_pending("4", "CallAgent")])
    with pytest.raises(CallerGone, match="no pending activity 5"):
        await caller_activity(client, _callback())  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT])
async def test_no_such_workflow_run_is_gone(status: RPCStatusCode) -> None:
    client = FakeClient(describe_error=status)
    with pytest.raises(CallerGone, match=f"no such workflow run \\({status.name}\\)"):
        await caller_activity(client, _callback())  # type: ignore[arg-type]


async def test_temporal_unavailable_propagates_so_the_delivery_is_retried() -> None:
    client = FakeClient(describe_error=RPCStatusCode.UNAVAILABLE)
    with pytest.raises(RPCError):
        await caller_activity(client, _callback())  # type: ignore[arg-type]
