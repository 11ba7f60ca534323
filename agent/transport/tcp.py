"""Outbound TCP for call home, with liveness left to the kernel.

ietf-tcp-common ``keepalives`` maps onto SO_KEEPALIVE, TCP_KEEPIDLE,
TCP_KEEPINTVL and TCP_KEEPCNT. Keepalive probes only run while nothing is
in flight, so TCP_USER_TIMEOUT is set to the same overall budget
(idle-time + max-probes x probe-interval) to bound a dead peer that leaves
our data unacknowledged. No user-space timer is involved: the box sleeps.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import Any, NamedTuple

# Linux limits (include/net/tcp.h); the YANG deviation enforces them at edit time.
MAX_TCP_KEEPIDLE = 32767
MAX_TCP_KEEPINTVL = 32767
MAX_TCP_KEEPCNT = 127

TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)


class Keepalives(NamedTuple):
    idle_time: int
    max_probes: int
    probe_interval: int

    @property
    def user_timeout_ms(self) -> int:
        return (self.idle_time + self.max_probes * self.probe_interval) * 1000


def apply_keepalives(sock: socket.socket, ka: Keepalives | None) -> None:
    """Configure kernel liveness checks; ``None`` leaves them off (RFC 9293 3.8.4)."""
    if ka is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, ka.idle_time)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, ka.probe_interval)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, ka.max_probes)
    sock.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, ka.user_timeout_ms)


def retune_keepalives(sock: socket.socket, ka: Keepalives | None) -> None:
    """Apply ``ka`` to a connected socket; ``None`` turns liveness checks off.

    Linux takes new keepalive options on an established connection: the
    next idle period already uses them, no new connection is needed."""
    if ka is None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 0)
        sock.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, 0)  # 0: the system's default
        return
    apply_keepalives(sock, ka)


def read_keepalives(sock: socket.socket) -> dict[str, int]:
    """The liveness options as the kernel holds them (for state, tests, the demo)."""
    return {
        "SO_KEEPALIVE": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        "TCP_KEEPIDLE": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        "TCP_KEEPINTVL": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
        "TCP_KEEPCNT": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
        "TCP_USER_TIMEOUT": sock.getsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT),
    }


#: one of getaddrinfo()'s answers: family, type, proto, canonname, sockaddr
AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, Any]


def _numeric_address(host: str, port: int) -> list[AddrInfo] | None:
    """getaddrinfo()'s answer for an IPv4 or IPv6 literal, without its worker
    thread (asyncio resolves in a thread pool: a thread started, and
    concurrent.futures and the idna codec imported, before the first call
    home). Anything else, scoped IPv6 literals too, goes to getaddrinfo()."""
    v4: tuple[str, int] = (host, port)
    v6: tuple[str, int, int, int] = (host, port, 0, 0)
    for family, addr in ((socket.AF_INET, v4), (socket.AF_INET6, v6)):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", addr)]
    return None


async def connect(
    host: str,
    port: int,
    *,
    keepalives: Keepalives | None = None,
    local_address: str | None = None,
    local_port: int = 0,
    bind_device: str | None = None,
) -> socket.socket:
    """Open a TCP connection, trying each resolved address in turn (RFC 9643:
    the name is resolved on every attempt). The caller bounds the time."""
    loop = asyncio.get_running_loop()
    infos: Sequence[AddrInfo] = _numeric_address(host, port) or await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                                  proto=socket.IPPROTO_TCP)
    if local_address:
        # bind() needs a local address of the same family as the remote one
        fam = socket.AF_INET6 if ":" in local_address else socket.AF_INET
        infos = [i for i in infos if i[0] == fam] or infos
    last: OSError | None = None
    for family, type_, proto, _name, addr in infos:
        sock = socket.socket(family, type_, proto)
        try:
            sock.setblocking(False)
            if bind_device:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, bind_device.encode())
            if local_address or local_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((local_address or ("::" if family == socket.AF_INET6 else "0.0.0.0"), local_port))
            apply_keepalives(sock, keepalives)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await loop.sock_connect(sock, addr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
        except BaseException:
            sock.close()
            raise
    raise last if last is not None else OSError(f"{host} resolves to no address")
