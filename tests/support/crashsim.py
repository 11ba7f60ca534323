"""A stand-in for ``os`` in agent/datastore/persist.py that performs every
call for real and keeps a model of what a power cut would leave on disk.

The model is that of a journaling Linux filesystem (ext4, ubifs):

- file data reaches the disk only when the file is fsynced; unsynced data
  may survive in full, in part (a prefix), as zeros (allocated, never
  written) or not at all;
- directory operations (create, rename, unlink) reach the disk in order,
  all of them at the latest when the directory is fsynced: a power cut
  keeps some prefix of those done since.

A power cut before call N (``cut_before``) stops the writer there: that call
and every later one raise :class:`PowerCut` without touching anything, and
:meth:`SimulatedOs.after_power_cut` materialises one random outcome into a
new directory. A fault at call N (``fail_at``) makes that call raise an
OSError instead, and the writer carries on (cleans up) for real.
"""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

#: the errno a failing call raises
FAULTS = {"open": errno.ENOSPC, "write": errno.ENOSPC, "fsync": errno.EIO, "close": errno.EIO,
          "chmod": errno.EPERM, "rename": errno.EIO, "unlink": errno.EIO}


class PowerCut(BaseException):
    """The machine lost power: nothing after this happens."""


class SimulatedOs:
    def __init__(self, directory: Path, rng: random.Random, *, cut_before: int | None = None,
                 fail_at: int | None = None, short_writes: bool = False, honour_fsync: bool = True) -> None:
        self.directory = Path(directory)
        self.rng = rng
        self.cut_before = cut_before
        self.fail_at = fail_at
        self.short_writes = short_writes
        self.honour_fsync = honour_fsync
        #: calls made so far (numbered from 1), by name
        self.calls: list[str] = []
        self.dead = False
        self._inodes = 0
        self.data: dict[int, bytearray] = {}  # what the process sees
        self.durable: dict[int, bytes] = {}  # what is on the disk
        self.names: dict[str, int] = {}
        self.durable_names: dict[str, int] = {}
        self.pending: list[tuple] = []  # directory operations not yet durable
        self.fds: dict[int, int | None] = {}  # fd -> inode (None: the directory)
        for path in sorted(self.directory.iterdir()):
            if path.is_file():
                ino = self._new_inode(path.read_bytes())
                self.names[path.name] = self.durable_names[path.name] = ino

    def __getattr__(self, name):  # constants and anything the writer does not do to the disk
        return getattr(os, name)

    def _new_inode(self, content: bytes = b"") -> int:
        self._inodes += 1
        self.data[self._inodes] = bytearray(content)
        self.durable[self._inodes] = bytes(content)
        return self._inodes

    def _call(self, name: str) -> None:
        if self.dead:
            raise PowerCut()
        self.calls.append(name)
        n = len(self.calls)
        if n == self.cut_before:
            self.dead = True
            raise PowerCut()
        if n == self.fail_at:
            code = FAULTS[name]
            raise OSError(code, os.strerror(code))

    def _name(self, path) -> str:
        path = Path(path)
        assert path.parent == self.directory, f"{path}: outside the simulated directory"
        return path.name

    # -- the calls persist.py makes --

    def open(self, path, flags, mode=0o777, **kw):
        self._call("open")
        fd = os.open(path, flags, mode, **kw)
        if flags & os.O_DIRECTORY:
            self.fds[fd] = None
            return fd
        name = self._name(path)
        ino = self.names.get(name)
        if ino is None:
            ino = self.names[name] = self._new_inode()
            self.pending.append(("create", name, ino))
        if flags & os.O_TRUNC:
            self.data[ino] = bytearray()
        self.fds[fd] = ino
        return fd

    def write(self, fd, data):
        self._call("write")
        data = bytes(data)
        if self.short_writes and len(data) > 1:
            data = data[: self.rng.randint(1, len(data) - 1)]
        n = os.write(fd, data)
        self.data[self.fds[fd]] += data[:n]
        return n

    def fsync(self, fd):
        self._call("fsync")
        os.fsync(fd)
        if not self.honour_fsync:
            return
        ino = self.fds[fd]
        if ino is None:
            self.durable_names = dict(self.names)
            self.pending.clear()
        else:
            self.durable[ino] = bytes(self.data[ino])

    def close(self, fd):
        self._call("close")
        os.close(fd)
        del self.fds[fd]

    def chmod(self, path, mode, **kw):
        self._call("chmod")
        os.chmod(path, mode, **kw)

    def rename(self, src, dst, **kw):
        self._call("rename")
        os.rename(src, dst, **kw)
        s, d = self._name(src), self._name(dst)
        self.names[d] = self.names.pop(s)
        self.pending.append(("rename", s, d))

    def unlink(self, path, **kw):
        self._call("unlink")
        os.unlink(path, **kw)
        name = self._name(path)
        self.names.pop(name, None)
        self.pending.append(("unlink", name))

    # -- after a power cut --

    def after_power_cut(self, target: Path) -> None:
        """Write into ``target`` one random state the disk may be in after the cut."""
        names = dict(self.durable_names)
        for op in self.pending[: self.rng.randint(0, len(self.pending))]:
            if op[0] == "create":
                names[op[1]] = op[2]
            elif op[0] == "rename":
                if op[1] in names:
                    names[op[2]] = names.pop(op[1])
            else:
                names.pop(op[1], None)
        target.mkdir(parents=True, exist_ok=True)
        for name, ino in names.items():
            (target / name).write_bytes(self._surviving(ino))

    def _surviving(self, ino: int) -> bytes:
        durable, seen = self.durable[ino], bytes(self.data[ino])
        if durable == seen:
            return durable
        outcome = self.rng.choice(["none", "all", "prefix", "zeros"])
        if outcome == "none":
            return durable
        if outcome == "all":
            return seen
        if outcome == "prefix":
            return seen[: self.rng.randint(0, len(seen))]
        return bytes(len(seen))
