"""Per-tenant quotas: agents running at once, and the StartAgent rate.

Running agents are counted like the global admission limit (docs/adr/0007): Temporal's
visibility, filtered on the run's ``StigmaTenant`` search attribute, reused for
``refresh`` plus what this process admitted since, so the count is shared by replicas and
survives restarts. The rate is a token bucket per tenant in this process: N replicas
admit N times the rate (set it per replica). A refusal names the limit and the setting;
the caller retries later, and a replay of a request it already made is never refused
(the caller of Executions.start checks that).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client

from agent_contract import RUNNING_AGENTS_QUERY, TENANT_ATTRIBUTE
from stigma_api.settings import ApiSettings


@dataclass(frozen=True)
class TenantQuota:
    max_running: int = 0
    """Agents running at once (0: no limit)."""
    start_rate: float = 0.0
    """StartAgent calls per second (0: no limit)."""
    start_burst: int = 0
    """Calls at once above the rate (0: the rate rounded up, at least 1)."""
    source: str = "STIGMA_API_TENANT_"
    """Where these figures come from, for the refusal's message."""

    @property
    def burst(self) -> int:
        return self.start_burst or max(1, math.ceil(self.start_rate))


class QuotaExceeded(RuntimeError):
    """A tenant's quota is reached; the message names the limit. The caller retries later."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


def running_query(tenant: str) -> str:
    # tenant names are validated (letters, digits, '.', '_', '-'): safe inside the quotes.
    return f"{RUNNING_AGENTS_QUERY} AND {TENANT_ATTRIBUTE} = '{tenant}'"


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class _Count:
    running: int = 0
    counted_at: float | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class TenantQuotas:
    def __init__(
        self,
        client: Client,
        *,
        default: TenantQuota,
        overrides: Mapping[str, TenantQuota] | None = None,
        refresh: timedelta,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._default = default
        self._overrides = dict(overrides or {})
        self._refresh = refresh.total_seconds()
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._counts: dict[str, _Count] = {}

    def quota(self, tenant: str) -> TenantQuota:
        return self._overrides.get(tenant, self._default)

    async def check(self, tenant: str) -> None:
        """Raise QuotaExceeded when ``tenant`` may not start one more agent now."""
        quota = self.quota(tenant)
        if quota.start_rate > 0:
            self._take(tenant, quota)
        if quota.max_running > 0:
            running = await self._running(tenant)
            if running >= quota.max_running:
                raise QuotaExceeded(
                    "running",
                    f"tenant {tenant}: {running} running agents, the limit is "
                    f"{quota.max_running} ({_setting(quota, 'MAX_RUNNING')}): retry later",
                )

    def admitted(self, tenant: str) -> None:
        """Count a run just started until the next visibility count."""
        count = self._counts.get(tenant)
        if count is not None:
            count.running += 1

    def _take(self, tenant: str, quota: TenantQuota) -> None:
        now = self._clock()
        bucket = self._buckets.get(tenant)
        if bucket is None:
            bucket = self._buckets[tenant] = _Bucket(tokens=quota.burst, at=now)
        bucket.tokens = min(quota.burst, bucket.tokens + (now - bucket.at) * quota.start_rate)
        bucket.at = now
        if bucket.tokens < 1:
            wait = (1 - bucket.tokens) / quota.start_rate
            raise QuotaExceeded(
                "rate",
                f"tenant {tenant}: more than {quota.start_rate:g} StartAgent calls per second "
                f"(bursts of {quota.burst}), the limit of {_setting(quota, 'START_RATE')}: "
                f"retry in {wait:.2f} s",
            )
        bucket.tokens -= 1

    async def _running(self, tenant: str) -> int:
        count = self._counts.setdefault(tenant, _Count())
        async with count.lock:
            now = self._clock()
            if count.counted_at is None or now - count.counted_at >= self._refresh:
                counted = await self._client.count_workflows(running_query(tenant))
                count.running = counted.count
                count.counted_at = now
            return count.running


def tenant_quotas(settings: ApiSettings) -> tuple[TenantQuota, dict[str, TenantQuota]]:
    """The default quota and each tenant's exception (STIGMA_API_TENANT_*)."""
    default = TenantQuota(
        max_running=settings.tenant_max_running,
        start_rate=settings.tenant_start_rate,
        start_burst=settings.tenant_start_burst,
    )
    overrides = {
        tenant: TenantQuota(
            max_running=default.max_running if quota.max_running is None else quota.max_running,
            start_rate=default.start_rate if quota.start_rate is None else quota.start_rate,
            start_burst=default.start_burst if quota.start_burst is None else quota.start_burst,
            source=f'STIGMA_API_TENANT_QUOTAS["{tenant}"]',
        )
        for tenant, quota in settings.tenant_quotas.items()
    }
    return default, overrides


def _setting(quota: TenantQuota, name: str) -> str:
    """``STIGMA_API_TENANT_MAX_RUNNING``, or the override's ``STIGMA_API_TENANT_QUOTAS[...]``."""
    if quota.source.endswith("_"):
        return quota.source + name
    return f"{quota.source}.{name.lower()}"
