"""A bare NETCONF manager on asyncssh, for what ncclient cannot do: many
sessions on one connection, pipelining, slow or silent peers, hostile bytes."""

from __future__ import annotations

import asyncio
import re

import asyncssh

from agent.netconf.framing import FrameDecoder, Mode

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
HELLO = (f'<hello xmlns="{NC}"><capabilities><capability>urn:ietf:params:netconf:base:1.1</capability>'
         "</capabilities></hello>]]>]]>").encode()


def chunk(xml: str | bytes) -> bytes:
    data = xml.encode() if isinstance(xml, str) else xml
    return b"\n#%d\n%s\n##\n" % (len(data), data)


class Session:
    def __init__(self, writer, reader) -> None:
        self.writer = writer
        self.reader = reader
        self.decoder = FrameDecoder()
        self.session_id: str | None = None
        self._ids = 0

    async def hello(self) -> None:
        msg = await self.message()
        self.session_id = re.search(r"<session-id>(\d+)</session-id>", msg).group(1)
        self.writer.write(HELLO)
        self.decoder.mode = Mode.CHUNKED

    async def message(self, timeout: float = 15) -> str:
        while True:
            msg = self.decoder.next_message()
            if msg is not None:
                return msg.decode()
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                raise EOFError("session closed")
            self.decoder.feed(data)

    async def rpc(self, body: str, timeout: float = 30) -> str:
        self._ids += 1
        self.writer.write(chunk(f'<rpc xmlns="{NC}" message-id="{self._ids}">{body}</rpc>'))
        while True:
            reply = await self.message(timeout)
            if "<rpc-reply" in reply:
                return reply

    def close(self) -> None:
        self.writer.close()


async def connect(sock, username: str, key) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(sock=sock, username=username, client_keys=[key], known_hosts=None)


async def open_session(conn, hello: bool = True) -> Session:
    writer, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
    s = Session(writer, reader)
    if hello:
        await s.hello()
    return s
