"""How many of a run's ``call: http`` and ``call: grpc`` activities may run at once.

A task queue's worker has ``ZIGFLOW_MAX_CONCURRENT_ACTIVITIES`` slots, shared by every
run on the queue. Without a bound, one run's ``fork`` of a hundred calls to a server that
never answers took all of them until the calls timed out, and every other workflow on the
queue waited behind it. So each run lets out at most its share
(``ZIGFLOW_MAX_ACTIVITIES_PER_RUN``); the rest of its calls wait inside the run, holding
nothing on the worker.

The share is part of the run's behaviour: with another value a replay would schedule its
activities in another order. So a run reads it once, through a local activity whose
result is recorded in its history (as the orchestrator does with its settings, ADR 0008),
and a replay reads the recorded value whatever the replaying worker's settings. Runs
recorded before the share existed carry no patch marker, and replay as they ran: unbounded.

``call: agent`` is not counted: its activity ends its slot once stigma-api has the call
(the token handshake), while the run waits on it for hours.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio import activity, workflow

ACTIVITY_SHARE_ACTIVITY = "ZigflowActivityShare"
ACTIVITY_SHARE_PATCH = "zigflow-activity-share"
_READ_TIMEOUT = timedelta(seconds=10)


class ActivityShareSetting:
    """The worker side: answers the share it was started with."""

    def __init__(self, activities_per_run: int) -> None:
        if activities_per_run < 1:
            raise ValueError(f"activities_per_run must be at least 1, not {activities_per_run}")
        self.activities_per_run = activities_per_run

    @activity.defn(name=ACTIVITY_SHARE_ACTIVITY)
    async def read(self) -> int:
        return self.activities_per_run


class ActivityShare:
    """The run side: a semaphore sized by the share recorded in the run's history, read
    when the run first calls out (a run that never does records nothing)."""

    def __init__(self) -> None:
        self._reading = asyncio.Lock()
        self._read = False
        self._slots: asyncio.Semaphore | None = None

    async def _semaphore(self) -> asyncio.Semaphore | None:
        async with self._reading:  # concurrent branches of a fork read it once
            if not self._read:
                self._read = True
                if workflow.patched(ACTIVITY_SHARE_PATCH):
                    share = await workflow.execute_local_activity(
                        ACTIVITY_SHARE_ACTIVITY,
                        start_to_close_timeout=_READ_TIMEOUT,
                        result_type=int,
                    )
                    self._slots = asyncio.Semaphore(share)
        return self._slots

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Held while one activity of the run is scheduled (its retries included)."""
        slots = await self._semaphore()
        if slots is None:
            yield
            return
        async with slots:
            yield
