"""One Temporal workflow type per DSL document.

Classes are built at start-up from the loaded documents, so they run under the
unsandboxed runner (the sandbox re-imports workflow classes by module attribute,
which generated classes are not). Determinism is kept by the interpreter itself
and checked by replay tests; see docs/adr/0003-unsandboxed-dsl-workflows.md.
"""

from __future__ import annotations

import types
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from zigflow.dsl import DslError, Interpreter, WorkflowDocument
from zigflow.dsl.tasks import RUNNERS


class DslWorkflow:
    """Runs ``document``; each loaded document gets a subclass with its own type name."""

    document: ClassVar[WorkflowDocument]


async def _run_document(self: DslWorkflow, input: Any = None) -> Any:
    try:
        return await Interpreter(self.document, RUNNERS).run(input)
    except DslError as err:
        # Non-retryable: re-running the same definition on the same data fails the same way.
        raise ApplicationError(str(err), err.as_dict(), type=err.type, non_retryable=True) from None


def workflow_class(document: WorkflowDocument) -> type[DslWorkflow]:
    """A workflow class whose type name is the document's workflow type.

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
        {"document": document, "run": workflow.run(run)},
    )
    return workflow.defn(name=document.workflow_type)(cls)
