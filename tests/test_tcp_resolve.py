"""Call home's TCP connect: an address literal is used as getaddrinfo() would
give it, without asyncio's resolver thread (start-up time: issue 15)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from agent.transport import tcp


@pytest.mark.parametrize("host", ["127.0.0.1", "10.1.2.3", "::1", "2001:db8::7"])
def test_a_literal_resolves_as_getaddrinfo_does(host):
    assert tcp._numeric_address(host, 4334) == socket.getaddrinfo(host, 4334, type=socket.SOCK_STREAM,
                                                                  proto=socket.IPPROTO_TCP)


@pytest.mark.parametrize("host", ["localhost", "manager.example", "127.1", "fe80::1%lo", ""])
def test_names_and_scoped_addresses_go_to_getaddrinfo(host):
    assert tcp._numeric_address(host, 4334) is None


def test_connecting_to_a_literal_starts_no_resolver_thread():
    async def main() -> tuple[bool, bool]:
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        loop = asyncio.get_running_loop()
        sock = await tcp.connect("127.0.0.1", port)
        accepted, _ = listener.accept()
        no_executor = loop._default_executor is None  # type: ignore[attr-defined]
        peer = sock.getpeername() == ("127.0.0.1", port)
        for s in (sock, accepted, listener):
            s.close()
        # a name still goes through getaddrinfo in the executor
        listener = socket.create_server(("127.0.0.1", 0))
        sock = await tcp.connect("localhost", listener.getsockname()[1])
        sock.close()
        listener.close()
        return no_executor and peer, loop._default_executor is not None  # type: ignore[attr-defined]

    literal_ok, name_used_executor = asyncio.run(main())
    assert literal_ok
    assert name_used_executor
