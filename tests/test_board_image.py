"""The board's build pieces that need no QEMU: the initramfs writer and the
kernel module ordering."""

from __future__ import annotations

import gzip
import stat
import struct

import pytest

from board import kmod, newc


def parse_newc(data: bytes) -> list[tuple[str, int, bytes, tuple[int, int]]]:
    """A reader written from the format description, independent of the writer."""
    out, pos = [], 0
    while True:
        assert data[pos : pos + 6] == b"070701", pos
        f = [int(data[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, rdev, namesize = f[1], f[6], (f[9], f[10]), f[11]
        name_start = pos + 110
        name = data[name_start : name_start + namesize - 1].decode()
        assert data[name_start + namesize - 1] == 0
        body = name_start + namesize + (-(110 + namesize) % 4)
        assert body % 4 == 0
        if name == "TRAILER!!!":
            assert data[body:].strip(b"\0") == b""
            return out
        out.append((name, mode, data[body : body + size], rdev))
        pos = body + size + (-size % 4)


def test_newc_archive_round_trip(tmp_path):
    a = newc.Archive()
    a.file("init", b"#!/bin/sh\n", 0o755)
    a.file("lib/modules/x.ko", b"\x7fELF" + b"y" * 13)
    a.symlink("bin/sh", "busybox")
    a.chardev("dev/console", 5, 1)
    a.dir("proc")
    a.write_gz(tmp_path / "initrd.gz")
    entries = parse_newc(gzip.decompress((tmp_path / "initrd.gz").read_bytes()))
    names = [e[0] for e in entries]
    # every directory precedes what it holds, and parents are created implicitly
    assert names == ["bin", "bin/sh", "dev", "dev/console", "init", "lib", "lib/modules", "lib/modules/x.ko", "proc"]
    by_name = {e[0]: e for e in entries}
    assert stat.S_ISREG(by_name["init"][1]) and stat.S_IMODE(by_name["init"][1]) == 0o755
    assert by_name["lib/modules/x.ko"][2] == b"\x7fELF" + b"y" * 13
    assert stat.S_ISLNK(by_name["bin/sh"][1]) and by_name["bin/sh"][2] == b"busybox"
    assert stat.S_ISCHR(by_name["dev/console"][1]) and by_name["dev/console"][3] == (5, 1)
    assert stat.S_ISDIR(by_name["lib"][1])
    # the same input gives the same bytes
    a.write_gz(tmp_path / "again.gz")
    assert (tmp_path / "again.gz").read_bytes() == (tmp_path / "initrd.gz").read_bytes()


def fake_module(modinfo: dict[str, str]) -> bytes:
    """A minimal little-endian ELF64 with a .modinfo section, as kmod reads it."""
    info = b"".join(f"{k}={v}".encode() + b"\0" for k, v in modinfo.items())
    shstrtab = b"\0.modinfo\0.shstrtab\0"
    body_off = 64
    info_off, strtab_off = body_off, body_off + len(info)
    shoff = strtab_off + len(shstrtab)
    shoff += -shoff % 8
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", header, 0x28, shoff)
    struct.pack_into("<HHH", header, 0x3A, 64, 3, 2)

    def sh(name, offset, size):
        return struct.pack("<IIQQQQIIQQ", name, 1, 0, 0, offset, size, 0, 0, 1, 0)

    blob = bytearray(header) + info + shstrtab
    blob += b"\0" * (shoff - len(blob))
    blob += b"\0" * 64 + sh(1, info_off, len(info)) + sh(10, strtab_off, len(shstrtab))
    return bytes(blob)


def test_modules_load_dependencies_first(tmp_path):
    mods = tmp_path / "lib" / "modules" / "6.1.0-test" / "kernel"
    (mods / "drivers").mkdir(parents=True)
    (mods / "fs").mkdir()
    (mods / "drivers" / "virtio_net.ko").write_bytes(fake_module({"depends": "net_failover,virtio", "name": "virtio_net"}))
    (mods / "drivers" / "net_failover.ko").write_bytes(fake_module({"depends": "failover"}))
    (mods / "drivers" / "failover.ko").write_bytes(fake_module({"depends": ""}))
    (mods / "drivers" / "virtio.ko").write_bytes(fake_module({}))
    (mods / "drivers" / "virtio-rng.ko").write_bytes(fake_module({"depends": "virtio"}))
    (mods / "fs" / "9p.ko").write_bytes(fake_module({"depends": "netfs"}))
    order = [p.name for p in kmod.load_order(["virtio_net", "virtio_rng", "builtin_thing"], mods.parent)]
    assert order == ["failover.ko", "net_failover.ko", "virtio.ko", "virtio_net.ko", "virtio-rng.ko"]
    with pytest.raises(ValueError, match="module netfs, needed by 9p, not found"):
        kmod.load_order(["9p"], mods.parent)
