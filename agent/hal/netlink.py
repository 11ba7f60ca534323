"""Just enough rtnetlink (RFC 3549, linux/rtnetlink.h) for link events and
interface addresses, without a dependency: parse RTM_NEWLINK/DELLINK
messages, dump addresses with RTM_GETADDR."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

NETLINK_ROUTE = 0
RTMGRP_LINK = 0x1

RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_NEWADDR = 20
RTM_GETADDR = 22
NLMSG_DONE = 3
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300

IFLA_IFNAME = 3
IFLA_OPERSTATE = 16
IFA_ADDRESS = 1
IFA_LOCAL = 2

IFF_UP = 0x1
IFF_RUNNING = 0x40
IFF_LOWER_UP = 0x10000
IF_OPER_UP = 6

_NLMSGHDR = struct.Struct("=IHHII")
_IFINFOMSG = struct.Struct("=BxHiII")
_IFADDRMSG = struct.Struct("=BBBBI")
_RTATTR = struct.Struct("=HH")


@dataclass(frozen=True)
class LinkEvent:
    index: int
    name: str | None
    up: bool
    deleted: bool = False


def _align(n: int) -> int:
    return (n + 3) & ~3


def _attrs(data: bytes, offset: int, end: int) -> Iterator[tuple[int, bytes]]:
    while offset + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size:
            return
        yield kind, data[offset + _RTATTR.size : offset + length]
        offset += _align(length)


def _messages(data: bytes) -> Iterator[tuple[int, bytes, int, int]]:
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            return
        yield kind, data, offset + _NLMSGHDR.size, offset + length
        offset += _align(length)


def parse_link_events(data: bytes) -> list[LinkEvent]:
    events = []
    for kind, buf, start, end in _messages(data):
        if kind not in (RTM_NEWLINK, RTM_DELLINK) or end - start < _IFINFOMSG.size:
            continue
        _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(buf, start)
        name = None
        oper = None
        for akind, value in _attrs(buf, start + _IFINFOMSG.size, end):
            if akind == IFLA_IFNAME:
                name = value.rstrip(b"\0").decode(errors="replace")
            elif akind == IFLA_OPERSTATE and value:
                oper = value[0]
        # operstate is authoritative when the driver reports it; carrier otherwise
        up = (oper == IF_OPER_UP) if oper not in (None, 0) else bool(flags & IFF_UP and flags & (IFF_RUNNING | IFF_LOWER_UP))
        events.append(LinkEvent(index, name, up and kind == RTM_NEWLINK, deleted=kind == RTM_DELLINK))
    return events


def open_link_monitor() -> socket.socket:
    """A non-blocking rtnetlink socket subscribed to link changes."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    sock.bind((0, RTMGRP_LINK))
    return sock


def interface_addresses() -> dict[str, set[str]]:
    """Interface name -> its IPv4/IPv6 addresses (one RTM_GETADDR dump)."""
    names = {index: name for index, name in socket.if_nameindex()}
    out: dict[str, set[str]] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE) as sock:
        sock.settimeout(2)
        seq = os.getpid() & 0xFFFF
        req = _NLMSGHDR.pack(_NLMSGHDR.size + _IFADDRMSG.size, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
        sock.send(req + _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
        while True:
            data = sock.recv(65536)
            done = False
            for kind, buf, start, end in _messages(data):
                if kind in (NLMSG_DONE, NLMSG_ERROR):
                    done = True
                    break
                if kind != RTM_NEWADDR:
                    continue
                family, _plen, _flags, _scope, index = _IFADDRMSG.unpack_from(buf, start)
                for akind, value in _attrs(buf, start + _IFADDRMSG.size, end):
                    if akind in (IFA_ADDRESS, IFA_LOCAL) and len(value) in (4, 16):
                        out.setdefault(names.get(index, str(index)), set()).add(str(ipaddress.ip_address(value)))
            if done:
                return out
