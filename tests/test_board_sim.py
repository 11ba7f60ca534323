"""The agent on the simulated board: link events, watchdog health, operational
state, periodic connections on an accelerated clock."""

from __future__ import annotations

import json
import time


from agent.callhome import build
from agent.callhome.manager import Clock
from agent.hal.sim import SimBoard

from .support import data_content, two_managers, wait_for, yanglint

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


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


def test_watchdog_kicked_while_healthy_and_fires_when_the_loop_blocks(harness):
    board = SimBoard()
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]),
                  board=board, watchdog_timeout=1)
    wd = board.watchdog
    assert wd.timeout == 1
    time.sleep(1.5)
    assert wd.kicks >= 3 and not wd.expired
    harness.call(lambda: time.sleep(1.6))  # a handler that blocks the event loop
    assert wait_for(lambda: wd.expired, timeout=5)  # real hardware would have reset the board
    harness.stop()
    assert wd.stopped  # orderly stop: magic close, no reset


def test_watchdog_not_kicked_when_the_datastore_is_broken(harness):
    board = SimBoard()
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]),
                  board=board, watchdog_timeout=1)
    def break_it() -> int:
        harness.agent.datastore.broken = "simulated internal error"
        return board.watchdog.kicks

    kicks = harness.call(break_it)  # on the loop: no kick in between
    assert wait_for(lambda: board.watchdog.expired, timeout=5)
    assert board.watchdog.kicks == kicks  # nothing kicked it since


def test_operational_state_validates_with_yanglint(harness, tmp_path, yang_dirs):
    lst = harness.listener()
    (harness.state_dir / "identity.json").write_text(json.dumps({"serial_number": "DPU-0042", "model": "DPU-8P"}))
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]))
    m = lst.accept(harness)
    data = m.get().data_xml
    assert "<name>eth0</name>" in data and "<oper-status>up</oper-status>" in data
    assert "<phys-address>02:00:00:00:00:01</phys-address>" in data
    assert "<serial-num>DPU-0042</serial-num>" in data and "<model-name>DPU-8P</model-name>" in data
    assert "<firmware-rev>sim</firmware-rev>" in data  # not provisioned: the board's
    assert "<connected-endpoint>a</connected-endpoint>" in data and "<status>connected</status>" in data
    (tmp_path / "get.xml").write_text(data_content(data))
    out = yanglint("get", tmp_path / "get.xml", yang_dirs, "-y")  # -y: ietf-yang-library too
    assert out.returncode == 0, out.stderr
    m.close_session()


def test_exhausted_endpoints_are_shown(harness):
    from .conftest import free_port

    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", free_port())], max_attempts=1)]),
                  backoff_min=30, backoff_max=30)
    state = harness.agent.callhome.states["nms"]
    assert wait_for(lambda: state.status == "backing-off", timeout=10)
    assert state.last_error == "a: Connection refused"
    lst = harness.listener()
    harness.agent.callhome.states  # the agent's own state is served by <get> too:
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


def test_monitoring_state(harness):
    (l1, m1), (l2, m2) = two_managers(harness, ("nms", "nms2"))
    m2.lock("candidate")
    flt = ("subtree", '<netconf-state xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"/>')
    state = m1.get(filter=flt).data_xml
    assert state.count("<session>") == 2 and "<username>admin</username>" in state
    assert "<transport>ncm:netconf-ssh</transport>" in state or "netconf-ssh</transport>" in state
    assert f"<locked-by-session>{m2.session_id}</locked-by-session>" in state
    assert "<identifier>ietf-netconf-server</identifier>" in state
    assert "urn:ietf:params:netconf:capability:candidate:1.0" in state
    # the hello and the library agree
    lib = m1.get(filter=("subtree", '<yang-library xmlns="urn:ietf:params:xml:ns:yang:ietf-yang-library"/>')).data_xml
    for cap in m1.server_capabilities:
        if "module=" in cap:
            name = cap.split("module=")[1].split("&")[0]
            assert f"<name>{name}</name>" in lib
        if "yang-library:1.1" in cap:
            assert f"<content-id>{cap.split('content-id=')[1]}</content-id>" in lib
    m1.close_session()
    m2.close_session()
