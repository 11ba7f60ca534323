"""Call home on the simulated board: a link going down closes the
connection at once and a link coming up skips the back-off, exhausted
endpoints in the state, periodic connections on an accelerated clock."""

from __future__ import annotations

import time

from agent.callhome import build
from agent.callhome.manager import Clock
from agent.hal.sim import SimBoard

from .support import free_port, wait_for


def test_link_down_closes_at_once_and_link_up_skips_the_backoff(harness):
    board = SimBoard()
    lst = harness.listener()
    port = lst.port
    harness.start(
        harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", port)], max_attempts=1, max_wait=1)]),
        board=board,
        backoff_min=60,
        backoff_max=60,
    )
    m = lst.accept(harness)
    state = harness.agent.callhome.states["nms"]
    assert state.interface == "eth0"
    # link down: the connection through eth0 is closed at once
    t0 = time.monotonic()
    harness.call(lambda: board.nics.set_link("eth0", False))
    assert wait_for(lambda: not m.connected, timeout=5)
    assert time.monotonic() - t0 < 2
    # the manager is gone too: attempts fail and the client backs off for a minute
    lst.close()
    assert wait_for(lambda: state.status == "backing-off", timeout=10)
    assert state.exhausted_since is not None
    lst = harness.listener(port)
    # link up: call home now, not in a minute
    t0 = time.monotonic()
    harness.call(lambda: board.nics.set_link("eth0", True))
    m = lst.accept(harness, timeout=10)
    assert time.monotonic() - t0 < 5
    assert state.exhausted_since is None and state.status == "connected"
    m.close_session()


def test_exhausted_endpoints_are_shown(harness):
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", free_port())], max_attempts=1)]),
                  backoff_min=30, backoff_max=30)
    state = harness.agent.callhome.states["nms"]
    assert wait_for(lambda: state.status == "backing-off", timeout=10)
    assert state.last_error == "a: Connection refused"
    lst = harness.listener()
    # the agent's own state (harness.agent.callhome.states) is served by <get> too:
    tree = harness.call(harness.agent.server.state())
    try:
        text = tree.to_xml()
    finally:
        tree.free()
    assert "<endpoints-exhausted-since>" in text and "<status>backing-off</status>" in text
    lst.close()


class FastClock(Clock):
    """Wall time running ``speed`` times faster than real time."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._t0 = time.time()
        self._m0 = time.monotonic()

    def monotonic(self) -> float:
        return self._m0 + (time.monotonic() - self._m0) * self.speed

    def time(self) -> float:
        return self._t0 + (time.monotonic() - self._m0) * self.speed

    def to_real(self, seconds: float) -> float:
        return seconds / self.speed


def test_periodic_connections_follow_the_anchor_grid(harness):
    clock = FastClock(speed=60)  # one minute of schedule per real second
    lst = harness.listener()
    anchor = time.strftime("%Y-%m-%dT%H:%M:00Z", time.gmtime(time.time() - 3600))
    client = harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)], periodic=(1, 0))
    cfg = harness.config([client]).replace("<idle-timeout>0</idle-timeout>", f"<anchor-time>{anchor}</anchor-time><idle-timeout>0</idle-timeout>")
    harness.start(cfg, manager_settings={"clock": clock})
    anchor_ts = time.mktime(time.strptime(anchor, "%Y-%m-%dT%H:%M:00Z")) - time.timezone
    state = harness.agent.callhome.states["nms"]
    starts = []
    for _ in range(2):
        m = lst.accept(harness, timeout=10)
        starts.append(state.attempts[-1].at)
        m.close_session()  # graceful: next connection at the next boundary
    # each connection began on a whole minute after the anchor (fake time, ~0.3 s real of slack)
    for at in starts:
        offset = (at - anchor_ts) % 60
        assert offset < 20 or offset > 59.9, offset
    assert starts[1] - starts[0] >= 40  # the second waited for the next boundary


def test_periodic_session_dropped_without_close_session_is_redialled_at_once(harness):
    clock = FastClock(speed=60)
    lst = harness.listener()
    client = harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)], periodic=(60, 0))  # hourly
    harness.start(harness.config([client]), manager_settings={"clock": clock})
    m = lst.accept(harness, timeout=10)  # no anchor-time: anchored at configuration, so right away
    m._session._transport.close()  # the TCP connection dies, no <close-session>
    t0 = time.monotonic()
    m2 = lst.accept(harness, timeout=10)
    assert time.monotonic() - t0 < 5  # not an hour (60 s real) later
    m2.close_session()
    assert wait_for(lambda: harness.agent.callhome.states["nms"].status == "waiting-for-period", timeout=5)


def test_periodic_idle_timeout_closes_an_idle_session(harness):
    clock = FastClock(speed=60)
    lst = harness.listener()
    client = harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)], periodic=(60, 120))
    harness.start(harness.config([client]), manager_settings={"clock": clock})
    m = lst.accept(harness, timeout=10)
    for _ in range(4):  # activity keeps it open past the idle time (2 min = 2 s real)
        time.sleep(0.8)
        m.get_config(source="running")
    assert m.connected
    assert wait_for(lambda: not m.connected, timeout=6)
    state = harness.agent.callhome.states["nms"]
    assert wait_for(lambda: state.status == "waiting-for-period", timeout=5)
