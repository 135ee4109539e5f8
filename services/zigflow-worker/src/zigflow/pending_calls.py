"""Pending agent calls counted where they wait: in the caller's own workflow.

A ``call: agent`` hands its task token to Stigma and its activity stays pending in
Temporal until Stigma completes it. Stigma's own count (its runs' callbacks) misses every
call it does not hold: a StartAgent that never got through, a caller between two attempts,
a callback whose agent ended but whose delivery has not succeeded. So each Zigflow run
keeps two search attributes equal to its CallAgent activities that have waited past
:data:`VISIBLE_AFTER`: how many, and since when the oldest was first scheduled (its first
attempt: a retried attempt does not reset the age). The zigflow-worker's pending gauge
reads them through visibility (docs/adr/0018).

A call answered within :data:`VISIBLE_AFTER` costs a timer and no visibility write.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.api.enums.v1 import IndexedValueType

from agent_contract import (
    AGENT_CALLS_PENDING_ATTRIBUTE,
    AGENT_CALLS_PENDING_SINCE_ATTRIBUTE,
)
from service_kit import PendingGaugeNames, PendingPublisher

T = TypeVar("T")

SEARCH_ATTRIBUTES = {
    AGENT_CALLS_PENDING_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    AGENT_CALLS_PENDING_SINCE_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}
# Long enough that the calls most runs make (seconds) never reach visibility; short enough
# that a call pending for a minute is counted within it, with the gauge's read interval.
VISIBLE_AFTER = timedelta(seconds=20)
# Runs started before the counting existed replay without its timers and upserts.
PATCH_ID = "zigflow-agent-calls-visible"
GAUGES = PendingGaugeNames(
    count="zigflow_pending_agent_calls",
    count_help="CallAgent activities of running Zigflow workflows pending for more than "
    f"{VISIBLE_AFTER.total_seconds():.0f} s (from Temporal visibility)",
    oldest_age="zigflow_oldest_pending_agent_call_age_seconds",
    oldest_age_help="Age of the longest-pending CallAgent activity, from its first attempt "
    "(0 when none waits)",
    last_read="zigflow_pending_agent_calls_last_read_timestamp_seconds",
    last_read_help="When the pending agent calls were last read from Temporal successfully",
)


class PendingAgentCalls:
    """The run's agent calls that wait, mirrored into its search attributes."""

    def __init__(self) -> None:
        self._publisher = PendingPublisher(
            count_attribute=AGENT_CALLS_PENDING_ATTRIBUTE,
            since_attribute=AGENT_CALLS_PENDING_SINCE_ATTRIBUTE,
        )
        self._waiting: dict[int, datetime] = {}  # by call number: since when each waits
        self._calls = 0

    async def watch(self, call: asyncio.Task[T]) -> T:
        """Await ``call`` (a CallAgent activity); once it has waited past VISIBLE_AFTER it
        counts in the run's attributes until it ends, however it ends."""
        if not workflow.patched(PATCH_ID):
            return await call
        self._calls += 1
        number, scheduled = self._calls, workflow.now()
        watcher = asyncio.create_task(self._count_after_grace(call, number, scheduled))
        try:
            return await call
        finally:
            watcher.cancel()
            if self._waiting.pop(number, None) is not None:
                self._publish()

    async def _count_after_grace(
        self, call: asyncio.Task[Any], number: int, scheduled: datetime
    ) -> None:
        try:
            await workflow.wait_condition(call.done, timeout=VISIBLE_AFTER)
        except TimeoutError:
            self._waiting[number] = scheduled
            self._publish()

    def _publish(self) -> None:
        self._publisher.publish(list(self._waiting.values()))
