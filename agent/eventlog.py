"""The replay log of the NETCONF stream (RFC 5277 3.2), kept across
reconnects and restarts in ``STATE_DIR/notifications.log``.

A DPU is often disconnected; what happened meanwhile (link changes, reboots,
call-home failures) is what the operator asks for on the next call home.

Bounded: the newest :data:`MAX_EVENTS` events and at most :data:`MAX_BYTES`
of notification text are kept; older ones age out (replayLogAgedTime).

Written without wearing flash: events are held in RAM and appended to the
file in batches (one write and one fsync per batch), when
:data:`BATCH_EVENTS` new ones have gathered, :data:`BATCH_SECONDS` after the
first unwritten one (one timer, armed only while events wait: no poll), and
on an orderly stop. The file is rewritten whole only when it holds twice the
bound, so a flash page is written about once per batch. A power cut loses at
most the last unwritten batch; a torn last line is skipped on load. The
writes run off the event loop.

File format: JSON lines. The first is ``{"created": <date-and-time>,
"aged": <date-and-time or null>}``; each other is ``[epoch seconds,
eventTime, module, notification name, XML body]``.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import json
import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from .datastore.persist import write_atomic

#: a str as json.dumps writes it (ensure_ascii, its default)
_quote: Callable[[str], str] = json.encoder.encode_basestring_ascii

log = logging.getLogger(__name__)

FILENAME = "notifications.log"
MAX_EVENTS = 1000
MAX_BYTES = 512 * 1024
BATCH_EVENTS = 32
BATCH_SECONDS = 600.0


def date_and_time(epoch: float) -> str:
    t = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Event(NamedTuple):
    time: float  # epoch seconds
    event_time: str  # as sent in <eventTime>
    module: str
    name: str
    body: str  # the notification's top element, XML

    def line(self) -> str:
        t = self.time
        if type(t) is not float or not math.isfinite(t):
            return json.dumps([t, self.event_time, self.module, self.name, self.body]) + "\n"
        # what json.dumps writes for this list, character for character,
        # without setting up an encoder each time (two thirds of its cost;
        # every event is written twice: appended, and when the file is rewritten)
        return f"[{t!r}, {_quote(self.event_time)}, {_quote(self.module)}, {_quote(self.name)}, {_quote(self.body)}]\n"


class EventLog:
    def __init__(self, path: Path | None, *, max_events: int = MAX_EVENTS, max_bytes: int = MAX_BYTES,
                 batch_events: int = BATCH_EVENTS, batch_seconds: float = BATCH_SECONDS) -> None:
        self.path = path
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.batch_events = batch_events
        self.batch_seconds = batch_seconds
        self.events: collections.deque[Event] = collections.deque()
        self._bytes = 0
        self.created: str = date_and_time(datetime.datetime.now(datetime.UTC).timestamp())
        #: eventTime of the newest event aged out, if any (replayLogAgedTime)
        self.aged: str | None = None
        #: events not yet in the file
        self._unwritten: list[Event] = []
        #: event lines in the file (rewritten whole at twice the bound)
        self._file_lines = 0
        self._timer: asyncio.TimerHandle | None = None
        self._writing: asyncio.Future[None] | None = None
        self.writes = 0
        self.load()

    # -- memory --

    def append(self, event: Event) -> None:
        self.events.append(event)
        self._bytes += len(event.body)
        self._age()
        if self.path is None:
            return
        self._unwritten.append(event)
        if len(self._unwritten) >= self.batch_events:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop (tests, tools): written by the next flush()
            self._timer = loop.call_later(self.batch_seconds, self.flush)

    def _age(self) -> None:
        while len(self.events) > self.max_events or (self._bytes > self.max_bytes and len(self.events) > 1):
            old = self.events.popleft()
            self._bytes -= len(old.body)
            self.aged = old.event_time

    def since(self, start: float, stop: float | None = None) -> list[Event]:
        """The logged events with ``start <= time`` (and ``time <= stop``), oldest first."""
        return [e for e in self.events if e.time >= start and (stop is None or e.time <= stop)]

    # -- the file --

    def load(self) -> None:
        if self.path is None:
            return
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            self._rewrite_now()  # the log's creation time survives restarts from now on
            return
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("replay log %s unreadable (%s): starting a new one", self.path, exc)
            self._rewrite_now()
            return
        try:
            header = json.loads(lines[0])
            self.created = str(header["created"])
            self.aged = header.get("aged")
        except (IndexError, ValueError, KeyError, TypeError):
            log.warning("replay log %s has no valid header: starting a new one", self.path)
            self._rewrite_now()
            return
        for n, line in enumerate(lines[1:], 2):
            try:
                t, et, module, name, body = json.loads(line)
                event = Event(float(t), str(et), str(module), str(name), str(body))
            except (ValueError, TypeError):
                # a power cut during an append tears the last line at most
                log.warning("replay log %s: line %d unreadable, skipped", self.path, n)
                continue
            self.events.append(event)
            self._bytes += len(event.body)
        self._file_lines = len(lines) - 1
        self._age()

    def flush(self) -> asyncio.Future[None] | None:
        """Write the unwritten events (off the loop when one runs). Returns
        what to await for them to be on storage."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.path is None or not self._unwritten:
            return self._writing
        batch, self._unwritten = self._unwritten, []
        if self._file_lines + len(batch) > 2 * self.max_events:
            snapshot = (self._header(), list(self.events))
            self._file_lines = len(self.events)
            job = lambda: self._rewrite(*snapshot)  # noqa: E731
        else:
            self._file_lines += len(batch)
            job = lambda: self._append(batch)  # noqa: E731
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._run(job)
            return None
        previous = self._writing

        async def write() -> None:
            if previous is not None:
                await asyncio.shield(previous)  # in order
            await asyncio.to_thread(self._run, job)

        self._writing = loop.create_task(write())
        return self._writing

    async def close(self) -> None:
        """Orderly stop: everything logged is on storage afterwards."""
        pending = self.flush()
        if pending is not None:
            await pending

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
            self.writes += 1
        except OSError as exc:
            # a full or failing disk costs the replay log, never the agent
            log.warning("replay log %s not written: %s", self.path, exc)

    def _header(self) -> str:
        return json.dumps({"created": self.created, "aged": self.aged}) + "\n"

    def _append(self, batch: list[Event]) -> None:
        assert self.path is not None  # flush() writes only to a file
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, "".join(e.line() for e in batch).encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def _rewrite(self, header: str, events: list[Event]) -> None:
        assert self.path is not None  # flush() writes only to a file
        write_atomic(self.path, (header + "".join(e.line() for e in events)).encode())

    def _rewrite_now(self) -> None:
        self._file_lines = len(self.events)
        self._run(lambda: self._rewrite(self._header(), list(self.events)))
