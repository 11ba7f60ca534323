"""RFC 6242 message framing: end-of-message (base:1.0, hellos) and chunked (base:1.1).

Bytes go in with :meth:`FrameDecoder.feed`; whole messages come out of
:meth:`FrameDecoder.next_message`, one at a time, so the caller can switch the
framing mode exactly at the message boundary after the hello exchange.
"""

from __future__ import annotations

import enum
import re

from ..settings import MAX_MESSAGE_SIZE

EOM = b"]]>]]>"
#: RFC 6242 4.2: chunk-size is 1..4294967295, so at most ten digits.
_MAX_CHUNK_SIZE = 4294967295
_MAX_CHUNK_DIGITS = 10
#: a chunk header whose size needs no further checks (the usual one)
_PLAIN_HEADER = re.compile(rb"\n#([1-9][0-9]{0,9})\n")


class FramingError(Exception):
    """The peer broke the framing. A chunked stream cannot be resynchronised,
    so the only recovery is to close the session."""


class Mode(enum.Enum):
    EOM = "end-of-message"
    CHUNKED = "chunked"


class _Chunk(enum.Enum):
    #: expecting LF '#' then either a size or a second '#'
    HEADER = 1
    #: inside chunk data, ``_remaining`` bytes to go
    DATA = 2


# the members as module names: an Enum class's attribute costs ~0.1 us, a
# global's far less, and the decoder looks at them several times per message
_EOM, _HEADER, _DATA = Mode.EOM, _Chunk.HEADER, _Chunk.DATA


class FrameDecoder:
    """Incremental decoder; accepts input split anywhere.

    ``max_message_size`` bounds the memory one message may take: past it the
    decoder raises :class:`FramingError` instead of buffering further.
    """

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self.mode = Mode.EOM
        self.max_message_size = max_message_size
        self._buf = bytearray()
        self._pos = 0  # start of unconsumed input in _buf
        self._scan = 0  # EOM: where the next delimiter search may start
        self._msg = bytearray()  # chunked: message assembled so far
        self._state = _Chunk.HEADER
        self._remaining = 0

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes held for incomplete messages (for flow control)."""
        return len(self._buf) - self._pos + len(self._msg)

    def next_message(self) -> bytes | None:
        """Return the next complete message, or None if more input is needed."""
        if self._pos == len(self._buf):
            return None  # nothing unread (_compact emptied the buffer)
        if self.mode is _EOM:
            msg = self._next_eom()
        else:
            msg = self._next_chunked()
        self._compact()
        return msg

    def _compact(self) -> None:
        if self._pos > 65536 or self._pos == len(self._buf):
            del self._buf[: self._pos]
            self._scan = max(0, self._scan - self._pos)
            self._pos = 0

    def _next_eom(self) -> bytes | None:
        start = max(self._pos, self._scan)
        end = self._buf.find(EOM, start)
        if end < 0:
            pending = len(self._buf) - self._pos
            if pending > self.max_message_size + len(EOM):
                raise FramingError(
                    f"message exceeds {self.max_message_size} bytes without ]]>]]>"
                )
            # The delimiter may straddle the next feed.
            self._scan = max(self._pos, len(self._buf) - len(EOM) + 1)
            return None
        if end - self._pos > self.max_message_size:
            raise FramingError(f"message exceeds {self.max_message_size} bytes")
        msg = bytes(self._buf[self._pos : end])
        self._pos = end + len(EOM)
        self._scan = self._pos
        return msg

    def _next_chunked(self) -> bytes | None:
        buf = self._buf
        if self._state is _HEADER and not self._msg:
            # a message in one chunk, all of it here (what managers send):
            # one copy of it; anything else takes the general path below
            pos = self._pos
            m = _PLAIN_HEADER.match(buf, pos)
            if m is not None:
                start = m.end()
                end = start + int(m[1])
                if end - start <= self.max_message_size and buf[end : end + 4] == b"\n##\n":
                    self._pos = end + 4
                    return bytes(memoryview(buf)[start:end])
        while True:
            if self._state is _DATA:
                available = len(buf) - self._pos
                if available == 0:
                    return None
                take = min(available, self._remaining)
                self._msg += buf[self._pos : self._pos + take]
                self._pos += take
                self._remaining -= take
                if self._remaining:
                    return None
                self._state = _HEADER
                continue
            # HEADER: LF '#' ( '#' LF | 1*DIGIT LF )
            avail = len(buf) - self._pos
            if avail == 0:
                return None
            if avail < 3:
                self._check_header_prefix()
                return None
            if buf[self._pos] != 0x0A or buf[self._pos + 1] != 0x23:
                raise FramingError("bad chunk header: expected LF '#'")
            if buf[self._pos + 2] == 0x23:  # end-of-chunks
                if avail < 4:
                    return None
                if buf[self._pos + 3] != 0x0A:
                    raise FramingError("bad end-of-chunks marker")
                self._pos += 4
                if not self._msg:
                    raise FramingError("end-of-chunks before any chunk")
                msg = bytes(self._msg)
                self._msg.clear()
                return msg
            lf = buf.find(b"\n", self._pos + 2, self._pos + 3 + _MAX_CHUNK_DIGITS)
            if lf < 0:
                if avail >= 3 + _MAX_CHUNK_DIGITS:
                    raise FramingError("chunk size too long")
                self._check_header_prefix()
                return None
            digits = bytes(buf[self._pos + 2 : lf])
            size = _parse_chunk_size(digits)
            if len(self._msg) + size > self.max_message_size:
                raise FramingError(f"message exceeds {self.max_message_size} bytes")
            self._pos = lf + 1
            self._remaining = size
            self._state = _DATA

    def _check_header_prefix(self) -> None:
        """Reject a bad header as soon as its first bytes show it, rather
        than waiting for more input that may never come."""
        head = bytes(self._buf[self._pos :])
        expected = b"\n#"
        if head[:2] != expected[: len(head[:2])]:
            raise FramingError("bad chunk header: expected LF '#'")
        rest = head[2:]
        if rest and rest[:1] != b"#" and not rest.isdigit():
            raise FramingError("bad chunk size")
        if rest[:1] == b"0":
            raise FramingError("chunk size with a leading zero")


def _parse_chunk_size(digits: bytes) -> int:
    if not digits or not digits.isdigit():
        raise FramingError(f"bad chunk size {digits[:16]!r}")
    if digits[0:1] == b"0":
        raise FramingError("chunk size with a leading zero")
    size = int(digits)
    if size > _MAX_CHUNK_SIZE:
        raise FramingError("chunk size above 4294967295")
    return size


def encode(message: bytes, mode: Mode) -> bytes:
    if mode is _EOM:
        return message + EOM
    if not message:
        raise ValueError("a chunked message needs at least one byte")
    return b"\n#%d\n%s\n##\n" % (len(message), message)
