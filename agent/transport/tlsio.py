"""TLS records on a call-home TCP connection, pumped by the agent itself: an
``ssl.SSLObject`` between two memory BIOs, over a plain asyncio TCP transport.

Why not asyncio's own TLS (``connect_accepted_socket(ssl=...)``): when the
handshake fails, asyncio closes the socket without sending what OpenSSL has
already written into its outgoing buffer (``SSLProtocol._on_handshake_complete``
-> ``_fatal_error``, Python 3.11), which is the fatal alert (RFC 8446
6.2) that tells the manager why it was refused: unknown CA, no certificate,
no shared cipher, protocol version. The manager saw only an unexpected EOF.
Here every byte OpenSSL writes is sent, and a failed handshake ends with the
alert, then FIN.

The plaintext side is an ``asyncio.Transport`` for the application protocol
(the NETCONF session bridge), with asyncio's semantics: ``connection_made``
once the handshake is done, ``data_received``, ``eof_received`` on the
peer's close_notify, ``connection_lost`` once the TCP connection is gone.
Flow control both ways: pausing reading pauses the socket (records already
received wait in the incoming BIO), and the write buffer is the TCP
transport's, holding the encrypted bytes, so its high-water mark pauses
the protocol's writing as before.

Closing sends close_notify, then FIN, and waits for the peer's close_notify
at most ``shutdown_timeout`` (RFC 8446 6.1 does not require waiting at all);
any close is bounded by it, even towards a peer that reads nothing.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import socket
import ssl
from typing import Any, cast

log = logging.getLogger(__name__)

#: plaintext bytes encrypted and handed to TCP at a time, so a large reply is
#: never held twice (plaintext and ciphertext) in full
WRITE_CHUNK = 64 * 1024
#: plaintext bytes decrypted per SSLObject.read
READ_CHUNK = 64 * 1024


class _State(enum.Enum):
    HANDSHAKE = 1
    OPEN = 2
    CLOSING = 3  # our close_notify (or alert) sent, TCP closing
    CLOSED = 4


class TlsTransport(asyncio.Transport):
    """What the application protocol holds: plaintext in, plaintext out."""

    def __init__(self, pump: TlsPump) -> None:
        super().__init__()
        self._pump = pump

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._pump.write(data)

    def close(self) -> None:
        self._pump.close()

    def abort(self) -> None:
        self._pump.abort()

    def is_closing(self) -> bool:
        return self._pump.state is not _State.OPEN

    def pause_reading(self) -> None:
        self._pump.pause_reading()

    def resume_reading(self) -> None:
        self._pump.resume_reading()

    def is_reading(self) -> bool:
        return not self._pump.reading_paused

    def get_write_buffer_size(self) -> int:
        return self._pump.tcp.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._pump.tcp.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._pump.tcp.set_write_buffer_limits(high, low)

    def can_write_eof(self) -> bool:
        return False  # TLS has no half-close (close_notify ends the writing and the connection)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._pump.app

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._pump.app = cast(asyncio.Protocol, protocol)  # the pump calls data_received: a streaming protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        sslobj = self._pump.sslobj
        if name == "ssl_object":
            return sslobj
        if name == "sslcontext":
            return sslobj.context
        if name == "peercert":
            return sslobj.getpeercert()
        if name == "cipher":
            return sslobj.cipher()
        return self._pump.tcp.get_extra_info(name, default)


class TlsPump(asyncio.Protocol):
    """The TCP side: received bytes go to OpenSSL, whatever OpenSSL writes
    (handshake messages, records, alerts, close_notify) goes to the socket.

    ``handshake_done`` resolves once the handshake is done and the
    application protocol's ``connection_made`` has run, or fails with the
    handshake's error (``ssl.SSLError``: its alert was sent), a
    ``TimeoutError`` after ``handshake_timeout``, or the connection's loss."""

    def __init__(self, context: ssl.SSLContext, app: asyncio.Protocol, *, handshake_timeout: float,
                 shutdown_timeout: float) -> None:
        self.app = app
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.sslobj = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self.state = _State.HANDSHAKE
        self.reading_paused = False
        self.tcp: asyncio.Transport = None  # type: ignore[assignment]
        self.transport = TlsTransport(self)
        self._loop = asyncio.get_running_loop()
        self.handshake_done: asyncio.Future[None] = self._loop.create_future()
        self._handshake_timeout = handshake_timeout
        self._shutdown_timeout = shutdown_timeout
        self._timer: asyncio.TimerHandle | None = None
        #: why the connection ends, for the application's connection_lost
        self._error: Exception | None = None
        self._app_connected = False

    # -- TCP protocol callbacks --

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.tcp = transport
        self._timer = self._loop.call_later(self._handshake_timeout, self._handshake_timed_out)

    def data_received(self, data: bytes) -> None:
        self._incoming.write(data)
        if self.state is _State.HANDSHAKE:
            self._handshake()
        if self.state is _State.OPEN:
            self._read()
        elif self.state is _State.CLOSING:
            self._drain()

    def eof_received(self) -> bool:
        if self.state is _State.HANDSHAKE:
            self._fail_handshake(ConnectionResetError("connection closed during the TLS handshake"))
        elif self.state is _State.OPEN:
            # FIN without close_notify: a truncation, the session ends
            self._incoming.write_eof()
            keep_open = self.app.eof_received()
            if not keep_open and self.state is _State.OPEN:
                self.close()
        else:
            self.tcp.close()
        return True  # we close the TCP connection ourselves (after our close_notify)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = _State.CLOSED
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._app_connected:
            self._fail_handshake(exc or ConnectionResetError("connection lost during the TLS handshake"))
            return
        self.app.connection_lost(self._error or exc)

    def pause_writing(self) -> None:
        if self._app_connected:
            self.app.pause_writing()

    def resume_writing(self) -> None:
        if self._app_connected:
            self.app.resume_writing()

    # -- handshake --

    def _handshake(self) -> None:
        try:
            self.sslobj.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except ssl.SSLError as exc:
            self._fail_handshake(exc)
            return
        self._flush()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.state = _State.OPEN
        self._app_connected = True
        self.app.connection_made(self.transport)
        if not self.handshake_done.done():
            self.handshake_done.set_result(None)

    def _fail_handshake(self, exc: BaseException) -> None:
        # The point of this module: the alert OpenSSL wrote goes out first.
        if self.state is _State.HANDSHAKE:
            self._flush()
            self.state = _State.CLOSING
            self.tcp.close()  # sends what is buffered, then FIN
            self._bound_close()
        if not self.handshake_done.done():
            self.handshake_done.set_exception(exc)

    def _handshake_timed_out(self) -> None:
        self._timer = None
        if self.state is _State.HANDSHAKE:
            self.state = _State.CLOSED
            self.tcp.abort()
            if not self.handshake_done.done():
                self.handshake_done.set_exception(TimeoutError("TLS handshake timed out"))

    # -- records --

    def _read(self) -> None:
        while self.state is _State.OPEN and not self.reading_paused:
            try:
                data = self.sslobj.read(READ_CHUNK)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                data = b""
            except ssl.SSLError as exc:  # a refused renegotiation, a bad record
                self._fatal(exc)
                return
            if not data:  # the peer's close_notify
                keep_open = self.app.eof_received()
                if not keep_open and self.state is _State.OPEN:
                    self.close()
                return
            self.app.data_received(data)
        self._flush()  # reading may have written (a TLS 1.3 KeyUpdate answer)

    def _drain(self) -> None:
        """CLOSING: discard what still arrives until the peer's close_notify."""
        while True:
            try:
                if not self.sslobj.read(READ_CHUNK):
                    break
            except ssl.SSLWantReadError:
                self._flush()
                return
            except ssl.SSLError:
                break
        self.tcp.close()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.state is not _State.OPEN:
            return  # as asyncio's transports: writes after close are dropped
        view = memoryview(data).cast("B")
        try:
            while view:
                chunk, view = view[:WRITE_CHUNK], view[WRITE_CHUNK:]
                while chunk:
                    chunk = chunk[self.sslobj.write(chunk):]
                self._flush()
        except ssl.SSLError as exc:
            self._fatal(exc)

    def _flush(self) -> None:
        data = self._outgoing.read()
        if data and not self.tcp.is_closing():
            self.tcp.write(data)

    # -- flow control --

    def pause_reading(self) -> None:
        if not self.reading_paused:
            self.reading_paused = True
            self.tcp.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused:
            self.reading_paused = False
            # records already in the incoming BIO first, from the loop (not
            # from inside the caller), then the socket again
            self._loop.call_soon(self._resume)

    def _resume(self) -> None:
        if self.state is _State.OPEN and not self.reading_paused:
            self._read()
            self.tcp.resume_reading()

    # -- ending --

    def close(self) -> None:
        """close_notify, FIN, then the peer's close_notify awaited a short while."""
        if self.state is not _State.OPEN:
            return
        self.state = _State.CLOSING
        both_sent = False
        try:
            self.sslobj.unwrap()
            both_sent = True  # the peer's close_notify had come already
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as exc:
            log.debug("TLS close_notify not sent: %s", exc)
            both_sent = True
        self._flush()
        if both_sent:
            self.tcp.close()
        else:
            if self.reading_paused:
                self.tcp.resume_reading()  # to see the peer's close_notify
            self.tcp.write_eof()
        self._bound_close()

    def abort(self) -> None:
        if self.state is _State.CLOSED:
            return
        if self.state is _State.HANDSHAKE and not self.handshake_done.done():
            self.handshake_done.set_exception(ConnectionAbortedError("TLS handshake aborted"))
        self.state = _State.CLOSING
        self.tcp.abort()

    def _fatal(self, exc: ssl.SSLError) -> None:
        """An error on an established connection: its alert, then the end."""
        self._error = exc
        self._flush()
        self.state = _State.CLOSING
        self.tcp.close()
        self._bound_close()

    def _bound_close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(self._shutdown_timeout, self.tcp.abort)


async def accept(sock: socket.socket, context: ssl.SSLContext, app: asyncio.Protocol, *, handshake_timeout: float,
                 shutdown_timeout: float) -> TlsTransport:
    """The TLS server side on the connected ``sock``: returns the transport
    once the handshake is done and ``app.connection_made`` has run; raises
    what ended the handshake (after the alert was sent) otherwise."""
    loop = asyncio.get_running_loop()
    pump = TlsPump(context, app, handshake_timeout=handshake_timeout, shutdown_timeout=shutdown_timeout)
    await loop.connect_accepted_socket(lambda: pump, sock=sock)
    try:
        await pump.handshake_done
    except asyncio.CancelledError:
        pump.abort()
        raise
    return pump.transport
