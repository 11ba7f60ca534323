"""Stopping call home must stop it, whatever the client task is awaiting.

On Python 3.11 ``asyncio.wait_for`` returns the result, and swallows the
cancellation, when the awaited thing completes in the same loop turn as the
cancel. A client task that ate its cancellation went on calling home after
the agent stopped, and the stop waited for it forever. These tests make the
waits of a client task (the TCP connect bounded by max-wait, the nap between
attempts, a transport handshake inside a library) complete at the very
moment stop() cancels them."""

from __future__ import annotations

import asyncio
import socket
import threading
from types import SimpleNamespace

from agent.callhome import build, manager


def stop_in_the_same_turn(harness, complete) -> bool:
    """Call ``complete()`` and then stop() in one loop turn; True when stop()
    returned within 5 s and every client task it cancelled has ended."""

    async def run():
        tasks = list(harness.agent.callhome.tasks.values())
        complete()
        try:
            async with asyncio.timeout(5):
                await harness.agent.callhome.stop()
        except TimeoutError:
            return False
        return all(t.done() for t in tasks)

    return harness.call(run())


def test_stop_wins_over_a_connect_completing_at_the_same_moment(harness, monkeypatch):
    entered = threading.Event()
    pending: list[asyncio.Future] = []
    left, right = socket.socketpair()

    async def connect(*args, **kw):
        fut = asyncio.get_running_loop().create_future()
        pending.append(fut)
        entered.set()
        return await fut

    monkeypatch.setattr(manager.tcp, "connect", connect)
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", 9)])]))
    assert entered.wait(10)
    try:
        # the connection is up in the turn stop() cancels
        assert stop_in_the_same_turn(harness, lambda: pending[0].set_result(left)), "a client task swallowed its cancellation"
    finally:
        left.close()
        right.close()


def test_stop_wins_over_a_wakeup_at_the_same_moment(harness, monkeypatch):
    napping = threading.Event()
    real_nap = manager.CallHomeManager._nap

    async def refused(*args, **kw):
        raise ConnectionRefusedError(111, "Connection refused")

    async def nap(self, seconds):
        # set in the same turn as the nap begins to wait on the wakeup (no
        # await in between): by the time the test's stop() runs on the loop,
        # the client task is inside the nap
        napping.set()
        return await real_nap(self, seconds)

    monkeypatch.setattr(manager.tcp, "connect", refused)
    monkeypatch.setattr(manager.CallHomeManager, "_nap", nap)
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", 9)], max_wait=30)]))
    assert napping.wait(10)
    # a link comes up in the turn stop() cancels
    assert stop_in_the_same_turn(harness, harness.agent.callhome.kick), "a client task swallowed its cancellation"


def test_stop_wins_over_a_library_that_swallows_the_cancel(harness, monkeypatch):
    """asyncssh's connect_reverse ends in asyncio.wait_for: on Python 3.11 a
    handshake that completes as stop() cancels returns the connection instead.
    From 3.12 on wait_for no longer does that, so the library here swallows
    the cancel itself, as 3.11's wait_for did: the test proves the same thing
    on every Python."""
    entered = threading.Event()
    pending: list[asyncio.Future] = []
    swallowed: list[bool] = []
    closed: list[bool] = []
    listener = harness.listener()

    class Conn:
        def close(self):
            closed.append(True)

        async def wait_closed(self):
            await asyncio.Event().wait()  # a manager that never hangs up

    async def serve(sock, *args, **kw):
        fut = asyncio.get_running_loop().create_future()
        pending.append(fut)
        entered.set()
        waiter = asyncio.get_running_loop().create_future()
        fut.add_done_callback(lambda _: waiter.done() or waiter.set_result(None))
        try:
            await waiter
        except asyncio.CancelledError:
            if not fut.done():
                raise
            swallowed.append(True)  # the handshake won the race: 3.11's wait_for returns it
        return Conn()

    ssh = manager.TRANSPORTS["ssh"]
    monkeypatch.setitem(manager.TRANSPORTS, "ssh", SimpleNamespace(params_from_config=ssh.params_from_config, serve=serve))
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", listener.port)])]))
    assert entered.wait(10)
    # the handshake is done in the turn stop() cancels
    assert stop_in_the_same_turn(harness, lambda: pending[0].set_result(None)), "the swallowed cancel was not honoured"
    assert swallowed == [True], "the library did not swallow the cancel: the test proved nothing"
    assert closed == [True]
