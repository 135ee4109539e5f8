"""The run's tenant in Temporal: the ``StigmaTenant`` search attribute stigma-api sets when
it starts a run (never changed after), read back to authorize reads and counted for the
per-tenant quotas (docs/adr/0014)."""

from __future__ import annotations

import logging

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError

from agent_contract import TENANT_ATTRIBUTE
from service_kit import SettingsLoadError

logger = logging.getLogger(__name__)

TENANT = SearchAttributeKey.for_keyword(TENANT_ATTRIBUTE)


async def ensure_tenant_attribute(client: Client) -> None:
    """Register StigmaTenant if the namespace lacks it (the orchestrator registers it too);
    without it no run could start, so fail at start-up with the command to run."""
    known = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    if TENANT_ATTRIBUTE in known.custom_attributes:
        return
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={TENANT_ATTRIBUTE: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD},
            )
        )
    except RPCError as err:
        if TENANT_ATTRIBUTE in str(err.message) and "already" in str(err.message).lower():
            return  # registered meanwhile by the orchestrator
        raise SettingsLoadError(
            f"namespace {client.namespace!r} lacks the search attribute {TENANT_ATTRIBUTE} "
            f"and it cannot be added here ({err.status.name}: {err.message}); run: "
            f"temporal operator search-attribute create --name {TENANT_ATTRIBUTE} "
            "--type Keyword"
        ) from err
    logger.info("registered search attribute %s", TENANT_ATTRIBUTE)
