"""The loaded definitions as the worker runs them: secrets resolved, grouped by task queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from zigflow.dsl import DefinitionError, RunOptions, WorkflowDocument
from zigflow.dsl.expressions import Evaluator
from zigflow.dsl.pinned_texts import PinnedTexts
from zigflow.dsl.yaml_source import YamlLimits
from zigflow.secrets import MissingSecretError, SecretSource
from zigflow.workflows import DslWorkflow, workflow_class


@dataclass(frozen=True)
class Definitions:
    """What one worker process registers."""

    by_queue: dict[str, list[type[DslWorkflow]]] = field(default_factory=dict)
    """Workflow classes by the task queue their document names (one Temporal worker each)."""
    refused: list[DefinitionError] = field(default_factory=list)
    """Valid documents this worker cannot run (a declared secret it does not have)."""


def prepare(
    documents: Sequence[WorkflowDocument],
    *,
    secrets: SecretSource,
    continue_as_new_after: int,
    evaluator: Evaluator,
    yaml_limits: YamlLimits | None = None,
) -> Definitions:
    """One workflow class per document that has everything it declares; the others are
    refused with their reason, and the rest still run. ``evaluator`` runs every
    expression: the worker's expression sandbox. ``yaml_limits`` bound the older texts
    that runs pinned (dsl/pinning.py), as they bound the files."""
    pinned_texts = PinnedTexts(yaml_limits)
    queues = {document.workflow_type: document.task_queue for document in documents}
    prepared = Definitions()
    for document in documents:
        try:
            values = secrets.resolve(document.secret_names)
        except MissingSecretError as err:
            prepared.refused.append(DefinitionError(document.source, "$.use.secrets", str(err)))
            continue
        options = RunOptions(
            secrets=values,
            task_queues=queues,
            continue_as_new_after=continue_as_new_after,
            evaluator=evaluator,
            pinned_texts=pinned_texts,
        )
        prepared.by_queue.setdefault(document.task_queue, []).append(
            workflow_class(document, options)
        )
    return prepared
