"""Gauges of things that wait, read from Temporal visibility, and the search attributes
they are read from.

A workflow that keeps two search attributes (how many of its things wait, and since when
the oldest) is counted here by listing the open runs that have any. The count lives in
Temporal, so no restart of any process resets it; and the gauge says nothing until it has
read once, so an exporter that cannot read visibility is absent (an alert sees that), never
a confident 0.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from temporalio import workflow
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError

from service_kit._settings import SettingsLoadError

logger = logging.getLogger(__name__)

_TYPE_NAMES = {
    IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
    IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime",
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
}


class SearchAttributesMissing(SettingsLoadError):
    """The namespace lacks search attributes a workflow of this service upserts."""


async def ensure_search_attributes(
    client: Client, attributes: Mapping[str, IndexedValueType.ValueType]
) -> None:
    """Register the search attributes the namespace lacks.

    Without them every workflow task that upserts one fails; failing at start-up, with
    the command to run, is the better place.
    """
    missing = await _missing(client, attributes)
    if not missing:
        return
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    except RPCError as err:
        if not await _missing(client, attributes):
            return  # another service registered them meanwhile (they start together)
        commands = "; ".join(
            f"temporal operator search-attribute create --name {name} --type {_TYPE_NAMES[kind]}"
            for name, kind in missing.items()
        )
        raise SearchAttributesMissing(
            f"namespace {client.namespace!r} lacks search attributes {sorted(missing)} and "
            f"they cannot be added here ({err.status.name}: {err.message}); run: {commands}"
        ) from err
    logger.info("registered search attributes %s", ", ".join(sorted(missing)))


class PendingPublisher:
    """Keeps a run's two pending search attributes equal to what waits in it (workflow side)."""

    def __init__(self, *, count_attribute: str, since_attribute: str) -> None:
        self._count = SearchAttributeKey.for_int(count_attribute)
        self._since = SearchAttributeKey.for_datetime(since_attribute)
        self._last: tuple[int, datetime | None] = (0, None)

    def publish(self, waiting_since: list[datetime]) -> None:
        """Upsert only on change: one history event per change, not per check."""
        state = (len(waiting_since), min(waiting_since) if waiting_since else None)
        if state == self._last:
            return
        self._last = state
        count, since = state
        workflow.upsert_search_attributes(
            [
                self._count.value_set(count),
                self._since.value_set(since) if since else self._since.value_unset(),
            ]
        )


async def _missing(
    client: Client, attributes: Mapping[str, IndexedValueType.ValueType]
) -> dict[str, IndexedValueType.ValueType]:
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    known = existing.custom_attributes
    return {name: kind for name, kind in attributes.items() if name not in known}


@dataclass(frozen=True)
class PendingReading:
    count: int
    oldest_age_seconds: float
    read_at: float


@dataclass(frozen=True)
class PendingGaugeNames:
    """The three families of one pending gauge: the count, the oldest's age, and when they
    were last read."""

    count: str
    count_help: str
    oldest_age: str
    oldest_age_help: str
    last_read: str
    last_read_help: str


class PendingGauges(Collector):
    """Pending gauges exported only once they have been read.

    A plain Gauge exports 0 from the start: an exporter that could never read visibility
    then said "nothing pending" with confidence, and its last-read timestamp of 0 made a
    staleness alert report an age of 56 years. Until the first successful read there is no
    sample, which an absence alert sees; afterwards the last reading stays, and its
    timestamp ages (a staleness alert).
    """

    def __init__(self, names: PendingGaugeNames) -> None:
        self.names = names
        self.reading: PendingReading | None = None

    def collect(self) -> Iterator[Metric]:
        reading, names = self.reading, self.names
        if reading is None:
            return
        yield GaugeMetricFamily(names.count, names.count_help, value=reading.count)
        yield GaugeMetricFamily(
            names.oldest_age, names.oldest_age_help, value=reading.oldest_age_seconds
        )
        yield GaugeMetricFamily(names.last_read, names.last_read_help, value=reading.read_at)


# Runs read per visibility page. The SDK's default (1000) decodes a whole page at once, and
# with 1,000 calls pending the zigflow-worker's RSS kept what those reads took: 24 to 37 KB
# per pending call past the first quarter (five runs of the benchmarks' pending scenario)
# against 10 and 21 KB with pages of 100 (two runs; 18 KB with no reads at all, so the
# rest is not the reader's). A read is then one request per 100 pending runs.
_PAGE_SIZE = 100


class PendingReader:
    """Refreshes a :class:`PendingGauges` from visibility every ``interval``: the sum of
    ``count_attribute`` and the oldest ``since_attribute`` over the runs ``query`` lists."""

    def __init__(
        self,
        client: Client,
        gauges: PendingGauges,
        *,
        query: str,
        count_attribute: str,
        since_attribute: str,
        interval: timedelta,
    ) -> None:
        self._client = client
        self._gauges = gauges
        self._query = query
        self._count = SearchAttributeKey.for_int(count_attribute)
        self._since = SearchAttributeKey.for_datetime(since_attribute)
        self._interval = interval.total_seconds()

    async def read_once(self) -> PendingReading:
        count = 0
        oldest: datetime | None = None
        async for execution in self._client.list_workflows(self._query, page_size=_PAGE_SIZE):
            attributes = execution.typed_search_attributes
            count += attributes.get(self._count) or 0
            since = attributes.get(self._since)
            if since is not None:
                oldest = since if oldest is None else min(oldest, since)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        reading = PendingReading(count, max(age, 0.0), time.time())
        self._gauges.reading = reading
        return reading

    async def run(self) -> None:
        while True:
            try:
                await self.read_once()
            except Exception as err:  # keep the last values; the last-read gauge tells
                logger.warning(
                    "reading pending agent calls from Temporal failed (%s): %s",
                    self._gauges.names.count,
                    err,
                )
            await asyncio.sleep(self._interval)
