"""The stored configuration file: the only code that writes it.

Atomic replacement: write a temporary file in the same directory, fsync it,
rename it over the old one, fsync the directory. A power cut at any instant
leaves either the old file or the new one. Files are created 0600: the
configuration may hold key material.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cbor2

from ..yang import Schema, Tree
from . import yangcbor

log = logging.getLogger(__name__)

FILENAME = "running.cbor"
#: envelope version 1: {"dpu-agent-config": 1, "encoding": "yang-cbor;id=name", "data": <YANG-CBOR>}
ENVELOPE_KEY = "dpu-agent-config"
ENVELOPE_VERSION = 1


class StoreError(Exception):
    """The stored file exists but cannot be used; the message names it and why."""


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)  # the umask may have narrowed O_CREAT's mode; never widen beyond it
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


class ConfigFile:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / FILENAME

    def exists(self) -> bool:
        return self.path.exists()

    def encode(self, tree: Tree) -> bytes:
        return cbor2.dumps(
            {ENVELOPE_KEY: ENVELOPE_VERSION, "encoding": "yang-cbor;id=name", "data": yangcbor.encode_tree(tree)}
        )

    def save(self, tree: Tree) -> None:
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(self.path, self.encode(tree))

    def load(self, schema: Schema) -> Tree | None:
        """The stored configuration, validated; None if there is none yet."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return self.decode(schema, raw)

    def decode(self, schema: Schema, raw: bytes) -> Tree:
        try:
            envelope = cbor2.loads(raw)
        except Exception as exc:  # cbor2 raises several types for garbage
            raise StoreError(f"{self.path}: not a CBOR file ({exc})") from None
        if not isinstance(envelope, dict) or envelope.get(ENVELOPE_KEY) != ENVELOPE_VERSION:
            raise StoreError(f"{self.path}: not a dpu-agent configuration (version 1) file")
        try:
            return yangcbor.to_tree(schema, envelope.get("data", {}))
        except yangcbor.CodecError as exc:
            raise StoreError(f"{self.path}: {exc}") from None
        except Exception as exc:
            raise StoreError(f"{self.path}: stored configuration does not validate: {exc}") from None
