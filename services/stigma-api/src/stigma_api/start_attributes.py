"""What stigma-api writes into a run's start request besides its input: the tenant, and
for a run with a caller, that caller as its keeper lists it (docs/adr/0020).

Written at start, the caller is kept alive from the first keeper sweep after acceptance,
whatever the run's own workflow tasks wait behind (a crashed orchestrator's sticky
timeout, a backlog on the survivors).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from agent_contract import (
    CALLER_BUCKET_ATTRIBUTE,
    KEPT_SINCE_ATTRIBUTE,
    TENANT_ATTRIBUTE,
    CallbackRef,
    StartPublication,
)
from service_kit import ensure_search_attributes
from stigma_api.tenants import TENANT

# Double: the dev server's SQLite visibility allows three Int attributes, all taken.
_BUCKET = SearchAttributeKey.for_float(CALLER_BUCKET_ATTRIBUTE)
_KEPT_SINCE = SearchAttributeKey.for_datetime(KEPT_SINCE_ATTRIBUTE)

START_ATTRIBUTES = {
    TENANT_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    CALLER_BUCKET_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    KEPT_SINCE_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


async def ensure_start_attributes(client: Client) -> None:
    """Register what a start request sets if the namespace lacks it (the orchestrator
    registers the same); without them no run could start, so fail at start-up."""
    await ensure_search_attributes(client, START_ATTRIBUTES)


def start_attributes(
    *, tenant: str, execution_id: str, callback: CallbackRef | None, accepted_at: datetime
) -> tuple[TypedSearchAttributes, dict[str, Any]]:
    """The start request's search attributes and memo."""
    pairs: list[SearchAttributePair[Any]] = [SearchAttributePair(TENANT, tenant)]
    if callback is None:
        return TypedSearchAttributes(pairs), {}
    published = StartPublication.of(callback, execution_id=execution_id, since=accepted_at)
    pairs += [
        SearchAttributePair(_BUCKET, published.bucket),
        SearchAttributePair(_KEPT_SINCE, published.since),
    ]
    return TypedSearchAttributes(pairs), published.memo
