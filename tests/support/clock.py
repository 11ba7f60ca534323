"""Timers a test fires by advancing a clock of its own, in place of
``loop.call_later``: a confirm-timeout of minutes is tested in no time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Timer:
    when: float
    delay: float
    callback: Callable[..., Any]
    args: tuple = ()
    cancelled: bool = False
    fired: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class ManualTimers:
    """``call_later`` for one component; :meth:`advance` fires what is due.
    Both run on the agent's loop (``harness.call(lambda: timers.advance(s))``)."""

    now: float = 0.0
    timers: list[Timer] = field(default_factory=list)

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        timer = Timer(self.now + delay, delay, callback, args)
        self.timers.append(timer)
        return timer

    def pending(self) -> list[Timer]:
        return [t for t in self.timers if not t.cancelled and not t.fired]

    def fired(self) -> list[Timer]:
        return [t for t in self.timers if t.fired]

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for t in sorted(self.pending(), key=lambda t: t.when):
            if t.when <= self.now:
                t.fired = True
                t.callback(*t.args)
