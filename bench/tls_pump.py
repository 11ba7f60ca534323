"""The agent's TLS record pump (agent/transport/tlsio.py) against asyncio's
own TLS (``connect_accepted_socket(ssl=...)``), measured in the same run:
the server side sends 64 MiB in 1 MiB writes over loopback to a blocking
Python ssl client in a thread, honouring pause_writing like the session
bridge; best of 5 rounds each, TLS 1.3 and TLS 1.2.

    .venv/bin/python -m bench.tls_pump
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import tempfile
import threading
import time
from pathlib import Path

from agent.transport import tlsio
from tests.support import pki

TOTAL = 64 * 1024 * 1024
WRITE = 1024 * 1024
ROUNDS = 5


class Sender(asyncio.Protocol):
    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.made = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.made.set_result(None)

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc) -> None:
        pass


def _reader(sock: socket.socket, client_ctx: ssl.SSLContext, done: list) -> None:
    with client_ctx.wrap_socket(sock, server_hostname="localhost") as s:
        got = 0
        while got < TOTAL:
            got += len(s.recv(1 << 20))
        done.append(time.monotonic())


async def _round(kind: str, server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> float:
    loop = asyncio.get_running_loop()
    a, b = socket.socketpair()
    done: list[float] = []
    reader = threading.Thread(target=_reader, args=(b, client_ctx, done))
    reader.start()
    proto = Sender()
    if kind == "tlsio":
        await tlsio.accept(a, server_ctx, proto, handshake_timeout=10, shutdown_timeout=1)
    else:
        await loop.connect_accepted_socket(lambda: proto, sock=a, ssl=server_ctx, ssl_handshake_timeout=10,
                                           ssl_shutdown_timeout=1)
    await proto.made
    chunk = b"x" * WRITE
    t0 = time.monotonic()
    for _ in range(TOTAL // WRITE):
        await proto.writable.wait()
        proto.transport.write(chunk)
    await asyncio.to_thread(reader.join)
    proto.transport.abort()
    return done[0] - t0


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-tls-"))
    root = pki.ca("bench root")
    server = pki.leaf("localhost", root, dns=("localhost",), server=True)
    cert, key = server.write(tmp, "server")
    root_file = root.write_cert(tmp / "root.crt")
    for version in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(cert, key)
        server_ctx.minimum_version = server_ctx.maximum_version = version
        client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client_ctx.load_verify_locations(root_file)
        best = {}
        for _ in range(ROUNDS):
            for kind in ("asyncio", "tlsio"):
                t = await _round(kind, server_ctx, client_ctx)
                best[kind] = min(best.get(kind, t), t)
        mb = TOTAL / 1024 / 1024
        print(f"{version.name}: asyncio ssl {mb / best['asyncio']:7.1f} MiB/s, tlsio {mb / best['tlsio']:7.1f} MiB/s, "
              f"ratio tlsio/asyncio {best['asyncio'] / best['tlsio']:.2f} (throughput)")


if __name__ == "__main__":
    asyncio.run(main())
