"""How many caller heartbeats a keeper keeps in flight: as many as its callers need.

A keeper must send each caller a beat every third of its heartbeat timeout, so its shard
needs ``rate`` beats a second, the sum of its callers' ``1 / beat interval``. At the
latency the server shows, that takes ``rate * latency`` beats in flight at once (Little's
law). A fixed number is wrong both ways: 64 in flight carried 128 beats a second at 0.5 s
each, and 2,500 callers needed 125 with nothing to spare, so a saturated server let them
time out (docs/scaling.md); a large fixed number lets a keeper that starts on a listed
shard fire every overdue beat at once. The limit follows the demand and the latency,
with headroom to catch up on beats that came due together, inside fixed bounds.

This adds no load of its own: the beats sent are the beats due; only how many may wait
on the server at once changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Never fewer in flight than this: enough for a shard of small callers on a healthy
# server (what every keeper had before the limit adapted).
FLOOR = 64
# Never more: 10,000 callers beaten every 20 s at 2 s a beat (a server near its end).
CEILING = 1024
# In flight beyond the steady need, so overdue beats (a keeper that starts, a stall)
# are caught up at twice the rate they came due.
HEADROOM = 2.0
# Weight of the newest beat in the latency estimate: about the last 20 beats count.
SMOOTHING = 0.05
# Latency assumed before the first beat ends (a healthy local server).
FIRST_GUESS_SECONDS = 0.05


@dataclass
class BeatPacer:
    """The latency estimate and the demand behind a keeper's in-flight limit."""

    floor: int = FLOOR
    ceiling: int = CEILING
    latency: float = FIRST_GUESS_SECONDS
    """Smoothed seconds one beat takes, from start to its last RPC's answer."""
    rate: float = 0.0
    """Beats a second the shard's callers need."""

    def observe(self, seconds: float) -> None:
        """Fold in how long one beat took."""
        self.latency += SMOOTHING * (max(seconds, 0.0) - self.latency)

    def need(self, beat_intervals: list[float]) -> None:
        """Set the demand from the beat interval (seconds) of every caller kept."""
        self.rate = sum(1.0 / interval for interval in beat_intervals if interval > 0)

    @property
    def limit(self) -> int:
        """Beats that may be in flight at once."""
        return self._limit_at(self.latency)

    def limit_if_slower(self, oldest_in_flight: float) -> int:
        """The limit, should a beat take as long as the oldest one still in flight."""
        return self._limit_at(max(self.latency, oldest_in_flight))

    def _limit_at(self, latency: float) -> int:
        wanted = math.ceil(self.rate * latency * HEADROOM)
        return max(self.floor, min(self.ceiling, wanted))
