"""Item 5: how long the agent takes to notice a dead manager, against what
its configuration promises. The agent runs in network namespace `dpu`, the
manager in `nms` (tests/support/netns.py); the manager is blackholed 0.5 s after
the last exchange, and the time runs from the blackhole to the agent's log
line saying the connection is gone. Needs root."""

from __future__ import annotations

import asyncio
import socket
import time

from agent.callhome import build
from tests.support import netns

from .report import Row, ratio
from .settings import BenchSettings
from .subjects import AgentProcess, Listener

KA = (2, 3, 1)  # idle-time, max-probes, probe-interval
SSH_KA = (1, 2)  # max-wait, max-attempts
MANAGER = "192.0.2.2"


async def _case(s: BenchSettings, topo: netns.Topology, name: str, endpoint: dict, in_flight: bool = False) -> float:
    def make() -> Listener:
        sock = socket.socket()
        if in_flight:  # the manager's window closes after a few replies
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.bind((MANAGER, 0))
        return Listener(sock=sock)

    lst = netns.run_in(topo.nms, make)
    a = AgentProcess(s.dir(f"dead-{name}"), s.yang_dirs, netns=topo.dpu)
    try:
        a.start([a.client("nms", [build.Endpoint("a", MANAGER, lst.port, **endpoint)], max_attempts=1)], log_level="info")
        c = await a.session(lst)
        await c.get_config()
        if in_flight:
            c.conn._transport.pause_reading()  # the manager stops reading
            for _ in range(40):
                c.send("<get/>")
            await asyncio.sleep(1.5)  # replies pile up in flight
        else:
            await asyncio.sleep(0.5)
        topo.blackhole(MANAGER)
        t0 = time.monotonic()
        try:
            deadline = t0 + 30
            while time.monotonic() < deadline:
                for at, line in a.log:
                    if at >= t0 and "call home nms: connection to a" in line:
                        return at - t0
                await asyncio.sleep(0.02)
            raise RuntimeError(f"{name}: the agent did not notice the dead manager in 30 s")
        finally:
            c.abort()
            topo.unblackhole(MANAGER)
    finally:
        a.stop()
        lst.close()


async def measure(s: BenchSettings) -> list[Row]:
    why = netns.can_use_netns()
    if why is not None:
        return [Row("5 dead peer", f"skipped: {why}", "")]
    topo = netns.Topology()
    topo.create()
    try:
        idle = await _case(s, topo, "idle", {"keepalives": KA})
        flight = await _case(s, topo, "in-flight", {"keepalives": KA}, in_flight=True)
        ssh = await _case(s, topo, "ssh", {"ssh_keepalives": SSH_KA})
    finally:
        topo.destroy()
    budget = KA[0] + KA[1] * KA[2]
    ssh_bound = (SSH_KA[1] + 1) * SSH_KA[0] - 0.5
    cfg = f"idle {KA[0]} s + {KA[1]} probes × {KA[2]} s"
    return [
        Row("5 dead peer", f"idle session, manager blackholed; kernel keepalives {cfg}", f"{idle:.2f} s",
            f"configured: {budget} s", ratio(idle, budget)),
        Row("5 dead peer", "manager stops reading, replies in flight, then blackholed; TCP_USER_TIMEOUT",
            f"{flight:.2f} s", f"configured: {budget} s", ratio(flight, budget)),
        Row("5 dead peer", f"idle session, SSH keepalives max-wait {SSH_KA[0]} s, max-attempts {SSH_KA[1]}, "
            "no TCP keepalives", f"{ssh:.2f} s",
            f"(max-attempts + 1) × max-wait after the last data: {ssh_bound:.1f} s", ratio(ssh, ssh_bound)),
    ]
