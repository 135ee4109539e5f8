"""The pending gauges' reader sums every run, across visibility pages.

``service_kit.PendingReader`` reads visibility a page at a time (pages of 100, so a read of
thousands of pending runs never decodes them all at once). This holds more runs than two
pages, each with its own count and "since", and checks the reading against what the runs
hold: the sum of their counts and the oldest "since", with none lost at a page boundary.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from agent_contract import AGENT_CALLS_PENDING_ATTRIBUTE, AGENT_CALLS_PENDING_SINCE_ATTRIBUTE
from service_kit import PendingGaugeNames, PendingGauges, PendingReader
from tests.support import eventually

RUNS = 230  # more than two pages of 100
COUNT = SearchAttributeKey.for_int(AGENT_CALLS_PENDING_ATTRIBUTE)
SINCE = SearchAttributeKey.for_datetime(AGENT_CALLS_PENDING_SINCE_ATTRIBUTE)
NAMES = PendingGaugeNames("c", "c", "a", "a", "r", "r")


@workflow.defn(name="PendingReaderPagesHold")
class Hold:
    """Holds the pending attributes it was started with until it is told to end."""

    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._done)

    @workflow.signal
    def done(self) -> None:
        self._done = True


async def test_a_reading_sums_every_run_across_pages(client: Client) -> None:
    queue = f"pending-reader-pages-{uuid.uuid4().hex[:8]}"
    base = datetime(2026, 1, 1, tzinfo=UTC)
    counts = [1 + index % 3 for index in range(RUNS)]
    # Every run an hour apart from the others, in shuffled order; the oldest is run 80,
    # on the middle page (visibility lists the newest runs first).
    since = [base + timedelta(hours=(index * 37 + 30) % RUNS) for index in range(RUNS)]
    handles: list[WorkflowHandle[Hold, None]] = []
    # Unsandboxed: the sandbox would re-import this module, and service_kit with it.
    runner = UnsandboxedWorkflowRunner()
    async with Worker(client, task_queue=queue, workflows=[Hold], workflow_runner=runner):
        try:
            for index in range(RUNS):
                attributes = TypedSearchAttributes(
                    [
                        SearchAttributePair(COUNT, counts[index]),
                        SearchAttributePair(SINCE, since[index]),
                    ]
                )
                handles.append(
                    await client.start_workflow(
                        Hold.run,
                        id=f"{queue}-{index}",
                        task_queue=queue,
                        search_attributes=attributes,
                    )
                )
            query = f"TaskQueue = '{queue}' AND ExecutionStatus = 'Running'"
            reader = PendingReader(
                client,
                PendingGauges(NAMES),
                query=f"{query} AND {AGENT_CALLS_PENDING_ATTRIBUTE} > 0",
                count_attribute=AGENT_CALLS_PENDING_ATTRIBUTE,
                since_attribute=AGENT_CALLS_PENDING_SINCE_ATTRIBUTE,
                interval=timedelta(seconds=1),
            )

            async def all_visible() -> bool:
                return (await client.count_workflows(query)).count == RUNS

            await eventually(all_visible, within=60)
            reading = await reader.read_once()
            assert reading.count == sum(counts)
            oldest = min(since)
            assert since.index(oldest) == 80
            expected_age = (datetime.now(UTC) - oldest).total_seconds()
            assert abs(reading.oldest_age_seconds - expected_age) < 60
        finally:
            await asyncio.gather(*(handle.signal(Hold.done) for handle in handles))
