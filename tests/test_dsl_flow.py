"""DSL control and data flow on a real Temporal server: switch, for, then, if, data shaping."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tests.support import history_events, start_dsl


async def run(client: Client, workflow_type: str, payload: Any) -> Any:
    return await (await start_dsl(client, workflow_type, payload)).result()


@pytest.mark.parametrize(
    ("priority", "route"), [("high", "escalated"), ("low", "filed"), ("medium", "none")]
)
async def test_switch_jumps_to_the_matching_case_or_continues(
    client: Client, priority: str, route: str
) -> None:
    result = await run(client, "dsl-switch", {"priority": priority})
    assert result == {"priority": priority, "route": route}


async def test_switch_case_then_exit_leaves_only_the_nested_list(client: Client) -> None:
    assert await run(client, "dsl-switch-default", {"stop": True}) == {
        "stop": True,
        "after": True,
    }
    assert await run(client, "dsl-switch-default", {"stop": False}) == {
        "stop": False,
        "marked": True,
        "after": True,
    }


async def test_for_feeds_each_iteration_with_the_previous_output(client: Client) -> None:
    result = await run(client, "dsl-for", {"numbers": [1, 2, 3], "words": ["a", "b"]})
    assert result["sum"] == 6
    assert result["seen"] == [0, 1, 2]
    assert result["labels"] == ["0:a", "1:b"]


async def test_for_while_stops_before_the_first_failing_item(client: Client) -> None:
    result = await run(client, "dsl-for", {"numbers": [5, 200, 1]})
    assert result["sum"] == 5
    assert result["seen"] == [0]


async def test_for_over_an_empty_collection_outputs_its_input(client: Client) -> None:
    assert await run(client, "dsl-for", {"numbers": []}) == {"numbers": []}


async def test_then_exit_in_nested_do_if_false_call_and_data_shaping(client: Client) -> None:
    handle = await start_dsl(client, "dsl-flow", {"callAgent": False})
    result = await handle.result()
    shaped = {"first": True, "runtime": "zigflow", "task": "shape"}
    # output.as runs before export.as (the spec's order): $context is not updated yet.
    assert result == {"result": shaped, "context": {}}
    # `if` false on a call: the agent activity was never scheduled.
    assert not await history_events(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
