"""The Serverless Workflow DSL 1.0 interpreter.

``document`` loads and checks definitions into a ``model.WorkflowDocument``,
``expressions`` evaluates jq ``${ }`` expressions, ``interpreter`` walks the task list,
and ``tasks`` registers one module per task type (its ``task_kind.TaskKind``: keys,
checks, expression fields and runner).
"""

from zigflow.dsl.document import load_directory, load_document
from zigflow.dsl.errors import DslError
from zigflow.dsl.interpreter import Interpreter
from zigflow.dsl.load_context import DefinitionError, LoadContext
from zigflow.dsl.model import WorkflowDocument
from zigflow.dsl.options import RunOptions

__all__ = [
    "DefinitionError",
    "DslError",
    "Interpreter",
    "LoadContext",
    "RunOptions",
    "WorkflowDocument",
    "load_directory",
    "load_document",
]
