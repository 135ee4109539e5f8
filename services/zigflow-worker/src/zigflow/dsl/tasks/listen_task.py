"""``listen``: waits for events, which are Temporal signals and updates.

``listen`` reads events from Temporal signals and updates: the signal's or update's
name is the event ``type`` and its first argument the event data. Events that
arrive before the task listens are kept (``Interpreter.inbox``) and consumed in
arrival order. An update answers ``{"accepted": <type>}`` once the event is kept,
which tells the sender that the workflow has it (a signal only says Temporal has it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from temporalio import workflow
from temporalio.common import RawValue

from zigflow.dsl.fields import Part, check_part
from zigflow.dsl.load_context import LoadContext, Task
from zigflow.dsl.task_kind import Builder, TaskKind
from zigflow.dsl.validation import as_map

if TYPE_CHECKING:
    from zigflow.dsl.interpreter import Interpreter, Step

_CONSUMED_ONCE = "a listen task consumes its events once"
LISTEN = Part("listen", frozenset({"to", "read"}), {"foreach": _CONSUMED_ONCE})
LISTEN_TO = Part(
    "listen.to",
    frozenset({"one", "any", "all"}),
    {"until": "a listen task waits for its events only"},
)


@dataclass(frozen=True)
class ListenBody:
    strategy: str
    """``one``, ``any`` or ``all`` of ``types``."""
    types: tuple[str, ...]
    """The event types the filters name (``with.type``), in their order."""


def check(checker: LoadContext, task: Task, path: str, siblings: set[str]) -> None:
    listen = as_map(checker, task["listen"], f"{path}.listen")
    check_part(checker, LISTEN, listen, f"{path}.listen")
    to = as_map(checker, listen.get("to"), f"{path}.listen.to")
    check_part(checker, LISTEN_TO, to, f"{path}.listen.to")
    strategies = [key for key in ("one", "any", "all") if key in to]
    if len(strategies) != 1:
        raise checker.fail(f"{path}.listen.to", "needs exactly one of one, any, all")
    (strategy,) = strategies
    filters = [to["one"]] if strategy == "one" else to[strategy]
    if not isinstance(filters, list) or not filters:
        raise checker.fail(f"{path}.listen.to.{strategy}", "must list at least one event filter")
    for index, event in enumerate(filters):
        event_type = (
            ((event or {}).get("with") or {}).get("type") if isinstance(event, dict) else None
        )
        if not isinstance(event_type, str) or not event_type:
            raise checker.fail(f"{path}.listen.to.{strategy}[{index}].with.type", "is required")
    for index, event in enumerate(filters):
        unknown = sorted(set(event) - {"with"}) or sorted(set(event["with"]) - {"type"})
        if unknown:
            where = f"{path}.listen.to.{strategy}[{index}]"
            raise checker.fail(where, f"only with.type filters events (found {unknown})")
    if listen.get("read", "data") != "data":
        raise checker.fail(f"{path}.listen.read", "only 'data' is supported")


def keep_event(inbox: dict[str, list[Any]], name: str, args: Sequence[RawValue]) -> None:
    """Called by the workflow's dynamic signal and update handlers."""
    value = workflow.payload_converter().from_payload(args[0].payload) if args else None
    inbox.setdefault(name, []).append(value)


def parse(builder: Builder, task: Task) -> ListenBody:
    to = task["listen"]["to"]
    if "one" in to:
        return ListenBody("one", (str(to["one"]["with"]["type"]),))
    strategy = "all" if "all" in to else "any"
    return ListenBody(strategy, tuple(str(event["with"]["type"]) for event in to[strategy]))


async def run_listen(interp: Interpreter, step: Step, body: ListenBody, data: Any) -> Any:
    """Waits for the events; the output is the list of consumed events' data, in the
    order the filters name them. Bound it with the task's ``timeout``."""
    strategy, types = body.strategy, body.types

    def ready() -> bool:
        present = [bool(interp.inbox.get(kind)) for kind in types]
        return all(present) if strategy == "all" else any(present)

    await workflow.wait_condition(ready)
    if strategy == "all":
        return [interp.inbox[kind].pop(0) for kind in types]
    kind = next(kind for kind in types if interp.inbox.get(kind))
    return [interp.inbox[kind].pop(0)]


KIND = TaskKind("listen", check, parse, run_listen, unsupported_fields={"foreach": _CONSUMED_ONCE})
