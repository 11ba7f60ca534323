"""Kernel modules for the board's initramfs, in load order.

The kernel packages carry no modules.dep and the host has no depmod for a
foreign kernel, so dependencies are read from each module's ``.modinfo``
ELF section (``depends=a,b``), as modprobe itself would learn them.
"""

from __future__ import annotations

import struct
from pathlib import Path


def _norm(name: str) -> str:
    return name.replace("-", "_")


def modinfo(ko: bytes) -> dict[str, str]:
    """The ``key=value`` strings of a module's ``.modinfo`` section (64-bit ELF)."""
    if ko[:4] != b"\x7fELF" or ko[4] != 2:
        raise ValueError("not a 64-bit ELF module")
    end = "<" if ko[5] == 1 else ">"
    shoff, = struct.unpack_from(end + "Q", ko, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", ko, 0x3A)

    def section(i: int) -> tuple[int, int, int]:
        name, _type, _flags, _addr, offset, size = struct.unpack_from(end + "IIQQQQ", ko, shoff + i * shentsize)
        return name, offset, size

    _, strtab, _ = section(shstrndx)
    for i in range(shnum):
        name, offset, size = section(i)
        if ko[strtab + name : ko.index(b"\0", strtab + name)] == b".modinfo":
            info = {}
            for item in ko[offset : offset + size].split(b"\0"):
                key, sep, value = item.decode(errors="replace").partition("=")
                if sep:
                    info.setdefault(key, value)
            return info
    return {}


def index(modules_dir: Path) -> dict[str, Path]:
    """Module name -> .ko file, for every module under ``lib/modules/<version>``."""
    found = {}
    for ko in modules_dir.rglob("*.ko"):
        found[_norm(ko.name[:-3])] = ko
    if not found:
        compressed = next(modules_dir.rglob("*.ko.*"), None)
        if compressed is not None:
            raise ValueError(f"compressed modules ({compressed.name}) are not supported")
    return found


def load_order(wanted: list[str], modules_dir: Path) -> list[Path]:
    """The .ko files to insmod, dependencies first. A wanted name that is
    built into the kernel (no .ko) is skipped; a missing dependency is an error."""
    known = index(modules_dir)
    order: list[Path] = []
    seen: set[str] = set()

    def visit(name: str, needed_by: str | None) -> None:
        name = _norm(name)
        if name in seen:
            return
        seen.add(name)
        ko = known.get(name)
        if ko is None:
            if needed_by is not None:
                raise ValueError(f"module {name}, needed by {needed_by}, not found in {modules_dir}")
            return  # built in
        for dep in filter(None, modinfo(ko.read_bytes()).get("depends", "").split(",")):
            visit(dep, name)
        order.append(ko)

    for name in wanted:
        visit(name, None)
    return order
