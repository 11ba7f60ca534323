"""Several files replaced together: all of them, or none.

Every new file is first written and synced beside its target (``.NAME.new``);
only when all are on disk are they renamed into place, the old ones kept as
hard links (``.NAME.old``) until the last step has succeeded. A failure at
any point puts back what was there. A file whose bytes and mode are already
right is not written at all, so a run that changes nothing writes nothing.

The last step is the configuration (``startup.cbor``), written through
:class:`agent.datastore.persist.StartupStore` in its two halves: it is staged
with the other files and installed after them, so the agent never sees a
configuration whose keys are not there yet.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..datastore.persist import Staged, StartupStore, sync_dir, write_synced
from ..yang import Tree


@dataclass(frozen=True)
class _File:
    path: Path
    data: bytes
    mode: int
    existed: bool

    @property
    def new(self) -> Path:
        return self.path.with_name(f".{self.path.name}.new")

    @property
    def old(self) -> Path:
        return self.path.with_name(f".{self.path.name}.old")


class ConfigStep:
    """The configuration, staged and installed through StartupStore."""

    def __init__(self, config_file: StartupStore, tree: Tree) -> None:
        self.config_file = config_file
        self.tree = tree
        self._staged: Staged | None = None

    @property
    def paths(self) -> list[Path]:
        return [self.config_file.path]

    def stage(self) -> None:
        self._staged = self.config_file.stage(self.tree)

    def install(self) -> None:
        assert self._staged is not None  # stage() comes first
        self.config_file.install(self._staged)

    def discard(self) -> None:
        if self._staged is not None:
            self.config_file.discard(self._staged)


class Staging:
    def __init__(self, directories: list[Path]) -> None:
        #: created 0700 when missing, in this order (parents first)
        self.directories = directories
        self._files: list[_File] = []
        self.last: ConfigStep | None = None

    def put(self, path: Path, data: bytes, mode: int) -> None:
        """``path`` is to hold ``data`` with ``mode``; nothing happens if it does already."""
        try:
            st = path.stat()
        except FileNotFoundError:
            self._files.append(_File(path, data, mode, False))
            return
        if stat.S_IMODE(st.st_mode) != mode or path.read_bytes() != data:
            self._files.append(_File(path, data, mode, True))

    @property
    def paths(self) -> list[Path]:
        """What a commit writes."""
        return [f.path for f in self._files] + (self.last.paths if self.last else [])

    def commit(self) -> None:
        created: list[Path] = []
        written: list[_File] = []
        installed: list[_File] = []
        try:
            if not self.paths:
                return
            for d in self.directories:
                if not d.exists():
                    d.mkdir(mode=0o700, parents=True)
                    os.chmod(d, 0o700)  # mkdir's mode is narrowed by the umask, and only narrowed
                    created.append(d)
            for f in self._files:
                write_synced(f.new, f.data, f.mode)
                written.append(f)
            if self.last is not None:
                self.last.stage()
            for f in self._files:
                if f.existed:
                    _unlink_quietly(f.old)  # left by a run that was cut off
                    os.link(f.path, f.old)
                os.rename(f.new, f.path)
                installed.append(f)
            for d in {f.path.parent for f in self._files}:
                sync_dir(d)
            if self.last is not None:
                self.last.install()
        except BaseException:
            for f in reversed(installed):
                if f.existed:
                    os.rename(f.old, f.path)
                else:
                    _unlink_quietly(f.path)
            for f in written:
                _unlink_quietly(f.new)
            if self.last is not None:
                self.last.discard()
            for d in reversed(created):
                try:
                    d.rmdir()
                except OSError:
                    pass
            raise
        finally:
            for f in self._files:
                if f.existed:
                    _unlink_quietly(f.old)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
