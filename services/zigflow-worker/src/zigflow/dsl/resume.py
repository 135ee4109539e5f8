"""Continue-as-new for long loops: the resume payload and the cursor it carries.

A ``for`` checks, before each iteration but the first one of a run, whether the run
should continue as new (Temporal suggests it, or the history holds the document's
``continueAsNewAfter`` / the worker's ``ZIGFLOW_CONTINUE_AS_NEW_AFTER_EVENTS`` events).
It then raises :class:`Suspend`; every ``do`` / ``for`` frame it unwinds through adds
where it stood, and the run continues as new with :func:`resume_payload` as its input.
The next run reads it back (:func:`read_resume`) and fast-forwards to that position.

A loop suspends only when every frame between it and the document is a ``do`` or a
``for`` without ``timeout``: inside ``fork``, ``try``, a ``use.functions`` call or a
task with a timeout (``Interpreter.barriers`` > 0) the loop simply runs on.

The payload (version 1) is one JSON object, the run's only input::

    {"zigflowResume": {
        "version": 1,
        "input": <the original workflow input: $input, $workflow.input>,
        "startedAt": <ISO time the first run started: $workflow.startedAt>,
        "context": <$context>,
        "inbox": {<event type>: [<data of events not consumed yet>, ...]},
        "continued": <how many times the run continued as new, 1 for the first>,
        "cursor": [<frames, outermost first>],
        "definition": {"sha256": <hex>, "text": <the definition's text>}}}

``definition`` is the text the first run pinned (dsl/pinning.py); a payload written before
pinning has none.

Frames: ``{"at": "list", "index": i}`` (task ``i`` of a task list runs),
``{"at": "task", "input": data}`` (that task's raw input, for ``$task.input`` and
``output.as``; ``if`` and ``input.from`` already ran), and
``{"at": "for", "index": k, "items": [the items from k on], "data": d, "within": w}``
(``within`` false: iteration ``k`` starts with ``d``; true: iteration ``k`` is under
way and the frames after this one say where).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zigflow.dsl.errors import CONFIGURATION, DslError
from zigflow.dsl.pinning import PinnedDefinition

RESUME_KEY = "zigflowResume"
RESUME_VERSION = 1

Frame = dict[str, Any]


class Suspend(Exception):
    """Unwinds a run to continue it as new; each frame on the way adds its position."""

    def __init__(self, frame: Frame) -> None:
        super().__init__("continue as new")
        self.frames: list[Frame] = [frame]

    def enter(self, frame: Frame) -> Suspend:
        """Record the enclosing frame (frames end up outermost first)."""
        self.frames.insert(0, frame)
        return self


def list_frame(index: int) -> Frame:
    return {"at": "list", "index": index}


def task_frame(data: Any) -> Frame:
    return {"at": "task", "input": data}


def for_frame(index: int, items: list[Any], data: Any, *, within: bool) -> Frame:
    return {"at": "for", "index": index, "items": items, "data": data, "within": within}


@dataclass(frozen=True)
class Resume:
    """The state a continued run starts from."""

    input: Any
    started_at: str
    context: Any
    inbox: dict[str, list[Any]]
    continued: int
    cursor: tuple[Frame, ...] = field(default=())
    definition: PinnedDefinition | None = None
    """The definition the first run pinned (dsl/pinning.py); None for a run recorded
    before pinning."""


def resume_payload(state: Resume) -> dict[str, Any]:
    return {
        RESUME_KEY: {
            "version": RESUME_VERSION,
            "input": state.input,
            "startedAt": state.started_at,
            "context": state.context,
            "inbox": state.inbox,
            "continued": state.continued,
            "cursor": list(state.cursor),
            **({"definition": state.definition.to_payload()} if state.definition else {}),
        }
    }


def read_resume(workflow_input: Any, *, continued_run: bool) -> Resume | None:
    """The resume state of a run that continued as new, or None for a first run."""
    if not continued_run or not isinstance(workflow_input, dict):
        return None
    body = workflow_input.get(RESUME_KEY)
    if not isinstance(body, dict) or set(workflow_input) != {RESUME_KEY}:
        return None
    if body.get("version") != RESUME_VERSION:
        raise DslError(
            type=CONFIGURATION,
            status=400,
            title="Unknown resume payload",
            detail=f"this worker resumes version {RESUME_VERSION}, got {body.get('version')!r}",
            instance="/",
        )
    return Resume(
        input=body["input"],
        started_at=str(body["startedAt"]),
        context=body["context"],
        inbox={str(k): list(v) for k, v in (body.get("inbox") or {}).items()},
        continued=int(body["continued"]),
        cursor=tuple(body["cursor"]),
        definition=PinnedDefinition.from_payload(body.get("definition")),
    )
