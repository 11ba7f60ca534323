"""C memory per ended SSH session of the libssh transport alone: glibc's
malloc bytes in use (mallinfo2) in this process, which runs only the server
side (agent/transport/libssh.py); the asyncssh clients run in a child process.
Printed every 100 sessions after 30 of warm-up: a per-session leak grows by
the same step every time, memory that settles by less and less.

    python -m bench.ssh_sessions [--sessions N] [--kex-only]
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import socket
import sys

import asyncssh

from agent.transport import libssh
from agent.transport.ssh import Algorithms

WARMUP = 30

_CLIENT = r'''
import asyncio, sys
import asyncssh

async def main(port, n, channel):
    key = asyncssh.generate_private_key("ssh-ed25519")
    for _ in range(n):
        try:
            async with asyncssh.connect("127.0.0.1", port, username="u", client_keys=[key] if channel else [],
                                        known_hosts=None) as conn:
                if channel:
                    w, r, _ = await conn.open_session(subsystem="netconf", encoding=None)
                    await r.readexactly(5)
                    w.close()
        except asyncssh.PermissionDenied:
            pass

asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "channel"))
'''


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _in_use() -> int:
    gc.collect()
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return info.uordblks + info.hblkhd


class _Channel:
    def __init__(self, ch: libssh.Channel) -> None:
        self.ch = ch

    def subsystem(self, channel: libssh.Channel, name: str) -> bool:
        asyncio.get_running_loop().call_soon(self.ch.write, b"hello")
        return True

    def data(self, data: bytes) -> None: pass
    def eof(self) -> None: pass
    def closed(self) -> None: pass
    def writable(self, yes: bool) -> None: pass


class _Server:
    def __init__(self) -> None:
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()

    def auth_publickey(self, user: str, key_b64: str, signed: bool) -> bool:
        return True

    def open_session(self, channel: libssh.Channel) -> _Channel:
        return _Channel(channel)

    def key_exchange_done(self) -> None: pass

    def ended(self, error: str | None) -> None:
        if not self.done.done():
            self.done.set_result(error)


async def run(sessions: int, channel: bool) -> list[tuple[int, int]]:
    host_key = asyncssh.generate_private_key("ssh-ed25519").export_private_key()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)
    listener.setblocking(False)
    loop = asyncio.get_running_loop()
    total = WARMUP + sessions
    client = await asyncio.create_subprocess_exec(sys.executable, "-c", _CLIENT, str(listener.getsockname()[1]),
                                                  str(total), "channel" if channel else "kex")
    samples: list[tuple[int, int]] = []
    try:
        for i in range(total):
            if i >= WARMUP and (i - WARMUP) % 100 == 0:
                samples.append((i - WARMUP, _in_use()))
            sock, _ = await loop.sock_accept(listener)
            server = _Server()
            conn = libssh.Connection(sock.fileno(), [host_key], Algorithms(), server)
            sock.close()
            conn.start()
            await asyncio.wait_for(server.done, 30)
            conn.close()
        await client.wait()
    finally:
        listener.close()
    samples.append((sessions, _in_use()))
    return samples


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ssh_sessions", description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--kex-only", action="store_true", help="key exchange and a refused login, no channel")
    args = ap.parse_args()
    samples = asyncio.run(run(args.sessions, not args.kex_only))
    base = samples[0][1]
    steps = [f"{n}: {(v - base) / 1024:+.1f} kB" for n, v in samples]
    (n0, v0), (n1, v1) = samples[len(samples) // 2], samples[-1]
    print(f"ssh sessions: malloc in use after N sessions ({', '.join(steps)}); "
          f"{(samples[-1][1] - base) / args.sessions:+.1f} B per session over all, "
          f"{(v1 - v0) / max(n1 - n0, 1):+.1f} B over the last {n1 - n0}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
