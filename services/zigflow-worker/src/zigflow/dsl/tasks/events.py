"""Time and events: ``wait`` (a durable timer) and ``listen`` (Temporal signals and updates).

``listen`` reads events from Temporal signals and updates: the signal's or update's
name is the event ``type`` and its first argument the event data. Events that
arrive before the task listens are kept (``Interpreter.inbox``) and consumed in
arrival order. An update answers ``{"accepted": <type>}`` once the event is kept,
which tells the sender that the workflow has it (a signal only says Temporal has it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RawValue

from zigflow.dsl.durations import parse_duration
from zigflow.dsl.errors import validation_error
from zigflow.dsl.interpreter import Step

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter


async def run_wait(interp: Interpreter, step: Step, data: Any) -> Any:
    spec = interp.render(step.task["wait"], data, f"{step.reference}/wait", step.scope)
    try:
        delay = parse_duration(spec, where=f"{step.reference}/wait")
    except ValueError as err:
        raise validation_error(str(err), f"{step.reference}/wait") from None
    if delay > timedelta(0):
        await workflow.sleep(delay)
    return data


def keep_event(inbox: dict[str, list[Any]], name: str, args: Sequence[RawValue]) -> None:
    """Called by the workflow's dynamic signal and update handlers."""
    value = workflow.payload_converter().from_payload(args[0].payload) if args else None
    inbox.setdefault(name, []).append(value)


def event_types(to: dict[str, Any]) -> tuple[str, list[str]]:
    """The consumption strategy (one, any, all) and the event types it names."""
    if "one" in to:
        return "one", [str(to["one"]["with"]["type"])]
    strategy = "all" if "all" in to else "any"
    return strategy, [str(event["with"]["type"]) for event in to[strategy]]


async def run_listen(interp: Interpreter, step: Step, data: Any) -> Any:
    """Waits for the events; the output is the list of consumed events' data, in the
    order the filters name them. Bound it with the task's ``timeout``."""
    strategy, types = event_types(step.task["listen"]["to"])

    def ready() -> bool:
        present = [bool(interp.inbox.get(kind)) for kind in types]
        return all(present) if strategy == "all" else any(present)

    await workflow.wait_condition(ready)
    if strategy == "all":
        return [interp.inbox[kind].pop(0) for kind in types]
    kind = next(kind for kind in types if interp.inbox.get(kind))
    return [interp.inbox[kind].pop(0)]
