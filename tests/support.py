"""Small helpers the integration tests share."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ActivityError, ApplicationError

from agent_contract import ZIGFLOW_TASK_QUEUE, caller_request_id
from callback_token import CallbackSigner, KeyRing
from stigma.agent.v1 import agent_pb2

ROOT = Path(__file__).resolve().parents[1]
_TESTS = Path(__file__).resolve().parent


class SyncCredentials(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Adds a credential's metadata to every unary call of a synchronous channel (the aio
    channels take stigma_wire.credential_interceptors instead)."""

    def __init__(self, metadata: Sequence[tuple[str, str]]) -> None:
        self._metadata = tuple(metadata)

    def intercept_unary_unary(
        self, continuation: Callable[[Any, Any], Any], details: Any, request: Any
    ) -> Any:
        with_credential = details._replace(metadata=[*(details.metadata or ()), *self._metadata])
        return continuation(with_credential, request)


def stage_workflows(state: Path) -> Path:
    """One folder with every example and test definition, and the proto files their
    ``call: grpc`` tasks name (at the relative path they name): a stack's ZIGFLOW_WORKFLOWS_DIR."""
    workflows = state / "workflows"
    workflows.mkdir(parents=True)
    for source in [*(ROOT / "examples").glob("*.yaml"), *(_TESTS / "workflows").glob("*.yaml")]:
        shutil.copy(source, workflows / source.name)
    for protos in (ROOT / "examples" / "protos", _TESTS / "workflows" / "protos"):
        if protos.is_dir():
            shutil.copytree(protos, workflows / "protos", dirs_exist_ok=True)
    return workflows


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def start_dsl(
    client: Client,
    workflow_type: str,
    payload: Any,
    *,
    workflow_id: str | None = None,
    task_queue: str = ZIGFLOW_TASK_QUEUE,
) -> WorkflowHandle[Any, Any]:
    """Start a DSL workflow; ``task_queue`` is its document's ``metadata.taskQueue``."""
    return await client.start_workflow(
        workflow_type,
        payload,
        id=workflow_id or unique(workflow_type),
        task_queue=task_queue,
    )


async def history_events(
    handle: WorkflowHandle[Any, Any], kind: EventType.ValueType
) -> list[HistoryEvent]:
    return [event async for event in handle.fetch_history_events() if event.event_type == kind]


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 30.0, every: float = 0.1
) -> None:
    """Poll ``check`` until it is true; fail after ``within`` seconds. No fixed sleeps."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(every)


# The spec signed_token binds a token to by default (the one the tests send with it).
TOKEN_SPEC = agent_pb2.AgentSpec(name="t", input="hello", model="scripted:echo")


def signed_token(keys: str, **overrides: object) -> bytes:
    """A callback token signed with ``keys`` for a made-up caller; overrides edit any field.

    It is bound as zigflow binds it: to the request id of the activity it names
    (:func:`caller_request_id`, unless ``request_id`` is given) and to ``spec``
    (default :data:`TOKEN_SPEC`).
    """
    fields: dict[str, object] = {
        "namespace": "default",
        "workflow_id": "caller",
        "run_id": "run",
        "activity_id": "1",
        "attempt": 1,
        "task_token": b"not-a-real-task-token",
        "valid_for": timedelta(hours=1),
        "spec": TOKEN_SPEC,
    }
    fields.update(overrides)
    fields.setdefault(
        "request_id",
        caller_request_id(
            workflow_id=str(fields["workflow_id"]),
            run_id=str(fields["run_id"]),
            activity_id=str(fields["activity_id"]),
        ),
    )
    return CallbackSigner(KeyRing.parse(keys)).sign(**fields)  # type: ignore[arg-type]


def http_failure(err: WorkflowFailureError) -> dict[str, Any]:
    """The DSL error of an uncaught call: http failure. Like an agent failure, it stays
    an ActivityError whose cause is an ApplicationError typed and detailed as the DSL error."""
    activity_error = err.cause
    assert isinstance(activity_error, ActivityError)
    failure = activity_error.cause
    assert isinstance(failure, ApplicationError)
    error: dict[str, Any] = failure.details[0]
    assert failure.type == error["type"]
    return error
