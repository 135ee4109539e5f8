"""The run's tenant in Temporal: the ``StigmaTenant`` search attribute stigma-api sets when
it starts a run (never changed after), read back to authorize reads and counted for the
per-tenant quotas (docs/adr/0014)."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

from agent_contract import TENANT_ATTRIBUTE

TENANT = SearchAttributeKey.for_keyword(TENANT_ATTRIBUTE)
