"""One Temporal workflow type per DSL document.

Classes are built at start-up from the loaded documents, so they run under the
unsandboxed runner (the sandbox re-imports workflow classes by module attribute,
which generated classes are not). Determinism is kept by the interpreter itself
and checked by replay tests; see docs/adr/0003-unsandboxed-dsl-workflows.md.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from zigflow.dsl import DslError, Interpreter, RunOptions, WorkflowDocument
from zigflow.dsl.pinned_texts import PinnedTexts
from zigflow.dsl.pinning import PinnedDefinition, pin, pinning_applies
from zigflow.dsl.resume import read_resume
from zigflow.dsl.tasks import KINDS
from zigflow.dsl.tasks.listen_task import keep_event

# For options without their own (replays, tests): pinned texts parsed with default limits.
_DEFAULT_TEXTS = PinnedTexts()


class DslWorkflow:
    """Runs ``document``; each loaded document gets a subclass with its own type name.

    Every signal and update is an event for ``listen`` (its name is the event type).
    The handlers live on the class, so events sent before the first task runs, or
    while nothing listens, are kept rather than refused.
    """

    document: ClassVar[WorkflowDocument]
    options: ClassVar[RunOptions]

    @property
    def inbox(self) -> dict[str, list[Any]]:
        if "_inbox" not in self.__dict__:
            self.__dict__["_inbox"] = {}
        inbox: dict[str, list[Any]] = self.__dict__["_inbox"]
        return inbox

    @workflow.signal(dynamic=True)
    def receive_signal(self, name: str, args: Sequence[RawValue]) -> None:
        keep_event(self.inbox, name, args)

    @workflow.update(dynamic=True)
    def receive_update(self, name: str, args: Sequence[RawValue]) -> dict[str, str]:
        keep_event(self.inbox, name, args)
        return {"accepted": name}


# Memo a run started by `zigflow run` carries: the SHA-256 of the file it was given.
CONTENT_HASH_MEMO = "zigflow.contentHash"
# The failure type of a run whose file differs from what the worker loaded.
DEFINITION_MISMATCH_ERROR = "DefinitionMismatch"


def _check_content(document: WorkflowDocument) -> None:
    """Refuse a run started for other content than this worker loaded (``zigflow run``
    of an edited file). Only on the run's first execution: a replay repeats what that
    execution did, and a run started without the memo (a child, an API client) is never
    refused."""
    if workflow.unsafe.is_replaying():
        return
    expected = workflow.memo_value(CONTENT_HASH_MEMO, None, type_hint=str)
    if not expected or not document.content_hash or expected == document.content_hash:
        return
    raise ApplicationError(
        f"this worker serves other content for workflow type {document.workflow_type!r} "
        f"({document.source}, sha256 {document.content_hash[:12]}) than the run was started "
        f"with (sha256 {expected[:12]})",
        {"served": document.content_hash, "requested": expected, "source": document.source},
        type=DEFINITION_MISMATCH_ERROR,
        non_retryable=True,
    )


async def _pinned(
    self: DslWorkflow, input: Any
) -> tuple[WorkflowDocument, PinnedDefinition | None]:
    """The document this run executes: the text it pinned at its start (dsl/pinning.py),
    or the loaded one for a run recorded before pinning."""
    if not pinning_applies(self.document):
        return self.document, None
    resumed = read_resume(input, continued_run=workflow.info().continued_run_id is not None)
    pinned = await pin(self.document, resumed.definition if resumed else None)
    texts = self.options.pinned_texts or _DEFAULT_TEXTS
    document = texts.document(pinned, self.document, self.options.secrets)
    return document, pinned


async def _run_document(self: DslWorkflow, input: Any = None) -> Any:
    _check_content(self.document)
    try:
        document, pinned = await _pinned(self, input)
        interpreter = Interpreter(document, KINDS, self.options, pinned)
        interpreter.inbox = self.inbox
        return await interpreter.run(input)
    except DslError as err:
        # Non-retryable: re-running the same definition on the same data fails the same way.
        raise err.to_failure() from None


def workflow_class(
    document: WorkflowDocument, options: RunOptions | None = None
) -> type[DslWorkflow]:
    """A workflow class whose type name is the document's workflow type; ``options``
    (secrets, task queues, the continue-as-new threshold) come from the worker.

    Temporal wants the run method on the class itself, so each class gets its own
    copy of the module-level ``_run_document``.
    """
    run = types.FunctionType(
        _run_document.__code__, _run_document.__globals__, "run", _run_document.__defaults__
    )
    run.__qualname__ = f"DslWorkflow[{document.workflow_type}].run"
    run.__annotations__ = dict(_run_document.__annotations__)
    cls = type(
        f"DslWorkflow[{document.workflow_type}]",
        (DslWorkflow,),
        {"document": document, "options": options or RunOptions(), "run": workflow.run(run)},
    )
    return workflow.defn(name=document.workflow_type)(cls)
