"""Each run executes the definition it started with, whatever later happens to the file.

A worker serves the definitions it loaded at start-up. Edited and restarted under open
runs, it replayed them against the new text: a later ``set`` took the new value, an
inserted ``wait`` took over an older timer, or the run was stuck on a nondeterminism error
for ever. So a run records the exact text it starts with in its own history (the result
of a local activity, ``ZigflowDefinition``), and every worker that replays or continues the
run executes that text, whatever it loaded itself. A continued run (continue-as-new)
carries it in its resume payload. Nothing outside the run's history is needed, so this
holds across restarts, replicas and machines.

The text is checked again, with the same load-time checks, before a worker runs it: a text
this worker refuses (a key a newer release no longer accepts, a secret it does not hold)
fails the workflow *task*, which Temporal retries, rather than the run, so the run resumes
once a worker that accepts it polls. Runs recorded before pinning existed carry no patch
marker and replay as they ran, against the loaded document (docs/adr/0022).

Pinning holds the definition, not the interpreter's code: a change of how the engine runs
a task still needs a patch or Worker Versioning (docs/adr/0019).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from temporalio import activity, workflow

from zigflow.dsl.model import WorkflowDocument

DEFINITION_ACTIVITY = "ZigflowDefinition"
PIN_PATCH = "zigflow-pinned-definition"
_READ_TIMEOUT = timedelta(seconds=10)


@dataclass(frozen=True)
class PinnedDefinition:
    """A definition's exact text and its SHA-256, as a run recorded it."""

    sha256: str
    text: str

    def to_payload(self) -> dict[str, str]:
        return {"sha256": self.sha256, "text": self.text}

    @classmethod
    def from_payload(cls, value: Any) -> PinnedDefinition | None:
        if not isinstance(value, dict):
            return None
        sha, text = value.get("sha256"), value.get("text")
        if not isinstance(sha, str) or not isinstance(text, str):
            return None
        return cls(sha256=sha, text=text)


class ServedDefinitions:
    """The worker side: the text it loaded for each workflow type, for a run to pin."""

    def __init__(self, documents: Sequence[WorkflowDocument]) -> None:
        self._by_type = {
            document.workflow_type: PinnedDefinition(document.content_hash, document.text)
            for document in documents
            if document.content_hash
        }

    @activity.defn(name=DEFINITION_ACTIVITY)
    async def served(self, workflow_type: str) -> PinnedDefinition:
        return self._by_type[workflow_type]


async def pin(document: WorkflowDocument, resumed: PinnedDefinition | None) -> PinnedDefinition:
    """The run's definition: carried over by a continued run, else read once and recorded.
    Call only where ``pinning_applies`` said yes."""
    if resumed is not None:
        return resumed
    pinned: PinnedDefinition = await workflow.execute_local_activity(
        DEFINITION_ACTIVITY,
        document.workflow_type,
        start_to_close_timeout=_READ_TIMEOUT,
        result_type=PinnedDefinition,
    )
    return pinned


def pinning_applies(document: WorkflowDocument) -> bool:
    """A document read from a file pins, unless the run was recorded before pinning."""
    return bool(document.content_hash) and workflow.patched(PIN_PATCH)


class DefinitionTexts(Protocol):
    """What gives a run the document of its pinned text (``pinned_texts.PinnedTexts``;
    a protocol so that the workflow side never imports the load checks)."""

    def document(
        self, pinned: PinnedDefinition, loaded: WorkflowDocument, secrets: Mapping[str, Any]
    ) -> WorkflowDocument:
        """The document of ``pinned``; raises ``RuntimeError`` when this worker cannot
        run it (a failed workflow task, retried)."""
        ...
