"""A minimal NETCONF manager on asyncssh, for timing round trips.

ncclient polls its socket every 100 ms (``TICK`` in its session loop), which
would be the whole measurement; this client waits on the SSH channel and
does nothing else: hello, then one RPC at a time with base:1.1 chunked
framing (RFC 6242 4.2).
"""

from __future__ import annotations

import re
import socket

import asyncssh

NS = "urn:ietf:params:xml:ns:netconf:base:1.0"
HELLO = (
    f'<?xml version="1.0" encoding="UTF-8"?><hello xmlns="{NS}"><capabilities>'
    "<capability>urn:ietf:params:netconf:base:1.0</capability>"
    "<capability>urn:ietf:params:netconf:base:1.1</capability>"
    "</capabilities></hello>]]>]]>"
).encode()
_CHUNK = re.compile(rb"\n#(\d+)\n")


class RpcFailed(Exception):
    pass


class NetconfClient:
    def __init__(self, conn: asyncssh.SSHClientConnection, writer, reader) -> None:
        self.conn = conn
        self._writer = writer
        self._reader = reader
        self._buf = bytearray()
        self._next_id = 1
        self.server_hello = ""
        self.session_id: int | None = None

    @classmethod
    async def connect(
        cls,
        *,
        sock: socket.socket | None = None,
        host: str | None = None,
        port: int | None = None,
        username: str,
        key: asyncssh.SSHKey,
    ) -> NetconfClient:
        """Over a call-home socket the manager accepted (``sock``), or to ``host``:``port``."""
        conn = await asyncssh.connect(
            host or "", port or (), sock=sock, username=username, client_keys=[key], known_hosts=None,
            agent_path=None,
        )
        try:
            writer, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
            client = cls(conn, writer, reader)
            await client._hello()
        except BaseException:
            conn.close()
            raise
        return client

    async def _read_more(self) -> None:
        data = await self._reader.read(1 << 16)
        if not data:
            raise ConnectionError("the server closed the session")
        self._buf += data

    async def _hello(self) -> None:
        self._writer.write(HELLO)
        while (end := self._buf.find(b"]]>]]>")) < 0:
            await self._read_more()
        self.server_hello = self._buf[:end].decode()
        del self._buf[: end + 6]
        if "urn:ietf:params:netconf:base:1.1" not in self.server_hello:
            raise RpcFailed("the server does not speak base:1.1")
        m = re.search(r"<(?:\w+:)?session-id>(\d+)<", self.server_hello)
        self.session_id = int(m.group(1)) if m else None

    async def _read_message(self) -> bytes:
        out = bytearray()
        pos = 0
        while True:
            while len(self._buf) - pos < 4:
                await self._read_more()
            if self._buf[pos : pos + 4] == b"\n##\n":
                del self._buf[: pos + 4]
                return bytes(out)
            m = _CHUNK.match(self._buf, pos)
            if m is None:
                if len(self._buf) - pos > 16:
                    raise RpcFailed(f"bad chunk header: {bytes(self._buf[pos:pos + 16])!r}")
                await self._read_more()
                continue
            size = int(m.group(1))
            while len(self._buf) < m.end() + size:
                await self._read_more()
            out += self._buf[m.end() : m.end() + size]
            pos = m.end() + size

    def send(self, body: str) -> None:
        """Send one RPC without waiting for its reply."""
        msg = f'<rpc xmlns="{NS}" message-id="{self._next_id}">{body}</rpc>'.encode()
        self._next_id += 1
        self._writer.write(b"\n#%d\n%s\n##\n" % (len(msg), msg))

    async def rpc(self, body: str) -> str:
        """One round trip; an <rpc-error> raises RpcFailed."""
        self.send(body)
        reply = (await self._read_message()).decode()
        if "rpc-error>" in reply:
            raise RpcFailed(reply)
        return reply

    async def get_config(self, filter_xml: str | None = None) -> str:
        f = "" if filter_xml is None else f'<filter type="subtree">{filter_xml}</filter>'
        return await self.rpc(f"<get-config><source><running/></source>{f}</get-config>")

    async def edit_config(self, config: str, target: str = "running") -> str:
        return await self.rpc(f"<edit-config><target><{target}/></target><config>{config}</config></edit-config>")

    async def close(self) -> None:
        try:
            await self.rpc("<close-session/>")
        except (RpcFailed, ConnectionError, asyncssh.Error, OSError):
            pass
        self.conn.close()
        await self.conn.wait_closed()

    def abort(self) -> None:
        self.conn.close()
