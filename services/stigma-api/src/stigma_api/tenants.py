"""The run's tenant in Temporal: the ``StigmaTenant`` search attribute stigma-api sets when
it starts a run (never changed after), read back to authorize reads and counted for the
per-tenant quotas (docs/adr/0014)."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from agent_contract import TENANT_ATTRIBUTE
from service_kit import ensure_search_attributes

TENANT = SearchAttributeKey.for_keyword(TENANT_ATTRIBUTE)


async def ensure_tenant_attribute(client: Client) -> None:
    """Register StigmaTenant if the namespace lacks it (the orchestrator registers it too);
    without it no run could start, so fail at start-up with the command to run."""
    await ensure_search_attributes(
        client, {TENANT_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD}
    )
