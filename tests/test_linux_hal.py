"""The Linux HAL against a real kernel: sysfs NICs, rtnetlink link events and
addresses inside a private network namespace, identity from a fake root."""

from __future__ import annotations

import asyncio
import struct
import threading

import pytest

from agent.hal import netlink
from agent.hal.linux import LinuxNics, read_identity

from .support import netns

reason = netns.can_use_netns()


@pytest.fixture
def topo():
    if reason:
        pytest.skip(reason)
    t = netns.Topology()
    t.create()
    yield t
    t.destroy()


def test_nics_listed_from_sysfs_inside_the_namespace(topo):
    nics = LinuxNics(topo.dpu_sys_net).list()
    (veth,) = nics
    assert veth.name == topo.dpu_if and veth.oper_up
    assert len(veth.mac.split(":")) == 6 and veth.mtu == 1500
    assert veth.counters.tx_packets >= 0


def test_interface_of_an_address(topo):
    nics = LinuxNics(topo.dpu_sys_net)
    assert netns.run_in(topo.dpu, lambda: nics.interface_of(topo.DPU_ADDR)) == topo.dpu_if
    assert netns.run_in(topo.dpu, lambda: nics.interface_of("198.51.100.1")) is None


def test_link_events_arrive_through_netlink(topo):
    events: list[tuple[str, bool]] = []
    got = threading.Event()
    subscribed = threading.Event()
    loop = asyncio.new_event_loop()

    def listener(name, up):
        events.append((name, up))
        got.set()

    def subscribe(nics):
        nics.subscribe(listener)
        subscribed.set()

    def run():
        netns.enter(topo.dpu)
        asyncio.set_event_loop(loop)
        nics = LinuxNics(topo.dpu_sys_net)
        loop.call_soon(subscribe, nics)
        loop.run_forever()
        nics.close()

    t = threading.Thread(target=run)
    t.start()
    try:
        # subscribe() reads the links' states first: a link flipped before
        # that is its starting state, not an event
        assert subscribed.wait(5), "the subscription did not start"
        for up in (False, True):
            got.clear()
            topo.dpu_link(up)
            assert got.wait(5), f"no event for link {'up' if up else 'down'}"
            assert events[-1] == (topo.dpu_if, up)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        t.join(5)
    # repeated RTM_NEWLINK messages for the same state are not reported twice
    assert events == [(topo.dpu_if, False), (topo.dpu_if, True)]


def test_parse_link_event_message():
    attr = struct.pack("=HH", 4 + 6, netlink.IFLA_IFNAME) + b"eth9\0\0" + struct.pack("=HH", 5, netlink.IFLA_OPERSTATE) + b"\x06\0\0\0"
    body = struct.pack("=BxHiII", 0, 1, 7, netlink.IFF_UP | netlink.IFF_RUNNING, 0) + attr
    msg = struct.pack("=IHHII", 16 + len(body), netlink.RTM_NEWLINK, 0, 0, 0) + body
    (ev,) = netlink.parse_link_events(msg)
    assert (ev.index, ev.name, ev.up) == (7, "eth9", True)
    assert netlink.parse_link_events(msg[:10]) == []  # truncated: ignored, not an exception


def test_identity_from_dmi_and_device_tree(tmp_path):
    dmi = tmp_path / "sys/class/dmi/id"
    dmi.mkdir(parents=True)
    (dmi / "product_serial").write_text("SN-123\n")
    (dmi / "product_name").write_text("Q35 DPU\n")
    (dmi / "sys_vendor").write_text("QEMU\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text('PRETTY_NAME="DPU firmware 1.2"\nVERSION_ID=1.2\n')
    ident = read_identity(tmp_path)
    assert (ident.serial_number, ident.model, ident.manufacturer, ident.firmware_version) == ("SN-123", "Q35 DPU", "QEMU", "DPU firmware 1.2")
    dt = tmp_path / "dt-root"
    (dt / "proc/device-tree").mkdir(parents=True)
    (dt / "proc/device-tree/serial-number").write_bytes(b"ARM-77\0")
    (dt / "proc/device-tree/model").write_bytes(b"virt board\0")
    ident = read_identity(dt)
    assert (ident.serial_number, ident.model) == ("ARM-77", "virt board")
