"""One runner per task type, grouped by role: ``flow`` (set, do, switch, for,
fork), ``errors`` (raise, try), ``calls`` (call, run) and ``events`` (wait, listen)."""

from __future__ import annotations

from zigflow.dsl.interpreter import TaskRunner
from zigflow.dsl.tasks.calls import run_call, run_run
from zigflow.dsl.tasks.errors import run_raise, run_try
from zigflow.dsl.tasks.events import keep_event, run_listen, run_wait
from zigflow.dsl.tasks.flow import run_do, run_for, run_fork, run_set, run_switch

RUNNERS: dict[str, TaskRunner] = {
    "call": run_call,
    "do": run_do,
    "for": run_for,
    "fork": run_fork,
    "listen": run_listen,
    "raise": run_raise,
    "run": run_run,
    "set": run_set,
    "switch": run_switch,
    "try": run_try,
    "wait": run_wait,
}

__all__ = ["RUNNERS", "keep_event"]
