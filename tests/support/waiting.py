"""Waiting on a condition instead of sleeping a guessed time."""

from __future__ import annotations

import time


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05) -> bool:
    """True as soon as ``predicate()`` is; False if it is not within ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return False
