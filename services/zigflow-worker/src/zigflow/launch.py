"""``zigflow run``'s start: the run is watched until a worker takes it, never waited on blind.

Temporal accepts a run of any workflow type on any task queue; a worker that does not
register the type fails each workflow task with "not registered" and retries every 10 s,
so a run of a file the worker does not serve would wait for ever. ``start_watched``
therefore:

1. asks Temporal who polls the document's task queue, and refuses at once when nobody does;
2. starts the run with the file's SHA-256 in its memo (``CONTENT_HASH_MEMO``): a worker
   that loaded other content for that workflow type fails the run with
   ``DefinitionMismatch`` in its first workflow task (``zigflow.workflows``);
3. reads the run's history until its first workflow task completes or the run closes; a
   failed workflow task ("not registered", or any other), no worker taking the task within
   the watch time (5 s), or a worker that took it and timed out, terminates the run it
   started and raises ``NotServedError``, naming the task queue and what to do.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from service_kit import TemporalConnectionError, connect_temporal
from zigflow.cli import (
    EXIT_FAILED,
    EXIT_NOT_SERVED,
    EXIT_OK,
    EXIT_USAGE,
    failure_message,
    report,
)
from zigflow.dsl import DslError, WorkflowDocument
from zigflow.dsl.errors import (
    COMMUNICATION,
    RUNTIME,
    VALIDATION,
    ZIGFLOW_ERROR_BASE,
    from_exception,
)
from zigflow.workflows import CONTENT_HASH_MEMO, DEFINITION_MISMATCH_ERROR

NOT_SERVED = ZIGFLOW_ERROR_BASE + "NotServed"
_MISMATCH_ADVICE = (
    "copy {path} over the worker's copy in its definitions folder (ZIGFLOW_WORKFLOWS_DIR) "
    "and restart the worker, or run the file the worker has"
)

DEFAULT_WATCH = timedelta(seconds=5)
_POLL_EVERY = 0.1
_CLOSED = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)


class NotServedError(RuntimeError):
    """No worker runs this document on its task queue; the message says what to do."""


def _advice(document: WorkflowDocument) -> str:
    return (
        f"put {document.source} in the definitions folder (ZIGFLOW_WORKFLOWS_DIR) of a "
        f"zigflow-worker polling task queue {document.task_queue!r} and restart that worker"
    )


async def has_pollers(client: Client, task_queue: str) -> bool:
    """Whether some worker polled the queue for workflow tasks lately (Temporal's view)."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return bool(response.pollers)


async def start_watched(
    client: Client,
    document: WorkflowDocument,
    payload: Any,
    *,
    watch: timedelta = DEFAULT_WATCH,
    workflow_id: str | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start the document's run and return once a worker took it (see the module doc)."""
    queue = document.task_queue
    if not await has_pollers(client, queue):
        raise NotServedError(f"no worker polls task queue {queue!r}: {_advice(document)}")
    memo = {CONTENT_HASH_MEMO: document.content_hash} if document.content_hash else None
    handle = await client.start_workflow(
        document.workflow_type,
        payload,
        id=workflow_id or f"{document.name}-{uuid.uuid4().hex[:12]}",
        task_queue=queue,
        memo=memo,
    )
    try:
        await _first_task(handle, document, watch)
    except NotServedError:
        await handle.terminate(reason="zigflow run: no worker serves this definition")
        raise
    except asyncio.CancelledError:
        _left_running(handle)
        raise
    return handle


def _left_running(handle: WorkflowHandle[Any, Any]) -> None:
    """Ctrl-C stops the CLI, not the durable run it started: say which run goes on."""
    print(
        f"zigflow: stopped waiting; run {handle.id} goes on in Temporal "
        f"(temporal workflow show --workflow-id {handle.id}; stop it with "
        f"temporal workflow terminate --workflow-id {handle.id})",
        file=sys.stderr,
    )


async def _first_task(
    handle: WorkflowHandle[Any, Any], document: WorkflowDocument, watch: timedelta
) -> None:
    """Returns once a worker completed the run's first workflow task (or the run closed).
    ``watch`` bounds the wait for a worker to take the task; once one has, Temporal's
    workflow task timeout (10 s) bounds the rest."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + watch.total_seconds()
    queue = document.task_queue
    while True:
        taken = False
        async for event in handle.fetch_history_events():
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED or kind in _CLOSED:
                return
            if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                taken = True
            elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                message = event.workflow_task_failed_event_attributes.failure.message
                if "not registered" in message:
                    raise NotServedError(
                        f"no worker on task queue {queue!r} serves workflow type "
                        f"{document.workflow_type!r} (the worker said: "
                        f"{_first_clause(message)}): {_advice(document)}"
                    )
                raise NotServedError(
                    f"the worker on task queue {queue!r} failed the run's first workflow "
                    f"task: {_first_clause(message) or 'no message'}"
                )
            elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                raise NotServedError(
                    f"a worker on task queue {queue!r} took the run's first workflow task but "
                    "did not finish it in time (a stuck or overloaded worker?)"
                )
        if not taken and loop.time() >= deadline:
            raise NotServedError(
                f"no worker on task queue {queue!r} took the run within "
                f"{watch.total_seconds():g} s: {_advice(document)}"
            )
        await asyncio.sleep(_POLL_EVERY)


def _first_clause(message: str) -> str:
    """ "Workflow class X is not registered on this worker", without the list that follows."""
    return message.splitlines()[0].split(", available workflows")[0] if message else ""


def failure_error(err: WorkflowFailureError) -> DslError:
    """The DSL error object a failed run ended with (a runtime error when the run ended
    otherwise: terminated, timed out, cancelled)."""
    found = from_exception(err.cause, "/") if err.cause is not None else None
    return found or DslError(
        type=RUNTIME, status=500, title="Workflow did not complete", detail=failure_message(err)
    )


async def run_file(document: WorkflowDocument, raw_input: str, *, as_json: bool) -> int:
    """``zigflow run``: start the document's run watched (``start_watched``), wait for it,
    print its output or error; returns the exit code (``zigflow.cli``)."""
    path = document.source
    try:
        payload = json.loads(raw_input)
    except json.JSONDecodeError as err:
        error = DslError(type=VALIDATION, status=400, title="Invalid input", detail=str(err))
        report(error, f"--input is not valid JSON: {err}", as_json=as_json)
        return EXIT_USAGE
    try:
        client = await connect_temporal()
        handle = await start_watched(client, document, payload)
    except RPCError as err:
        detail = f"Temporal refused {err.status.name}: {err.message}"
        error = DslError(type=COMMUNICATION, status=503, title="Temporal refused", detail=detail)
        report(error, f"zigflow: {detail}", as_json=as_json)
        return EXIT_USAGE
    except TemporalConnectionError as err:
        error = DslError(
            type=COMMUNICATION, status=503, title="Temporal unreachable", detail=str(err)
        )
        report(error, f"zigflow: {err}", as_json=as_json)
        return EXIT_USAGE
    except NotServedError as err:
        error = DslError(type=NOT_SERVED, status=503, title="Not served", detail=str(err))
        report(error, f"zigflow: {err}", as_json=as_json)
        return EXIT_NOT_SERVED
    try:
        output = await handle.result()
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels this, then raises it
        _left_running(handle)
        raise
    except WorkflowFailureError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == DEFINITION_MISMATCH_ERROR:
            detail = f"{cause.message}: {_MISMATCH_ADVICE.format(path=path)}"
            error = DslError(
                type=NOT_SERVED, status=409, title="Other content served", detail=detail
            )
            report(error, f"zigflow: {detail}", as_json=as_json)
            return EXIT_NOT_SERVED
        error = failure_error(err)
        report(
            error,
            f"workflow {document.workflow_type} failed: {failure_message(err)}",
            as_json=as_json,
        )
        return EXIT_FAILED
    print(json.dumps(output, indent=None if as_json else 2, sort_keys=True))
    return EXIT_OK
