"""What an agent run tells the outside world without being asked: search attributes and
replay-safe metrics.

A pending agent call is invisible to the SDK's metrics (they stop at
``raise_complete_async()``), so each run keeps two search attributes equal to its
callbacks that still wait for delivery. Temporal stores them durably; stigma-api's
pending gauge and ``stigmactl pending`` read them through visibility, so no restart of
any worker resets them.
"""

from __future__ import annotations

import logging
from datetime import datetime

from temporalio import workflow
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError

from agent_contract import (
    PENDING_APPROVALS_ATTRIBUTE,
    PENDING_CALLBACKS_ATTRIBUTE,
    PENDING_SINCE_ATTRIBUTE,
    TENANT_ATTRIBUTE,
)
from service_kit import SettingsLoadError

logger = logging.getLogger(__name__)

PENDING_CALLBACKS = SearchAttributeKey.for_int(PENDING_CALLBACKS_ATTRIBUTE)
PENDING_SINCE = SearchAttributeKey.for_datetime(PENDING_SINCE_ATTRIBUTE)
PENDING_APPROVALS = SearchAttributeKey.for_int(PENDING_APPROVALS_ATTRIBUTE)
SEARCH_ATTRIBUTES = {
    PENDING_CALLBACKS_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    PENDING_SINCE_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    PENDING_APPROVALS_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    # Set by stigma-api when it starts a run; registered here with the others.
    TENANT_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}
_TYPE_NAMES = {
    IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
    IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime",
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
}


class SearchAttributesMissing(SettingsLoadError):
    """The namespace lacks the search attributes the agent workflow upserts."""


class PendingPublisher:
    """Keeps a run's search attributes equal to its waiting callbacks (workflow side)."""

    def __init__(self) -> None:
        self._last: tuple[int, datetime | None] = (0, None)

    def publish(self, waiting_since: list[datetime]) -> None:
        """Upsert only on change: one history event per attach or delivery, not per check."""
        state = (len(waiting_since), min(waiting_since) if waiting_since else None)
        if state == self._last:
            return
        self._last = state
        count, since = state
        workflow.upsert_search_attributes(
            [
                PENDING_CALLBACKS.value_set(count),
                PENDING_SINCE.value_set(since) if since else PENDING_SINCE.value_unset(),
            ]
        )


def publish_approvals(waiting: int) -> None:
    """Tool calls of the run that wait for an operator (``stigmactl approvals`` lists them)."""
    workflow.upsert_search_attributes(
        [PENDING_APPROVALS.value_set(waiting) if waiting else PENDING_APPROVALS.value_unset()]
    )


def record_end(*, outcome: str, started_at: str) -> None:
    """Count the run's end and its duration through the workflow's replay-safe meter."""
    meter = workflow.metric_meter().with_additional_attributes({"outcome": outcome})
    meter.create_counter("stigma_agent_executions", "Agent runs that ended, by outcome").add(1)
    if started_at:
        meter.create_histogram_float(
            "stigma_agent_execution_duration_seconds",
            "Agent run duration, from StartAgent's acceptance to its end",
            unit="s",
        ).record((workflow.now() - datetime.fromisoformat(started_at)).total_seconds())


async def ensure_search_attributes(client: Client) -> None:
    """Register the pending-call search attributes if the namespace lacks them.

    Without them every agent workflow task would fail; failing here, at start-up and
    with the command to run, is the better place.
    """
    service = client.operator_service
    existing = await service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    known = existing.custom_attributes
    missing = {name: kind for name, kind in SEARCH_ATTRIBUTES.items() if name not in known}
    if not missing:
        return
    try:
        await service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    except RPCError as err:
        commands = "; ".join(
            f"temporal operator search-attribute create --name {name} --type {_TYPE_NAMES[kind]}"
            for name, kind in missing.items()
        )
        raise SearchAttributesMissing(
            f"namespace {client.namespace!r} lacks search attributes {sorted(missing)} and "
            f"they cannot be added here ({err.status.name}: {err.message}); run: {commands}"
        ) from err
    logger.info("registered search attributes %s", ", ".join(sorted(missing)))
