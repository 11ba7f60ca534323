"""A real Linux board: NICs from sysfs with link events from rtnetlink, the
hardware watchdog through /dev/watchdog, identity from DMI or the device tree.

Nothing here polls: link changes arrive on a netlink socket registered in
the event loop, and the watchdog is kicked by the agent's own loop so that a
hung loop lets the board reset.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import logging
import os
import socket
from pathlib import Path

from . import netlink, slots
from .base import Identity, LinkListener, NicCounters, NicInfo

log = logging.getLogger(__name__)

SYS_NET = Path("/sys/class/net")

# linux/watchdog.h
WDIOC_GETSUPPORT = 0x80285700
WDIOC_GETBOOTSTATUS = 0x80045702
WDIOC_KEEPALIVE = 0x80045705
WDIOC_SETTIMEOUT = 0xC0045706
WDIOC_GETTIMEOUT = 0x80045707
WDIOF_CARDRESET = 0x0020

_COUNTERS = ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "rx_errors", "tx_errors", "rx_dropped", "tx_dropped")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:  # e.g. EINVAL reading speed/carrier of a link that is down
        return None


def _int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


class LinuxNics:
    def __init__(self, sys_net: Path = SYS_NET) -> None:
        self.sys_net = sys_net
        self._listeners: list[LinkListener] = []
        self._sock: socket.socket | None = None
        self._state: dict[str, bool] = {}

    def list(self) -> list[NicInfo]:
        out = []
        for d in sorted(self.sys_net.iterdir()):
            if d.name == "lo" or not (d / "address").exists():
                continue
            speed = _int(d / "speed")
            counters = NicCounters(**{c: _int(d / "statistics" / c) or 0 for c in _COUNTERS})
            out.append(
                NicInfo(
                    name=d.name,
                    mac=_read(d / "address") or "",
                    oper_up=_read(d / "operstate") == "up" or (_read(d / "operstate") == "unknown" and _int(d / "carrier") == 1),
                    speed=speed * 1_000_000 if speed and speed > 0 else None,
                    mtu=_int(d / "mtu") or 0,
                    counters=counters,
                )
            )
        return out

    def interface_of(self, address: str) -> str | None:
        for name, addrs in netlink.interface_addresses().items():
            if address in addrs:
                return name
        return None

    def subscribe(self, listener: LinkListener) -> None:
        self._listeners.append(listener)
        if self._sock is None:
            self._state = {n.name: n.oper_up for n in self.list()}
            self._sock = netlink.open_link_monitor()
            asyncio.get_running_loop().add_reader(self._sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        assert self._sock is not None  # the reader is removed with the socket
        try:
            data = self._sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:  # ENOBUFS: events were lost; resynchronise from sysfs
            log.warning("netlink: %s; rereading link states", exc)
            for nic in self.list():
                self._changed(nic.name, nic.oper_up)
            return
        for ev in netlink.parse_link_events(data):
            if ev.name and ev.name != "lo":
                self._changed(ev.name, ev.up)

    def _changed(self, name: str, up: bool) -> None:
        if self._state.get(name) == up:
            return  # netlink repeats RTM_NEWLINK for unrelated attribute changes
        self._state[name] = up
        log.info("link %s is %s", name, "up" if up else "down")
        for listener in list(self._listeners):
            try:
                listener(name, up)
            except Exception:
                log.exception("link listener failed")

    def close(self) -> None:
        if self._sock is not None:
            try:
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            except RuntimeError:
                pass
            self._sock.close()
            self._sock = None


class LinuxWatchdog:
    """/dev/watchdog. Opening it arms the hardware; only the magic close ('V'
    then close) disarms it, which is what an orderly stop does."""

    def __init__(self, path: str = "/dev/watchdog") -> None:
        self.path = path
        self._fd: int | None = None
        self.last_reset_by_watchdog = False
        self.timeout: int | None = None
        self.identity: str | None = None

    def start(self, timeout: int) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            status = array.array("i", [0])
            fcntl.ioctl(self._fd, WDIOC_GETBOOTSTATUS, status, True)
            self.last_reset_by_watchdog = bool(status[0] & WDIOF_CARDRESET)
        except OSError as exc:
            log.warning("watchdog %s: cannot read the boot status: %s", self.path, exc)
        try:
            info = bytearray(40)
            fcntl.ioctl(self._fd, WDIOC_GETSUPPORT, info, True)
            self.identity = bytes(info[8:40]).split(b"\0", 1)[0].decode(errors="replace")
        except OSError:
            pass
        value = array.array("i", [timeout])
        fcntl.ioctl(self._fd, WDIOC_SETTIMEOUT, value, True)
        self.timeout = value[0]  # the driver may round it
        log.info("watchdog %s (%s) armed, timeout %d s", self.path, self.identity or "?", self.timeout)
        if self.last_reset_by_watchdog:
            log.warning("the last reset of this board was caused by the watchdog")

    def kick(self) -> None:
        if self._fd is not None:
            fcntl.ioctl(self._fd, WDIOC_KEEPALIVE, array.array("i", [0]), True)

    def stop(self) -> None:
        if self._fd is None:
            return
        try:
            os.write(self._fd, b"V")
        finally:
            os.close(self._fd)
            self._fd = None
        log.info("watchdog %s disarmed (magic close)", self.path)


def read_identity(root: Path = Path("/")) -> Identity:
    """Serial number, model and vendor as the platform firmware reports them."""
    dmi = root / "sys/class/dmi/id"
    dt = root / "proc/device-tree"
    serial = _read(dmi / "product_serial") or _dt_string(dt / "serial-number")
    model = _read(dmi / "product_name") or _dt_string(dt / "model")
    vendor = _read(dmi / "sys_vendor")
    firmware = None
    os_release = _read(root / "etc/os-release")
    if os_release:
        fields = dict(line.split("=", 1) for line in os_release.splitlines() if "=" in line)
        firmware = (fields.get("PRETTY_NAME") or fields.get("VERSION_ID") or "").strip('"') or None
    return Identity(serial_number=serial, model=model, firmware_version=firmware, manufacturer=vendor)


def _dt_string(path: Path) -> str | None:
    try:
        return path.read_bytes().rstrip(b"\0").decode(errors="replace") or None
    except OSError:
        return None


class LinuxBoard:
    name = "linux"

    def __init__(self, watchdog_path: str | None = "/dev/watchdog", sys_net: Path = SYS_NET,
                 state_dir: Path | None = None, rauc_conf: str | None = None) -> None:
        self.nics = LinuxNics(sys_net)
        self.watchdog = LinuxWatchdog(watchdog_path) if watchdog_path else None
        self.slots: slots.RaucSlots | None
        try:
            if state_dir is None:
                raise slots.SlotsUnavailable("no state dir")
            self.slots = slots.RaucSlots(Path(state_dir) / "firmware", conf=rauc_conf)
        except slots.SlotsUnavailable as exc:
            log.info("no firmware update on this board: %s", exc)
            self.slots = None

    def identity(self) -> Identity:
        return read_identity()

    def close(self) -> None:
        self.nics.close()
        if self.watchdog is not None:
            self.watchdog.stop()


def open_board(watchdog_path: str | None = "/dev/watchdog", state_dir: Path | None = None, **_ignored: object) -> LinuxBoard:
    return LinuxBoard(watchdog_path, state_dir=state_dir)
