"""Which endpoint to try, in what order (ietf-netconf-server reconnect-strategy).

Pure: no I/O, no clock. A *cycle* is one pass over the ordered endpoints,
each tried ``max-attempts`` times, starting where ``start-with`` says.
"""

from __future__ import annotations

import math
import random


class EndpointCycle:
    def __init__(
        self,
        endpoints: list[str],
        *,
        start_with: str = "first-listed",
        max_attempts: int = 3,
        rng: random.Random | None = None,
        last_connected: str | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("a netconf-client needs at least one endpoint")
        self.endpoints = list(endpoints)
        self.start_with = start_with
        self.max_attempts = max(1, max_attempts)
        self.rng = rng or random.Random()
        self.last_connected = last_connected

    def connected(self, endpoint: str) -> None:
        self.last_connected = endpoint

    def start_index(self) -> int:
        if self.start_with == "last-connected" and self.last_connected in self.endpoints:
            return self.endpoints.index(self.last_connected)
        if self.start_with == "random-selection":
            return self.rng.randrange(len(self.endpoints))
        # first-listed, and last-connected when nothing is known (module text)
        return 0

    def cycle(self) -> list[str]:
        """The attempts of one cycle, in order."""
        start = self.start_index()
        n = len(self.endpoints)
        order = [self.endpoints[(start + i) % n] for i in range(n)]
        return [name for name in order for _ in range(self.max_attempts)]


def backoff_delay(exhausted_cycles: int, low: float, high: float, rng: random.Random) -> float:
    """Wait before the next cycle once every endpoint has failed.

    Exponential with full jitter, so that a fleet that lost its manager at
    the same instant does not come back in lock-step: uniform between
    ``low`` and ``low * 2**(n-1)`` (capped at ``high``) after the n-th
    exhausted cycle in a row."""
    cap = min(high, low * 2 ** max(0, exhausted_cycles - 1))
    return rng.uniform(low, cap) if cap > low else low


def next_periodic_start(now: float, period: float, anchor: float) -> float:
    """The first ``anchor + k * period`` (k any integer) that is not in the past.

    This is the time *until* the next boundary, not the time since the last
    one (the mistake anchors.md reports in a well-known implementation)."""
    if period <= 0:
        raise ValueError("period must be positive")
    k = math.ceil((now - anchor) / period)
    return anchor + k * period
