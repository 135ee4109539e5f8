"""The worker's side of pinning (pinning.py): the document of a text a run pinned.

A run pinned to other text than this worker loaded gets it parsed here, under the same
load-time checks, once per worker process (the run's replays reuse it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from zigflow.dsl.document import parse_text
from zigflow.dsl.load_context import DefinitionError
from zigflow.dsl.model import WorkflowDocument, content_hash
from zigflow.dsl.pinning import PinnedDefinition
from zigflow.dsl.yaml_source import YamlLimits

# Parsed texts of older definitions kept per worker process (a run's replays reuse them).
_CACHED_TEXTS = 64


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
            document = parse_text(pinned.text, source=source, limits=self._limits)
        except DefinitionError as err:
            raise RuntimeError(
                f"the run is pinned to {_named(pinned, loaded)}, which this worker refuses: {err}"
            ) from None
        if document.workflow_type != loaded.workflow_type:
            raise RuntimeError(
                f"the run is pinned to {_named(pinned, loaded)}, whose workflow type is "
                f"{document.workflow_type!r}"
            )
        return document


def _named(pinned: PinnedDefinition, loaded: WorkflowDocument) -> str:
    return (
        f"the definition of {loaded.workflow_type!r} with sha256 {pinned.sha256[:12]} "
        f"(this worker loaded {loaded.content_hash[:12]} from {loaded.source})"
    )
