"""A writer for the Linux initramfs format (cpio "newc", see the kernel's
Documentation/driver-api/early-userspace/buffer-format.rst).

The board's initramfs is built without root and without a cpio binary:
device nodes are plain archive entries, so no mknod is needed.
"""

from __future__ import annotations

import gzip
import stat
from dataclasses import dataclass, field
from pathlib import PurePosixPath

MAGIC = b"070701"
TRAILER = "TRAILER!!!"


@dataclass
class _Entry:
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


@dataclass
class Archive:
    """Files, directories, symlinks and device nodes, written in path order
    (a directory always precedes its contents)."""

    entries: dict[str, _Entry] = field(default_factory=dict)

    def _parents(self, path: str) -> None:
        for parent in reversed(PurePosixPath(path).parents):
            name = str(parent)
            if name not in (".", "/") and name not in self.entries:
                self.entries[name] = _Entry(stat.S_IFDIR | 0o755)

    def _add(self, path: str, entry: _Entry) -> None:
        path = path.lstrip("/")
        if not path:
            raise ValueError("empty path")
        self._parents(path)
        self.entries[path] = entry

    def dir(self, path: str, mode: int = 0o755) -> None:
        self._add(path, _Entry(stat.S_IFDIR | mode))

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._add(path, _Entry(stat.S_IFREG | mode, data))

    def symlink(self, path: str, target: str) -> None:
        self._add(path, _Entry(stat.S_IFLNK | 0o777, target.encode()))

    def chardev(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._add(path, _Entry(stat.S_IFCHR | mode, rdev=(major, minor)))

    def to_bytes(self) -> bytes:
        out = bytearray()
        names = sorted(self.entries, key=lambda p: PurePosixPath(p).parts)
        for ino, name in enumerate(names, start=1):
            e = self.entries[name]
            nlink = 2 if stat.S_ISDIR(e.mode) else 1
            _write(out, name, ino, e.mode, nlink, e.data, e.rdev)
        _write(out, TRAILER, 0, 0, 1, b"", (0, 0))
        return bytes(out)

    def write_gz(self, path) -> None:
        # mtime=0: the same inputs give the same bytes
        with open(path, "wb") as f:
            f.write(gzip.compress(self.to_bytes(), compresslevel=6, mtime=0))


def _pad4(out: bytearray) -> None:
    out += b"\0" * (-len(out) % 4)


def _write(out: bytearray, name: str, ino: int, mode: int, nlink: int, data: bytes, rdev: tuple[int, int]) -> None:
    encoded = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
    out += MAGIC + b"".join(b"%08X" % v for v in fields)
    out += encoded
    _pad4(out)
    out += data
    _pad4(out)
