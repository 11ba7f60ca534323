"""A simulated board for tests and the demo: one NIC whose link tests can flip,
and a watchdog that records kicks and "fires" when it is not kicked in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from .base import Identity, LinkListener, NicCounters, NicInfo
from .slots import SimSlots


class SimNics:
    #: loopback stands in for the management network in tests and the demo
    ADDRESSES = {"eth0": ("127.0.0.1", "127.0.0.2", "::1")}

    def __init__(self) -> None:
        self._links = {"eth0": True}
        self._listeners: list[LinkListener] = []
        self.counters = NicCounters()

    def list(self) -> list[NicInfo]:
        return [
            NicInfo(name, "02:00:00:00:00:01", up, 1_000_000_000 if up else None, 1500, self.counters)
            for name, up in self._links.items()
        ]

    def subscribe(self, listener: LinkListener) -> None:
        self._listeners.append(listener)

    def interface_of(self, address: str) -> str | None:
        return next((n for n, addrs in self.ADDRESSES.items() if address in addrs), None)

    def close(self) -> None:
        self._listeners.clear()

    def set_link(self, name: str, up: bool) -> None:
        """Test hook: change the link state and notify as a real NIC would."""
        if self._links.get(name) == up:
            return
        self._links[name] = up
        for listener in list(self._listeners):
            listener(name, up)


class SimWatchdog:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.timeout: int | None = None
        self.kicks = 0
        self.last_kick: float | None = None
        self.stopped = False
        self.last_reset_by_watchdog = False
        #: set once a kick came later than the timeout: real hardware would
        #: have reset the board by then
        self.fired = False

    def start(self, timeout: int) -> None:
        self.timeout = timeout
        self.stopped = False
        self.last_kick = None
        self.kick()

    def kick(self) -> None:
        now = self._clock()
        if self.expired_at(now):
            self.fired = True
        self.kicks += 1
        self.last_kick = now

    def stop(self) -> None:
        self.stopped = True

    def expired_at(self, now: float) -> bool:
        if self.timeout is None or self.stopped or self.last_kick is None:
            return False
        return now - self.last_kick > self.timeout

    @property
    def expired(self) -> bool:
        """True when the hardware would have reset the board by now."""
        return self.fired or self.expired_at(self._clock())


class LineSettings(NamedTuple):
    """What a G.fast transceiver is told for one line (rates in kbit/s)."""

    downstream_max_kbps: int
    upstream_max_kbps: int
    tdd_total_symbols: int
    tdd_downstream_symbols: int


class SimGfast:
    """A simulated G.fast transceiver chip: lines train to the configured
    rates. ``delay`` makes every call slow like a real chip's firmware."""

    #: what this chip can do per direction (G.fast 212 MHz class)
    MAX_KBPS = 2_000_000

    def __init__(self) -> None:
        self.lines: dict[str, LineSettings] = {}
        #: every call, in order: ("configure", line, settings) / ("remove", line, None)
        self.calls: list[tuple[str, str, LineSettings | None]] = []
        self.delay = 0.0

    async def configure(self, line: str, settings: LineSettings) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if max(settings.downstream_max_kbps, settings.upstream_max_kbps) > self.MAX_KBPS:
            raise ValueError(f"line {line}: rate above {self.MAX_KBPS} kbit/s")
        self.lines[line] = settings
        self.calls.append(("configure", line, settings))

    async def remove(self, line: str) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.lines.pop(line, None)
        self.calls.append(("remove", line, None))

    def status(self, line: str) -> dict[str, Any] | None:
        """Trained rates: the configured maxima, shared by the TDD split."""
        s = self.lines.get(line)
        if s is None:
            return None
        ds_share = s.tdd_downstream_symbols / s.tdd_total_symbols
        return {
            "link-state": "l0-link-state",
            "downstream-kbps": int(s.downstream_max_kbps * min(1.0, 2 * ds_share)),
            "upstream-kbps": int(s.upstream_max_kbps * min(1.0, 2 * (1 - ds_share))),
        }


class SimBoard:
    name = "sim"

    def __init__(self, state_dir: Path | None = None, on_reboot: Callable[[], None] | None = None) -> None:
        self.nics = SimNics()
        self.watchdog = SimWatchdog()
        self.gfast = SimGfast()
        #: A/B firmware slots in files under the state dir (none without one);
        #: creating them is this board's boot; ``on_reboot``: what its reboot
        #: does besides setting the flag (the daemon stops the agent)
        self.slots = (SimSlots(state_dir / "slots", state_dir / "firmware-keyring.pem", on_reboot=on_reboot)
                      if state_dir else None)

    def identity(self) -> Identity:
        version = "sim"
        if self.slots is not None:
            version = next((s.version for s in self.slots.slots() if s.name == self.slots.booted), None) or "sim"
        return Identity(serial_number="SIM0000001", model="dpu-sim", firmware_version=version, manufacturer="dpu-agent")

    def close(self) -> None:
        self.nics.close()
        self.watchdog.stop()
