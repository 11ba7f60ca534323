"""Dead managers and lost links, for real: the agent in namespace `dpu`, the
managers in `nms`, a veth pair between them. A blackholed manager drops
every packet it sends, so only the kernel's keepalives and TCP_USER_TIMEOUT
can notice. Keepalives 2/3/1: idle 2 s, 3 probes 1 s apart, 5 s in all.
"""

from __future__ import annotations

import asyncio
import socket
import time

import asyncssh
import pytest

from agent.callhome import build
from agent.hal.linux import LinuxBoard

from .support import Listener, netns, wait_for

reason = netns.can_use_netns()
pytestmark = pytest.mark.skipif(reason is not None, reason=reason or "")

KA = (2, 3, 1)  # idle-time, max-probes, probe-interval
BUDGET = KA[0] + KA[1] * KA[2]  # seconds until a dead peer is declared


@pytest.fixture
def topo():
    t = netns.Topology()
    t.create()
    yield t
    t.destroy()


def listen_in(topo, host: str, rcvbuf: int | None = None) -> Listener:
    def make():
        lst = Listener(host=host)
        if rcvbuf:
            lst.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        return lst

    return netns.run_in(topo.nms, make)


def start_agent(harness, topo, endpoints, **kw):
    kw.setdefault("max_attempts", 1)
    kw.setdefault("max_wait", 1)
    settings = dict(watchdog_path=None, backoff_min=1, backoff_max=2)
    settings.update(kw.pop("settings", {}))
    board = LinuxBoard(watchdog_path=None, sys_net=topo.dpu_sys_net)
    harness.start(harness.config([harness.client("nms", endpoints, **kw)]), netns=topo.dpu, board=board, **settings)
    return harness.agent.callhome.states["nms"]


def test_idle_dead_manager_found_by_keepalives_then_next_endpoint(harness, topo):
    a = listen_in(topo, "192.0.2.2")
    b = listen_in(topo, "192.0.2.3")
    harness.listeners += [a, b]
    state = start_agent(harness, topo, [
        build.Endpoint("a", "192.0.2.2", a.port, keepalives=KA),
        build.Endpoint("b", "192.0.2.3", b.port, keepalives=KA),
    ])
    m = a.accept(harness)
    m.get_config(source="running")
    time.sleep(0.5)
    topo.blackhole("192.0.2.2")
    t0 = time.monotonic()
    assert wait_for(lambda: state.conn is None, timeout=BUDGET + 5)
    detected = time.monotonic() - t0
    assert detected <= BUDGET + 1, f"dead manager noticed after {detected:.1f} s, budget {BUDGET} s"
    assert "timed out" in (state.last_error or "")
    m2 = b.accept(harness)  # and the agent moved on to the next endpoint
    assert state.connected_endpoint == "b"
    print(f"idle dead peer noticed after {detected:.2f} s (keepalive budget {BUDGET} s)")
    m2.close_session()


def test_dead_manager_with_data_in_flight_found_by_user_timeout(harness, topo):
    # a small receive buffer: the manager's window closes after a few replies
    a = listen_in(topo, "192.0.2.2", rcvbuf=4096)
    harness.listeners.append(a)
    state = start_agent(harness, topo, [build.Endpoint("a", "192.0.2.2", a.port, keepalives=KA)])

    async def stop_reading_then_die():
        sock = netns.run_in(topo.nms, lambda: a.accept_raw())
        async with asyncssh.connect(sock=sock, username="admin", client_keys=[harness.client_key], known_hosts=None) as conn:
            writer, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
            hello = b""
            while b"]]>]]>" not in hello:
                hello += await reader.read(65536)
            writer.write(b'<hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities>'
                         b"<capability>urn:ietf:params:netconf:base:1.1</capability></capabilities></hello>]]>]]>")
            conn._transport.pause_reading()  # the manager stops reading the socket
            rpc = b'<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="1"><get/></rpc>'
            for _ in range(40):
                writer.write(b"\n#%d\n%s\n##\n" % (len(rpc), rpc))
            await asyncio.sleep(1.5)  # replies pile up: the agent's data is stuck in flight
            topo.blackhole("192.0.2.2")
            t0 = time.monotonic()
            while state.conn is not None and time.monotonic() - t0 < BUDGET + 5:
                await asyncio.sleep(0.05)
            return time.monotonic() - t0

    detected = asyncio.run(stop_reading_then_die())
    assert state.conn is None
    assert detected <= BUDGET + 1, f"noticed after {detected:.1f} s, TCP_USER_TIMEOUT {BUDGET} s"
    assert "timed out" in (state.last_error or "")
    print(f"in-flight dead peer noticed after {detected:.2f} s (TCP_USER_TIMEOUT {BUDGET} s)")


def test_manager_restart_is_rejoined_within_max_wait(harness, topo):
    a = listen_in(topo, "192.0.2.2")
    port = a.port
    state = start_agent(harness, topo, [build.Endpoint("a", "192.0.2.2", port)], max_wait=2, settings={"backoff_min": 0.5, "backoff_max": 0.5})
    m = a.accept(harness)
    a.close()
    m._session._transport.close()  # the manager process dies
    assert wait_for(lambda: state.conn is None, timeout=5)
    time.sleep(3)  # down for a while
    a = netns.run_in(topo.nms, lambda: Listener(port, "192.0.2.2"))
    harness.listeners.append(a)
    t0 = time.monotonic()
    m = a.accept(harness, timeout=10)
    back = time.monotonic() - t0
    assert back <= 2 + 1, f"back after {back:.1f} s, max-wait 2 s"
    m.close_session()


def test_link_down_then_up_calls_home_without_waiting_for_backoff(harness, topo):
    a = listen_in(topo, "192.0.2.2")
    harness.listeners.append(a)
    state = start_agent(harness, topo, [build.Endpoint("a", "192.0.2.2", a.port, keepalives=KA)],
                        settings={"backoff_min": 60, "backoff_max": 60})
    _manager = a.accept(harness)  # its session stays open until the link goes down
    assert state.interface == topo.dpu_if
    t0 = time.monotonic()
    topo.dpu_link(False)
    assert wait_for(lambda: state.conn is None, timeout=5)
    assert time.monotonic() - t0 < 2, "the connection outlived its link"
    assert wait_for(lambda: state.status == "backing-off", timeout=10)
    time.sleep(1)
    t0 = time.monotonic()
    topo.dpu_link(True)
    m2 = a.accept(harness, timeout=15)
    back = time.monotonic() - t0
    assert back < 10, f"called home {back:.1f} s after link-up (back-off was 60 s)"
    assert state.status == "connected"
    m2.close_session()


def test_sockets_bound_to_the_management_interface(harness, topo):
    a = listen_in(topo, "192.0.2.2")
    harness.listeners.append(a)
    state = start_agent(harness, topo, [build.Endpoint("a", "192.0.2.2", a.port)], settings={"mgmt_interface": topo.dpu_if})
    m = a.accept(harness)
    bound = state.sock.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16).rstrip(b"\0").decode()
    assert bound == topo.dpu_if and state.interface == topo.dpu_if
    m.close_session()
