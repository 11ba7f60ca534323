"""The manager's side of call home: a listener that stays open across
reconnects, and what it needs (a free port, keys as the config spells them)."""

from __future__ import annotations

import asyncio
import base64
import select
import socket
import ssl
import threading
from pathlib import Path

import asyncssh


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64(key: asyncssh.SSHKey) -> str:
    return base64.b64encode(key.public_data).decode()


class Listener:
    """A manager's call-home listener (ncclient's manager.call_home, but kept
    open across reconnects and with SO_REUSEADDR)."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", *, sock: socket.socket | None = None,
                 backlog: int = 16) -> None:
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port or 0))
        sock.listen(backlog)
        self.sock = sock
        self.host, self.port = sock.getsockname()[:2]
        self.backlog = backlog
        self.accepted = 0

    def reset(self) -> Listener:
        """Drop connections waiting in the backlog (e.g. from an agent since stopped)."""
        self.sock.close()
        self.__init__(self.port, self.host, backlog=self.backlog)
        return self

    def accept_raw(self, timeout: float = 20) -> socket.socket:
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        conn.settimeout(None)
        self.accepted += 1
        return conn

    async def accept_async(self, timeout: float = 60) -> socket.socket:
        """The next call home's socket, accepted on the running event loop."""
        self.sock.setblocking(False)
        conn, _ = await asyncio.wait_for(asyncio.get_running_loop().sock_accept(self.sock), timeout)
        self.accepted += 1
        return conn

    def accept(self, harness, username: str = "admin", key: Path | None = None, timeout: float = 20):
        from ncclient import manager

        conn = self.accept_raw(timeout)
        return manager.connect_ssh(
            sock=conn,
            host=self.host,
            port=self.port,
            username=username,
            key_filename=str(key or harness.client_key_file),
            hostkey_b64=harness.host_b64,
            allow_agent=False,
            look_for_keys=False,
            timeout=timeout,
        )

    def accept_tls(self, context: ssl.SSLContext, timeout: float = 20):
        """A netconf-client session over TLS with ``context`` (the manager's side)."""
        from netconf_client.ncclient import Manager
        from netconf_client.session import Session

        conn = self.accept_raw(timeout)
        conn.settimeout(timeout)
        try:
            tls = context.wrap_socket(conn, server_hostname="127.0.0.1")
            return Manager(Session(OneThreadAtATime(tls, timeout)), timeout=timeout)
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        self.sock.close()


class OneThreadAtATime:
    """An SSLSocket that netconf-client can share between its reader thread
    and the caller's thread.

    netconf-client reads in a thread while the caller writes; CPython releases
    the GIL inside SSL_read and SSL_write, and one OpenSSL connection must never
    be used by two threads at once (a write racing a read can leave the reader
    with a spurious error, and netconf-client then silently stops reading).
    Here every SSL call holds a lock and nobody waits while holding it."""

    def __init__(self, sock: ssl.SSLSocket, timeout: float) -> None:
        self._sock = sock
        self._timeout = timeout
        self._lock = threading.Lock()
        sock.setblocking(False)

    def recv(self, size: int) -> bytes:
        while True:
            with self._lock:
                try:
                    return self._sock.recv(size)
                except ssl.SSLWantReadError:
                    pass
            if not select.select([self._sock], [], [], self._timeout)[0]:
                raise TimeoutError("timed out")

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            with self._lock:
                try:
                    view = view[self._sock.send(view) :]
                    continue
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
            if not select.select([], [self._sock], [], self._timeout)[1]:
                raise TimeoutError("timed out")

    def close(self) -> None:
        with self._lock:
            self._sock.close()

    def __getattr__(self, name: str):
        return getattr(self._sock, name)
