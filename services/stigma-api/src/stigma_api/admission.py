"""The admission limit: how many agent executions may run at once.

The count comes from Temporal's visibility store (``count_workflows``), so it is shared
by every stigma-api replica and survives restarts. Visibility is eventually consistent
and one count per request would be wasteful, so a count is reused for ``refresh`` and
the runs this process admitted since are added to it: a bounded over-admission of what
other replicas start within one refresh window, never an unbounded one.
See docs/adr/0007-admission-limit-from-visibility.md.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from temporalio.client import Client

from agent_contract import RUNNING_AGENTS_QUERY

logger = logging.getLogger(__name__)

RUNNING_QUERY = RUNNING_AGENTS_QUERY


class AdmissionRefused(RuntimeError):
    """Too many executions run already; the caller should retry later."""


class Admission:
    """Answers whether one more agent execution may start now."""

    def __init__(self, client: Client, *, limit: int, refresh: timedelta) -> None:
        self._client = client
        self._limit = limit
        self._refresh = refresh.total_seconds()
        self._running = 0
        self._counted_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def limit(self) -> int:
        return self._limit

    async def check(self) -> None:
        """Raise AdmissionRefused when the limit is reached (a limit of 0 admits everything)."""
        if self._limit <= 0:
            return
        async with self._lock:
            now = asyncio.get_running_loop().time()
            if self._counted_at is None or now - self._counted_at >= self._refresh:
                counted = await self._client.count_workflows(RUNNING_QUERY)
                self._running = counted.count
                self._counted_at = now
            running = self._running
        if running >= self._limit:
            raise AdmissionRefused(
                f"{running} agent executions are running; the limit is {self._limit} "
                "(STIGMA_API_MAX_RUNNING_EXECUTIONS): retry later"
            )

    def admitted(self) -> None:
        """Count a run this process just started until the next visibility count."""
        self._running += 1
