"""The agent's health and state on the simulated board: the watchdog kicked
while healthy and not when the event loop blocks or the datastore broke,
operational state that yanglint validates, NETCONF monitoring."""

from __future__ import annotations

import json
import time

from agent.callhome import build
from agent.hal.sim import SimBoard

from .support import data_content, two_managers, wait_for, yanglint

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"


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
