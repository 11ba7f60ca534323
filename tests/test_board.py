"""The agent on the emulated DPU (board/): its own kernel, a virtio NIC, an
i6300esb watchdog, busybox init running buildroot/'s S50dpu-agent.

The manager is ncclient on the host; the guest reaches it at 10.0.2.2 (QEMU
user networking maps that to the host's 127.0.0.1). Dead-peer detection is
not tested here (user networking answers for the peer): see
test_netns_faults.py. Pass/fail comes from the NETCONF sessions, the guest's
root shell, the serial console and QEMU's own QMP events.
"""

from __future__ import annotations

import re
import time

import pytest

from board.qemu import AGENT_OFF, Board, BoardOptions

from .support import yang_dir
from .support.boards import NS, Dpu, agent_state, need_board

pytestmark = pytest.mark.board

#: the agent's watchdog timeout on the boards (it kicks every third of it)
WATCHDOG_TIMEOUT = 5
#: QEMU's first NIC on user networking
QEMU_MAC = "52:54:00:12:34:56"

AGENT_PID = "cat /var/run/dpu-agent.pid.agent"


# The boards that need a QEMU of their own come first: the shared x86 board
# (a module fixture) then lives only while its own tests run.


def test_aarch64_boots_and_passes_the_selftest(tmp_path):
    need_board("aarch64")
    (tmp_path / "run").mkdir()
    with Board("aarch64", tmp_path / "run", yang_dir(), BoardOptions(deadline=300, append=AGENT_OFF)) as b:
        b.wait_ready(120)
        assert "aarch64" in b.shell("uname -m")
        status, out = b.run("dpu-agent selftest --board linux", timeout=240)
        assert status == 0, out
        assert re.search(r"^ok\s+board linux: eth0 up " + QEMU_MAC, out, re.M), out
        assert re.search(r"^ok\s+watchdog: /dev/watchdog \(not armed\)", out, re.M), out
        assert "python 3.11" in out and "on aarch64" in out


def test_frozen_agent_gets_the_board_reset_by_the_watchdog(tmp_path):
    need_board("x86_64")
    dpu = Dpu(tmp_path, "x86_64", f"--board linux --watchdog-timeout {WATCHDOG_TIMEOUT}", BoardOptions(deadline=420))
    try:
        b = dpu.board
        b.start()
        m = dpu.accept()
        assert agent_state(m)["last-reset-reason"] == "power-on"
        b.shell(f"kill -STOP $({AGENT_PID})")
        frozen = time.monotonic()
        event = b.qmp.wait_event("WATCHDOG", WATCHDOG_TIMEOUT + 30)
        fired_after = time.monotonic() - frozen
        assert event["data"]["action"] == "reset"
        # kicks come every third of the timeout: the last one was at most that long before the freeze
        assert fired_after <= WATCHDOG_TIMEOUT + 10, fired_after
        b.wait_serial("BOARD: init", 60, count=2)
        m2 = dpu.accept()
        assert agent_state(m2)["last-reset-reason"] == "watchdog"
        b.wait_serial("the last reset of this board was caused by the watchdog", 30)
        m2.close_session()
    finally:
        dpu.close()


@pytest.fixture(scope="module")
def x86(tmp_path_factory):
    """One x86_64 board for the call-home, state and init-script tests."""
    need_board("x86_64")
    dpu = Dpu(
        tmp_path_factory.mktemp("x86"), "x86_64",
        f"--board linux --watchdog-timeout {WATCHDOG_TIMEOUT}",
        BoardOptions(deadline=420),
    )
    try:
        dpu.board.start()
        dpu.m = dpu.accept()
        yield dpu
    finally:
        dpu.close()


def test_boots_and_calls_home_with_nic_and_identity(x86):
    m = x86.m
    assert x86.board.boots() == 1
    reply = m.get()
    eth0 = reply.data_ele.find(".//if:interfaces/if:interface[if:name='eth0']", NS)
    assert eth0 is not None, reply.data_xml
    assert eth0.findtext("if:oper-status", namespaces=NS) == "up"
    assert eth0.findtext("if:phys-address", namespaces=NS) == QEMU_MAC
    assert int(eth0.findtext("if:statistics/if:in-octets", namespaces=NS)) > 0
    assert reply.data_ele.find(".//if:interface[if:name='lo']", NS) is None
    chassis = reply.data_ele.find(".//hw:hardware/hw:component[hw:name='chassis']", NS)
    assert chassis is not None, reply.data_xml
    # q35's DMI tables name the machine; the firmware revision is the board's os-release
    assert "Q35" in (chassis.findtext("hw:model-name", namespaces=NS) or "")
    assert chassis.findtext("hw:firmware-rev", namespaces=NS) == "dpu-agent QEMU board (Debian 12 parts)"
    state = agent_state(m)
    assert state["last-reset-reason"] == "power-on"
    assert state["software-version"]


def test_selftest_on_the_board_while_the_agent_runs(x86):
    out = x86.board.shell("dpu-agent selftest --board linux", timeout=180)
    assert re.search(r"^ok\s+board linux: eth0 up " + QEMU_MAC, out, re.M), out
    assert re.search(r"^ok\s+watchdog: /dev/watchdog \(not armed\)", out, re.M), out
    assert re.search(r"^ok\s+configuration: /var/lib/dpu-agent/\S+ is valid", out, re.M), out
    assert out.rstrip().endswith("selftest: ok")


def test_init_script_stops_cleanly_without_reset_and_starts_again(x86):
    b, m = x86.board, x86.m
    agent_pid = b.shell(AGENT_PID).strip()
    out = b.shell("/etc/init.d/S50dpu-agent stop", timeout=60)
    # busybox's start-stop-daemon names what it stopped between the two
    assert re.search(r"\AStopping dpu-agent: .*^OK$", out, re.S | re.M), out
    # the agent is gone, and so is the session it served
    status, _ = b.run(f"kill -0 {agent_pid}")
    assert status != 0
    deadline = time.monotonic() + 20
    while m.connected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not m.connected
    b.wait_serial(r"watchdog /dev/watchdog disarmed \(magic close\)", 20)
    # magic close: well past the timeout, no watchdog action, no second boot
    time.sleep(WATCHDOG_TIMEOUT * 2 + 2)
    assert "WATCHDOG" not in b.qmp.names()
    assert b.boots() == 1
    out = b.shell("/etc/init.d/S50dpu-agent start")
    assert "Starting dpu-agent: OK" in out
    x86.listener.reset()
    m2 = x86.accept()
    assert agent_state(m2)["last-reset-reason"] == "power-on"
    m2.close_session()


def test_init_script_respawns_a_crashed_agent(x86):
    b = x86.board
    # no watchdog this time: under TCG the agent takes longer to start again
    # than the board's short watchdog timeout, which would reset the board
    b.shell("sed -i 's/--watchdog-timeout [0-9]*/--watchdog none/' /etc/default/dpu-agent")
    b.shell("/etc/init.d/S50dpu-agent restart", timeout=60)
    x86.listener.reset()
    x86.accept().close_session()
    first = b.shell(AGENT_PID).strip()
    b.shell(f"kill -KILL {first}")
    b.wait_serial(r"dpu-agent: exited with status 137, restarting in 2s", 30)
    m = x86.accept()
    second = b.shell(AGENT_PID).strip()
    assert second and second != first
    assert agent_state(m)["last-reset-reason"] == "unknown"
    out = b.shell("/etc/init.d/S50dpu-agent stop", timeout=60)
    assert re.search(r"^OK$", out, re.M), out
    assert b.run(f"kill -0 {second}")[0] != 0
    assert b.run("test -e /var/run/dpu-agent.pid")[0] != 0
