"""fork (all and compete), wait, listen and run: workflow on a real Temporal server."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from tests.support import history_events, start_dsl


async def test_fork_outputs_branches_in_order_and_compete_skips_a_failed_branch(
    client: Client,
) -> None:
    handle = await start_dsl(client, "dsl-fork", {"n": 1})
    result = await handle.result()
    assert result["both"] == [{"side": "left", "n": 1}, {"side": "right", "n": 2}]
    # The failing branch lost, the fast one won, the slow one's timer was cancelled.
    assert result["race"] == {"winner": "fast"}
    assert await history_events(handle, EventType.EVENT_TYPE_TIMER_CANCELED)


async def test_fork_without_compete_fails_with_the_first_failure(client: Client) -> None:
    handle = await start_dsl(client, "dsl-fork-fail", {})
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    failure = caught.value.cause
    assert isinstance(failure, ApplicationError)
    assert failure.details[0]["title"] == "broken branch"
    assert failure.details[0]["instance"] == "/do/0/both/fork/branches/1/breaker"
    # The sleeping branch was cancelled: its 5-minute timer never fired.
    assert not await history_events(handle, EventType.EVENT_TYPE_TIMER_FIRED)


async def test_wait_is_a_durable_timer(client: Client) -> None:
    handle = await start_dsl(client, "dsl-wait", {})
    await handle.result()
    started = await history_events(handle, EventType.EVENT_TYPE_TIMER_STARTED)
    assert started[0].timer_started_event_attributes.start_to_fire_timeout.ToMilliseconds() == 300


async def test_listen_any_consumes_the_signal_named_by_the_event_type(client: Client) -> None:
    handle = await start_dsl(client, "dsl-listen", {})
    await handle.signal("rejected", {"by": "alice", "reason": "budget"})
    assert await handle.result() == [{"by": "alice", "reason": "budget"}]


async def test_listen_all_waits_for_every_event_even_sent_early(client: Client) -> None:
    handle = await start_dsl(client, "dsl-listen", {"needBoth": True})
    # `finance` arrives before anything listens for it; it is kept for the second task.
    await handle.signal("finance", {"ok": 2})
    await handle.signal("approved", {"by": "bob"})
    await handle.signal("legal", {"ok": 1})
    assert await handle.result() == {"signoffs": [{"ok": 1}, {"ok": 2}]}


async def test_listen_times_out_into_a_catchable_timeout(client: Client) -> None:
    handle = await start_dsl(client, "dsl-listen", {"within": "PT0.5S"})
    assert await handle.result() == {"decision": "expired"}


async def test_run_workflow_returns_the_child_output(client: Client) -> None:
    handle = await start_dsl(client, "dsl-run", {"n": 21})
    assert await handle.result() == {"doubled": 42, "parent": handle.id}
    (started,) = await history_events(
        handle, EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    )
    attributes = started.start_child_workflow_execution_initiated_event_attributes
    assert attributes.workflow_type.name == "dsl-run-child"


async def test_a_child_dsl_error_is_caught_by_the_parent(client: Client) -> None:
    handle = await start_dsl(client, "dsl-run", {"n": -1})
    assert await handle.result() == {"refused": "n = -1"}


async def test_run_workflow_without_await_moves_on_and_the_child_completes(
    client: Client,
) -> None:
    handle = await start_dsl(client, "dsl-run", {"n": 2, "detach": True})
    assert await handle.result() == {"doubled": 4, "parent": handle.id}
    children = await history_events(
        handle, EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED
    )
    detached = children[-1].start_child_workflow_execution_initiated_event_attributes
    child = client.get_workflow_handle(detached.workflow_id)
    assert await child.result() == {"doubled": 2, "parent": handle.id}


async def test_listen_consumes_a_temporal_update_and_answers_it(client: Client) -> None:
    handle = await start_dsl(client, "dsl-listen", {})
    answer = await handle.execute_update("approved", {"by": "carol"})
    assert answer == {"accepted": "approved"}
    assert await handle.result() == [{"by": "carol"}]


async def test_compete_cancels_the_losing_agent_call_through_the_handshake(
    client: Client,
) -> None:
    handle = await start_dsl(client, "dsl-fork-agents", {})
    assert await handle.result() == {"answer": "cached"}
    # The losing CallAgent activity was cancelled (reported back by Stigma), not left pending.
    assert await history_events(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED)
    assert await history_events(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED)
