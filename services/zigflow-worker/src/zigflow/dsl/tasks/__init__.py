"""The registry of task types: one module per type, each declaring its ``KIND``
(``task_kind.TaskKind``: keys, load-time check, expression fields, nested lists, runner).

A new task type is its module and one line below (docs/adr/0023)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zigflow.dsl.task_kind import TaskKind
from zigflow.dsl.tasks import (
    call_task,
    do_task,
    for_task,
    fork_task,
    listen_task,
    raise_task,
    run_task,
    set_task,
    switch_task,
    try_task,
    wait_task,
)

KINDS: Mapping[str, TaskKind[Any]] = {
    kind.name: kind
    for kind in (
        call_task.KIND,
        do_task.KIND,
        for_task.KIND,
        fork_task.KIND,
        listen_task.KIND,
        raise_task.KIND,
        run_task.KIND,
        set_task.KIND,
        switch_task.KIND,
        try_task.KIND,
        wait_task.KIND,
    )
}
