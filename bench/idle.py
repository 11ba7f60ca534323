"""Item 1 (and issue 3): what idle sessions cost. Agents with 1 and 5
call-home sessions idle, kernel TCP keepalives against SSH keepalives at the
same interval, and netconfd behind OpenSSH (ClientAliveInterval, the same
interval) with as many sessions; all windows run at once, each process
measured on its own. The agent also kicks its watchdog (every 10 s)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from agent.callhome import build

from . import process_cost as proc
from .nc import NetconfClient
from .report import Row, ratio
from .settings import BenchSettings
from .subjects import AgentProcess, Listener, Netconfd


@dataclass
class Window:
    name: str
    sessions: int
    pids: Callable[[], list[int]]
    cpu: proc.Cpu | None = None


async def _agent(s: BenchSettings, kind: str, n: int, opened: list, clients_out: list[NetconfClient]) -> AgentProcess:
    a = AgentProcess(s.dir(f"idle-{kind}-{n}"), s.yang_dirs)
    opened.append(a)
    lst = Listener()
    ka = s.keepalive
    if kind == "kernel":
        ep = dict(keepalives=(ka, 3, ka))
    elif kind == "ssh":
        ep = dict(ssh_keepalives=(ka, 3))
    else:
        ep = {}
    a.start([a.client(f"m{i}", [build.Endpoint("e", "127.0.0.1", lst.port, **ep)]) for i in range(n)] if n else None)
    try:
        for _ in range(n):
            c = await a.session(lst)
            clients_out.append(c)
            await c.get_config()
    finally:
        lst.close()
    return a


async def _netconfd(s: BenchSettings, n: int, opened: list, clients_out: list[NetconfClient]) -> Netconfd:
    d = Netconfd(client_alive=s.keepalive)
    opened.append(d)
    d.start()
    for _ in range(n):
        c = await d.session()
        clients_out.append(c)
        await c.get_config()
    return d


async def measure(s: BenchSettings) -> list[Row]:
    opened: list = []
    clients: list[NetconfClient] = []
    try:
        windows: list[Window] = []
        for kind in ("kernel", "ssh"):
            for n in (1, 5):
                a = await _agent(s, kind, n, opened, clients)
                windows.append(Window(f"agent-{kind}", n, lambda a=a: [a.pid]))
        a = await _agent(s, "none", 0, opened, clients)
        windows.append(Window("agent-none", 0, lambda a=a: [a.pid]))
        for n in (1, 5):
            d = await _netconfd(s, n, opened, clients)
            windows.append(Window("netconfd", n, d.pids))
        await asyncio.sleep(2)  # let start-up work settle
        before = {id(w): proc.total_cpu(w.pids()) for w in windows}
        pids_before = {id(w): sorted(w.pids()) for w in windows}
        await asyncio.sleep(s.window)
        for w in windows:
            assert sorted(w.pids()) == pids_before[id(w)], f"{w.name}: processes changed during the window"
            w.cpu = proc.total_cpu(w.pids()) - before[id(w)]
    finally:
        for c in clients:
            c.abort()
        for p in opened:
            p.stop()
    return _rows(s, windows)


def _rows(s: BenchSettings, windows: list[Window]) -> list[Row]:
    by = {(w.name, w.sessions): w.cpu for w in windows}
    secs = f"{s.window:.0f} s"
    ka = s.keepalive
    rows = []
    floor = by[("agent-none", 0)]
    rows.append(Row("1 idle", f"agent, no session (watchdog kicks only), {secs}: CPU ms / context switches",
                    f"{floor.run * 1000:.1f} / {floor.switches}"))
    for n in (1, 5):
        kernel, ssh, nd = by[("agent-kernel", n)], by[("agent-ssh", n)], by[("netconfd", n)]
        what = f"{n} idle session{'s' if n > 1 else ''}, {secs}"
        for label, other in ((f"agent, SSH keepalives every {ka} s", ssh),
                             (f"netconfd + OpenSSH, ClientAliveInterval {ka} s", nd)):
            rows.append(Row("1 idle", f"{what}, kernel keepalives every {ka} s: CPU ms",
                            f"{kernel.run * 1000:.1f}", f"{label}: {other.run * 1000:.1f}", ratio(kernel.run, other.run)))
            rows.append(Row("1 idle", f"{what}, kernel keepalives every {ka} s: context switches",
                            f"{kernel.switches}", f"{label}: {other.switches}", ratio(kernel.switches, other.switches)))
    return rows
