"""What the agent needs from a board. Hardware is reached only through these.

A board implementation (``linux``, ``sim``, a vendor's own) provides a
:class:`Board`; :func:`agent.hal.load` picks one by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Protocol

if TYPE_CHECKING:
    from .slots import FirmwareSlots


class NicCounters(NamedTuple):
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_packets: int = 0
    tx_packets: int = 0
    rx_errors: int = 0
    tx_errors: int = 0
    rx_dropped: int = 0
    tx_dropped: int = 0


class NicInfo(NamedTuple):
    name: str
    mac: str
    oper_up: bool
    #: bits per second, None when unknown (no carrier, virtual NIC)
    speed: int | None
    mtu: int
    counters: NicCounters = NicCounters()


class Identity(NamedTuple):
    serial_number: str | None = None
    model: str | None = None
    firmware_version: str | None = None
    manufacturer: str | None = None


#: called with (interface name, link up?)
LinkListener = Callable[[str, bool], None]


class Nics(Protocol):
    def list(self) -> list[NicInfo]: ...

    def subscribe(self, listener: LinkListener) -> None:
        """Call ``listener`` on every link change, from the event loop."""

    def interface_of(self, address: str) -> str | None:
        """The interface holding a local IP address (which NIC a socket uses)."""

    def close(self) -> None: ...


class Watchdog(Protocol):
    #: True when the last reset of the board was caused by the watchdog
    last_reset_by_watchdog: bool

    def start(self, timeout: int) -> None: ...

    def kick(self) -> None: ...

    def stop(self) -> None:
        """Disarm on an orderly stop (magic close), so the board is not reset."""


class Board(Protocol):
    # read-only members, so that a board may hold its own implementations
    @property
    def name(self) -> str: ...

    @property
    def nics(self) -> Nics: ...

    @property
    def watchdog(self) -> Watchdog | None: ...

    #: A/B firmware slots (agent/hal/slots.py), None when the board has no
    #: update framework the agent can drive
    @property
    def slots(self) -> FirmwareSlots | None: ...

    def identity(self) -> Identity: ...

    def close(self) -> None: ...
