"""The stored configuration: the only code that writes it.

Format 2 (``startup.cbor``)::

    offset  size  field
    0       4     magic "DPUc"
    4       1     format version (2)
    5       8     digest of the SID set the payload uses (SidMap.digest)
    13      4     payload length, unsigned big-endian
    17      n     payload: SID-keyed YANG-CBOR (RFC 9254), names where no SID
    17+n    4     CRC-32 of everything before it, unsigned big-endian

Format 1, written before SIDs, is a bare CBOR map ``{"dpu-agent-config": 1,
"encoding": "yang-cbor;id=name", "data": ...}``; it is still read, and the
next commit writes format 2.

Two slots: ``startup.cbor`` holds the current configuration (the startup
datastore) and ``startup.prev.cbor`` the previous good one. If the current one cannot be
used, :meth:`StartupStore.load` falls back to the previous one and says why.
Beside them, ``factory.cbor`` (same format, read-only, written by factory
provisioning and never by the agent) is the configuration of last resort:
:meth:`StartupStore.load_factory`.

Every write is atomic: a temporary file in the same directory, fsync,
rename, fsync of the directory. A save writes the new configuration to its
temporary file first, then replaces the previous slot with the current
good configuration, then the current slot with the new one, so a power cut
at any instant leaves the current slot holding the old or the new
configuration, whole, and the previous slot a good one. Files are created
0600: the configuration may hold key material.

Agents before issue 17 named the slots ``running.cbor`` and
``running.prev.cbor`` (same format 2, or 1). :meth:`StartupStore.migrate`,
run by the agent at start-up and by provisioning, copies them to the new
names and leaves them in place: a firmware update that falls back to the
older image (A/B slots) finds the configuration it knew. Until the copy the
store reads them under their old names (``show config`` of an old image).
"""

from __future__ import annotations

import json
import logging
import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

import cbor2

from ..yang import Schema, Tree
from . import yangcbor
from .sids import SidMap

log = logging.getLogger(__name__)

FILENAME = "startup.cbor"
PREVIOUS = "startup.prev.cbor"
FACTORY = "factory.cbor"
#: slot -> its name before issue 17, when the startup datastore was stored as "running"
LEGACY_NAMES = {FILENAME: "running.cbor", PREVIOUS: "running.prev.cbor"}
#: what the last migration copied from the old names (their CRC-32s): an old
#: slot that differs was written since, by an older image the board fell back to
MIGRATED = "startup.migrated"

MAGIC = b"DPUc"
VERSION = 2
_HEADER = struct.Struct(">4sB8sI")
_CRC = struct.Struct(">I")

V1_KEY = "dpu-agent-config"
V1_FIRST_BYTE = b"\xa3"  # a CBOR map of three entries


class StoreError(Exception):
    """A stored file exists but cannot be used; the message names it and why."""


class Loaded(NamedTuple):
    tree: Tree
    #: "current" or "previous" (the slot it came from)
    source: str
    #: format version of the file it came from
    format: int
    #: why the current slot was not used, when source is "previous"
    problem: str | None = None
    #: why the previous slot is unusable, when source is "current" and it is
    previous_problem: str | None = None


class Staged(NamedTuple):
    """A configuration written beside the current slot, not yet in it."""

    tmp: Path
    data: bytes


def write_synced(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Create (or truncate) ``path`` with ``data`` and fsync it; on error
    nothing is left behind."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(path, mode)  # the umask may have narrowed O_CREAT's mode; never widen beyond it
    except BaseException:
        _unlink_quietly(path)
        raise


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data``: after a power cut it holds the old
    content or the new, whole."""
    tmp = path.with_name(f".{path.name}.tmp")
    write_synced(tmp, data, mode)
    try:
        os.rename(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    sync_dir(path.parent)


def sync_dir(path: Path) -> None:
    dfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def pack(payload: bytes, sid_digest: bytes) -> bytes:
    head = _HEADER.pack(MAGIC, VERSION, sid_digest, len(payload)) + payload
    return head + _CRC.pack(zlib.crc32(head))


def unpack(raw: bytes, name: Path | str) -> tuple[bytes, bytes]:
    """SID-set digest and payload of a format-2 file; StoreError naming ``name`` if it is damaged."""
    if raw[: len(MAGIC)] != MAGIC[: len(raw)]:
        raise StoreError(f"{name}: not a dpu-agent configuration file")
    if len(raw) < _HEADER.size + _CRC.size:
        raise StoreError(f"{name}: truncated ({len(raw)} bytes, shorter than a header and checksum)")
    _, version, digest, length = _HEADER.unpack_from(raw)
    end = _HEADER.size + length
    intact = len(raw) == end + _CRC.size and _CRC.unpack_from(raw, end)[0] == zlib.crc32(raw[:end])
    if version != VERSION:
        maybe = "" if intact else " (or the file is corrupt)"
        raise StoreError(f"{name}: format version {version}; this agent reads versions 1 and {VERSION}{maybe}")
    if len(raw) < end + _CRC.size:
        raise StoreError(f"{name}: truncated ({len(raw)} bytes, the header announces {end + _CRC.size})")
    if len(raw) > end + _CRC.size:
        raise StoreError(f"{name}: {len(raw) - end - _CRC.size} bytes of garbage after the checksum")
    if not intact:
        (stored,) = _CRC.unpack_from(raw, end)
        raise StoreError(f"{name}: corrupt (CRC-32 {zlib.crc32(raw[:end]):08x}, stored {stored:08x})")
    return digest, raw[_HEADER.size : end]


def format_of(raw: bytes) -> int:
    return 1 if raw[:1] == V1_FIRST_BYTE else VERSION


class StartupStore:
    """The startup datastore's files in the state directory (the stored
    configuration, CBOR): not to be confused with the initial configuration
    file given with --config (:mod:`agent.initial_config`)."""

    def __init__(self, state_dir: Path, schema: Schema, sids: SidMap | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / FILENAME
        self.previous_path = self.state_dir / PREVIOUS
        if self._legacy_only():
            # not migrated yet: read the slots where an older agent wrote them
            self.path = self.state_dir / LEGACY_NAMES[FILENAME]
            self.previous_path = self.state_dir / LEGACY_NAMES[PREVIOUS]
        self.factory_path = self.state_dir / FACTORY
        self.schema = schema
        self.sids = sids if sids is not None else SidMap(schema)
        #: bytes of the last configuration known good (loaded or saved), which
        #: the next save puts in the previous slot; None: nothing known good
        self._good: bytes | None = None
        #: what the previous slot holds, as far as this object knows
        self._previous: bytes | None = None

    def _legacy_only(self) -> bool:
        """Slots under their old names only (a state dir no agent since issue 17 has started on)."""
        d = self.state_dir
        return not any((d / n).exists() for n in LEGACY_NAMES) and any((d / n).exists() for n in LEGACY_NAMES.values())

    def migrate(self) -> list[str]:
        """Copy slots an older agent wrote under the old names
        (``running*.cbor``) to the new ones; what was copied. The old files
        stay for an older image that the board may fall back to. A copy is
        made when the new slot is missing, or when the old one changed since
        the last copy (that older image ran after the update and its edits
        are the newest). Each copy is atomic and synced, and the record of
        what was copied is written last, so a power cut repeats the copy
        at the next start, never loses a slot."""
        copied = self._copied()
        done = []
        record = {}
        for new, old in LEGACY_NAMES.items():
            old_path, new_path = self.state_dir / old, self.state_dir / new
            try:
                data = old_path.read_bytes()
            except FileNotFoundError:
                continue
            crc = zlib.crc32(data)
            record[old] = crc
            if new_path.exists() and copied.get(old) == crc:
                continue
            if new_path.exists() and old not in copied:
                # a state dir this agent's kind already wrote before the record existed: its slot wins
                continue
            again = new_path.exists()
            write_atomic(new_path, data)
            done.append(f"{old_path} copied to {new}" + (" (an older image wrote it since the last copy)" if again else ""))
        if record and record != copied:
            write_atomic(self.state_dir / MIGRATED, json.dumps(record, sort_keys=True).encode())
        self.path = self.state_dir / FILENAME
        self.previous_path = self.state_dir / PREVIOUS
        return done

    def _copied(self) -> dict[str, int]:
        try:
            record = json.loads((self.state_dir / MIGRATED).read_bytes())
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in record.items() if isinstance(k, str) and isinstance(v, int)} if isinstance(record, dict) else {}

    def encode(self, tree: Tree) -> bytes:
        payload = cbor2.dumps(yangcbor.encode_tree(tree, self.sids))
        return pack(payload, self.sids.digest)

    def holds(self, tree: Tree) -> bool:
        """Whether the current slot already holds exactly ``tree`` (a save would change nothing)."""
        return self._read(self.path) == self.encode(tree)

    def save(self, tree: Tree) -> None:
        """Store ``tree`` as the current configuration and the current one as
        the previous. An OSError before the new file is renamed into place
        leaves the current slot as it was (and raises); one after it is only logged."""
        self.install(self.stage(tree))

    def stage(self, tree: Tree) -> Staged:
        """The first half of :meth:`save`, for a caller that replaces other
        files with it (provisioning): the new file written and synced beside
        the current one, nothing replaced yet. Then :meth:`install` or :meth:`discard`."""
        data = self.encode(tree)
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.state_dir / f".{FILENAME}.tmp"
        write_synced(tmp, data)  # complete and durable before anything is replaced
        return Staged(tmp, data)

    def discard(self, staged: Staged) -> None:
        _unlink_quietly(staged.tmp)

    def install(self, staged: Staged) -> None:
        """The second half of :meth:`save`."""
        try:
            if self._good is not None and self._good != self._previous:
                write_atomic(self.previous_path, self._good)  # durable before the current slot changes
                self._previous = self._good
            os.rename(staged.tmp, self.path)  # the commit point
        except BaseException:
            _unlink_quietly(staged.tmp)
            raise
        self._good = staged.data
        try:
            sync_dir(self.state_dir)
        except OSError as exc:
            # The new file is in place; only its durability is in doubt, as
            # if the power failed now: the old or the new one comes back.
            log.error("%s: stored, but the directory sync failed (%s)", self.path, exc)

    def load(self) -> Loaded | None:
        """The stored configuration, validated, from the current slot or else
        the previous one; None if nothing is stored. StoreError if something
        is stored but neither slot can be used."""
        current = self._read(self.path)
        if current is not None:
            try:
                tree = self.decode(current, self.path)
            except StoreError as exc:
                problem = str(exc)
            else:
                self._good = current
                self._previous = self._read(self.previous_path)
                return Loaded(tree, "current", format_of(current), previous_problem=self._check_previous())
        else:
            problem = f"{self.path}: missing"
        previous = self._read(self.previous_path)
        if previous is None:
            if current is None:
                return None
            raise StoreError(f"{problem}; no previous configuration to fall back to")
        try:
            tree = self.decode(previous, self.previous_path)
        except StoreError as exc:
            raise StoreError(f"no usable stored configuration: {problem}; {exc}") from None
        log.error("stored configuration unusable (%s): loaded the previous one", problem)
        self._good = self._previous = previous
        return Loaded(tree, "previous", format_of(previous), problem)

    def _check_previous(self) -> str | None:
        """Why the previous slot, the current one's fallback, is unusable (None: it is fine or absent)."""
        if self._previous is None or self._previous == self._good:
            return None
        try:
            self.decode(self._previous, self.previous_path).free()
        except StoreError as exc:
            log.error("%s; the next save replaces it with the current configuration", exc)
            return str(exc)
        return None

    def load_factory(self) -> Tree | None:
        """The factory configuration, validated; None if there is none,
        StoreError if it is unusable."""
        raw = self._read(self.factory_path)
        return None if raw is None else self.decode(raw, self.factory_path)

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def decode(self, raw: bytes, name: Path | str) -> Tree:
        """Decode and validate the content of a stored file; StoreError naming ``name``."""
        if format_of(raw) == 1:
            return self._decode_v1(raw, name)
        digest, payload = unpack(raw, name)
        try:
            item = cbor2.loads(payload)
        except Exception as exc:  # cbor2 raises several types for garbage
            raise StoreError(f"{name}: payload is not CBOR ({exc})") from None
        try:
            return self._to_tree(item, name)
        except StoreError as exc:
            if digest != self.sids.digest:
                raise StoreError(f"{exc} (written with SID set {digest.hex()}, "
                                 f"this agent has {self.sids.digest.hex()})") from None
            raise

    def _decode_v1(self, raw: bytes, name: Path | str) -> Tree:
        try:
            envelope = cbor2.loads(raw)
        except Exception as exc:
            raise StoreError(f"{name}: not a dpu-agent configuration file ({exc})") from None
        if not isinstance(envelope, dict) or envelope.get(V1_KEY) != 1:
            raise StoreError(f"{name}: not a dpu-agent configuration file")
        tree = self._to_tree(envelope.get("data", {}), name)
        log.info("%s: format 1 (name-keyed); the next commit rewrites it in format %d", name, VERSION)
        return tree

    def _to_tree(self, item: object, name: Path | str) -> Tree:
        try:
            return yangcbor.to_tree(self.schema, item, self.sids)
        except yangcbor.CodecError as exc:
            raise StoreError(f"{name}: {exc}") from None
        except Exception as exc:
            raise StoreError(f"{name}: stored configuration does not validate: {exc}") from None


#: the former name, kept while branches written against it merge (issue 17)
ConfigFile = StartupStore
