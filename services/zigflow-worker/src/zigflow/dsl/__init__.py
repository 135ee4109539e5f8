"""The Serverless Workflow DSL 1.0 interpreter.

``document`` loads and checks definitions, ``expressions`` evaluates jq ``${ }``
expressions, ``interpreter`` walks the task list, and ``tasks`` holds one runner
per task type.
"""

from zigflow.dsl.document import WorkflowDocument, load_directory, load_document
from zigflow.dsl.errors import DslError
from zigflow.dsl.interpreter import Interpreter
from zigflow.dsl.load_context import DefinitionError, LoadContext
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
