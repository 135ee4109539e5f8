"""What the worker hands every run of a document, fixed when the worker starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agent_contract import ZIGFLOW_TASK_QUEUE
from zigflow.dsl.expressions import IN_PROCESS, Evaluator
from zigflow.dsl.pinning import DefinitionTexts

DEFAULT_CONTINUE_AS_NEW_AFTER = 10_000


@dataclass(frozen=True)
class RunOptions:
    """Read once at worker start-up and given to the workflow class: workflow code never
    reads files or the environment, so a replay sees the same values (while the worker
    keeps its settings)."""

    secrets: Mapping[str, Any] = field(default_factory=dict, repr=False)
    """Values of the document's declared ``use.secrets`` (``$secrets``); never logged."""
    task_queues: Mapping[str, str] = field(default_factory=dict)
    """Task queue of each loaded workflow type, for ``run: workflow``."""
    continue_as_new_after: int = DEFAULT_CONTINUE_AS_NEW_AFTER
    """History length after which a long ``for`` continues as new, unless the document's
    ``metadata.continueAsNewAfter`` says otherwise."""

    evaluator: Evaluator = field(default=IN_PROCESS, repr=False, compare=False)
    """What runs the document's expressions: the worker's expression sandbox (limits,
    child processes). The in-process default has no limits: for replaying trusted
    histories and for tests only."""

    pinned_texts: DefinitionTexts | None = field(default=None, repr=False, compare=False)
    """Older definitions that runs pinned, parsed once per worker
    (``pinned_texts.PinnedTexts``; one with default limits when None)."""

    def task_queue_of(self, workflow_type: str) -> str:
        """The queue a child of this type starts on; a type this worker does not load
        is expected on the default ``zigflow`` queue."""
        return self.task_queues.get(workflow_type, ZIGFLOW_TASK_QUEUE)
