"""The one bridge between a byte transport (SSH channel, TLS stream) and the
sans-I/O NETCONF session, with RPCs run one at a time in arrival order.

Flow control both ways: reading pauses while too many RPCs wait, and the
worker waits while the transport says its send buffer is full, so a peer
that never reads cannot make the agent buffer without bound.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import Protocol

from .. import memory
from ..netconf.session import NEED_DATA, HelloReceived, MessageReceived, RpcReceived, RpcRejected, SessionClosed
from ..rpc import RpcContext, dispatch
from ..server import NetconfServer, ServerSession

log = logging.getLogger(__name__)

MAX_QUEUED_RPCS = 16


class Activity:
    """What the NETCONF sessions of one call-home connection did: the manager
    reads it for periodic connections (idle-timeout, graceful end)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last = clock()
        #: a session ended with <close-session>: the manager finished its work
        self.closed_by_manager = False
        #: why the transport connection was lost, when it was an error
        self.lost: BaseException | None = None

    def touch(self) -> None:
        self.last = self.clock()


class Channel(Protocol):
    """What a session bridge needs of an asyncio transport or asyncssh channel."""

    def write(self, data: bytes) -> None: ...
    def close(self) -> None: ...
    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...


class BridgeEnd:
    """The transport-facing end of a :class:`SessionBridge`: the callbacks
    that an asyncio protocol (TLS) and an asyncssh session (SSH) share, each
    passed on to the bridge once there is one (after authentication)."""

    bridge: SessionBridge | None = None

    def open_bridge(self, server: NetconfServer, channel: Channel, *, username: str, transport: str, peer: str,
                    activity: Activity | None) -> None:
        """Start the NETCONF session on ``channel`` (an asyncio transport or an
        asyncssh channel: both write, close and pause/resume reading)."""
        self.bridge = SessionBridge(
            server,
            username=username,
            transport=transport,
            peer=peer,
            write=channel.write,
            close=channel.close,
            pause_reading=channel.pause_reading,
            resume_reading=channel.resume_reading,
            activity=activity,
        )

    def data_received(self, data: bytes, datatype: int | None = None) -> None:  # datatype: asyncssh's extended data
        if self.bridge is not None:
            self.bridge.data_received(data)

    def eof_received(self) -> bool:
        if self.bridge is not None:
            self.bridge.eof_received()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.bridge is not None:
            self.bridge.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.bridge is not None:
            self.bridge.pause_writing()

    def resume_writing(self) -> None:
        if self.bridge is not None:
            self.bridge.resume_writing()


class SessionBridge:
    def __init__(
        self,
        server: NetconfServer,
        *,
        username: str,
        transport: str,
        peer: str,
        write: Callable[[bytes], None],
        close: Callable[[], None],
        pause_reading: Callable[[], None] | None = None,
        resume_reading: Callable[[], None] | None = None,
        activity: Activity | None = None,
    ) -> None:
        self.server = server
        self.activity = activity
        self._write = write
        self._close = close
        self._pause_reading = pause_reading
        self._resume_reading = resume_reading
        self._reading_paused = False
        self._queue: collections.deque[RpcReceived | RpcRejected | MessageReceived | SessionClosed] = collections.deque()
        #: what the worker awaits while it has nothing to do (a bare future:
        #: an asyncio.Event costs more in every RPC's wake-up)
        self._idle: asyncio.Future[None] | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._ended = False
        #: set once a <close-session> is answered: however the transport then
        #: goes (the manager may close it the moment it reads the reply,
        #: even before the agent does), the session ended by close-session
        self._closed_by_rpc = False
        #: bytes in and out since this session's last RPC ended
        self._traffic = 0
        self.session: ServerSession = server.open_session(username, transport, peer, self.abort, self.notify)
        self.done = asyncio.get_running_loop().create_future()
        self._flush()  # our <hello>
        loop = asyncio.get_running_loop()
        hello_timeout = server.limits.hello_timeout
        self._hello_timer = loop.call_later(hello_timeout, self._hello_timeout) if hello_timeout else None
        self._unread_notifications = 0
        self._task = loop.create_task(self._worker(), name=f"netconf-session-{self.session.id}")

    # -- transport callbacks --

    def data_received(self, data: bytes) -> None:
        if self._ended:
            return
        if self.activity is not None:
            self.activity.touch()
        self._traffic += len(data)
        self.session.nc.receive_data(data)
        self._pump()

    def eof_received(self) -> None:
        if not self._ended:
            self.session.nc.receive_data(b"")
            self._pump()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._end("transport closed" + (f": {exc}" if exc else ""), "dropped")

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()
        self._unread_notifications = 0

    # -- internals --

    def _pump(self) -> None:
        nc = self.session.nc
        while True:
            event = nc.next_event()
            if event is NEED_DATA:
                break
            if isinstance(event, HelloReceived):
                if self._hello_timer:
                    self._hello_timer.cancel()
                log.info("session %d: hello, %s", self.session.id, "base:1.1" if event.base.endswith("1.1") else "base:1.0")
            elif isinstance(event, (RpcReceived, RpcRejected, MessageReceived)):
                self._queue.append(event)
                self._wake()
                if len(self._queue) >= MAX_QUEUED_RPCS and self._pause_reading and not self._reading_paused:
                    self._reading_paused = True
                    self._pause_reading()
            elif isinstance(event, SessionClosed):
                if event.error:
                    log.warning("session %d: %s; closing it", self.session.id, event.reason)
                # Let queued RPCs finish and their replies go out, then close.
                self._queue.append(event)
                self._wake()
                break

    def _wake(self) -> None:
        idle, self._idle = self._idle, None
        if idle is not None and not idle.done():
            idle.set_result(None)

    def _hello_timeout(self) -> None:
        log.warning("session %d: no <hello> in time; closing it", self.session.id)
        self.abort("no hello in time", "timeout")

    async def _worker(self) -> None:
        try:
            while not self._ended:
                if not self._queue:
                    self._idle = asyncio.get_running_loop().create_future()
                    await self._idle
                    continue
                item = self._queue.popleft()
                if self._reading_paused and len(self._queue) < MAX_QUEUED_RPCS // 2:
                    self._reading_paused = False
                    if self._resume_reading:
                        self._resume_reading()
                if isinstance(item, SessionClosed):
                    if not item.error:
                        termination = "dropped"
                    else:
                        termination = "bad-hello" if self.session.nc.base is None else "other"
                    self.abort(item.reason, termination)
                    return
                large = isinstance(item, MessageReceived)
                if isinstance(item, MessageReceived):
                    # a large message is parsed in a worker thread: the GIL
                    # is handed back to the event loop every few milliseconds,
                    # so other sessions and the watchdog kicker go on meanwhile
                    item = await asyncio.to_thread(self.session.nc.parse_rpc, item)
                    if self._ended:
                        return
                if isinstance(item, RpcRejected):
                    self.session.in_bad_rpcs += 1
                    self.session.nc.send_error(item, item.errors)
                    self._flush()
                    self._settle()
                    continue
                ctx = RpcContext(self.server, self.session, large=large)
                await dispatch(ctx, item)
                closed_by_manager = item.operation.name == "close-session"
                # the parsed message must not stay referenced while the session idles
                del item
                if ctx.close_after_reply:
                    self._closed_by_rpc = True
                    if self.activity is not None and closed_by_manager:
                        self.activity.closed_by_manager = True
                await self._writable.wait()
                self._flush()
                self._settle()
                if self.activity is not None:
                    self.activity.touch()
                if ctx.close_after_reply:
                    self.session.nc.close()
                    self.abort("close-session", "closed")
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("session %d: worker failed", self.session.id)
            self.abort("internal error", "other")

    def _settle(self) -> None:
        """Give back what the last RPC's work freed (bytes of this session
        since its previous RPC: roughly what the work cost)."""
        traffic, self._traffic = self._traffic, 0
        memory.settle(traffic)

    def _flush(self) -> None:
        data = self.session.nc.data_to_send()
        self._traffic += len(data)
        if data and not self._ended:
            try:
                self._write(data)
            except Exception as exc:  # transport already gone
                log.debug("session %d: write failed: %s", self.session.id, exc)

    def abort(self, reason: str = "closed by the agent", termination: str = "other") -> None:
        """Close the transport (kill-session, protocol error, end of session).

        ``termination`` is the RFC 6470 termination-reason."""
        if not self._ended:
            try:
                self._close()
            except Exception:
                log.debug("session %d: close failed", self.session.id, exc_info=True)
        self._end(reason, termination)

    def notify(self, xml: str, counted: bool = True) -> None:
        """Send a notification now, between replies (:interleave).

        ``counted=False``: a replay, sent in one go; its volume is bounded by
        the replay log (agent/eventlog.py), so it does not count towards the
        unread limit meant for a live stream that never ends."""
        if self._ended:
            return
        if counted and not self._writable.is_set():
            # the peer does not read: notifications would pile up without bound
            self._unread_notifications += 1
            if self._unread_notifications > self.server.limits.max_unread_notifications:
                log.warning("session %d: does not read its notifications; closing it", self.session.id)
                self.abort("notifications unread", "other")
                return
        self.session.nc.send_notification(xml)
        self.session.out_notifications += 1
        self._flush()

    def _end(self, reason: str, termination: str) -> None:
        if self._ended:
            return
        self._ended = True
        if self._closed_by_rpc:
            reason, termination = "close-session", "closed"
        if self._hello_timer:
            self._hello_timer.cancel()
        self._wake()
        self.server.end_session(self.session, reason, termination)
        if not self.done.done():
            self.done.set_result(reason)
