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

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import yaml
from temporalio import activity, workflow

from zigflow.dsl import yaml_source
from zigflow.dsl.document import WorkflowDocument, content_hash, parse_document
from zigflow.dsl.load_context import DefinitionError

if TYPE_CHECKING:
    from zigflow.dsl.yaml_source import YamlLimits

DEFINITION_ACTIVITY = "ZigflowDefinition"
PIN_PATCH = "zigflow-pinned-definition"
_READ_TIMEOUT = timedelta(seconds=10)
# Parsed texts of older definitions kept per worker process (a run's replays reuse them).
_CACHED_TEXTS = 64


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


class PinnedTexts:
    """Parses a pinned text that differs from what the worker loaded; one per worker."""

    def __init__(self, limits: YamlLimits | None = None) -> None:
        self._limits = limits
        self._parsed: OrderedDict[str, WorkflowDocument] = OrderedDict()

    def document(
        self, pinned: PinnedDefinition, loaded: WorkflowDocument, secrets: Mapping[str, Any]
    ) -> WorkflowDocument:
        """The document of ``pinned``: the loaded one when the text is the same, else the
        pinned text under the same checks. Raises ``RuntimeError`` (a failed workflow task,
        retried) when this worker cannot run it."""
        if pinned.sha256 == loaded.content_hash:
            return loaded
        document = self._parsed.get(pinned.sha256)
        if document is None:
            document = self._parse(pinned, loaded)
            self._parsed[pinned.sha256] = document
            while len(self._parsed) > _CACHED_TEXTS:
                self._parsed.popitem(last=False)
        self._parsed.move_to_end(pinned.sha256)
        missing = sorted(set(document.secret_names) - set(secrets))
        if missing:
            raise RuntimeError(
                f"the run is pinned to {_named(pinned, loaded)}, which declares secrets this "
                f"worker does not hold: {', '.join(missing)}"
            )
        return document

    def _parse(self, pinned: PinnedDefinition, loaded: WorkflowDocument) -> WorkflowDocument:
        if content_hash(pinned.text) != pinned.sha256:
            raise RuntimeError(
                f"the run's pinned definition of {loaded.workflow_type!r} is not the text "
                "its hash names"
            )
        source = f"{loaded.source}@{pinned.sha256[:12]}"
        try:
            limits = self._limits or yaml_source.YamlLimits()
            data = yaml_source.load(pinned.text, limits)
            document = parse_document(data, source=source)
        except (DefinitionError, yaml_source.YamlLimitError, yaml.YAMLError) as err:
            raise RuntimeError(
                f"the run is pinned to {_named(pinned, loaded)}, which this worker refuses: {err}"
            ) from None
        if document.workflow_type != loaded.workflow_type:
            raise RuntimeError(
                f"the run is pinned to {_named(pinned, loaded)}, whose workflow type is "
                f"{document.workflow_type!r}"
            )
        return replace(document, content_hash=pinned.sha256, text=pinned.text)


def _named(pinned: PinnedDefinition, loaded: WorkflowDocument) -> str:
    return (
        f"the definition of {loaded.workflow_type!r} with sha256 {pinned.sha256[:12]} "
        f"(this worker loaded {loaded.content_hash[:12]} from {loaded.source})"
    )
