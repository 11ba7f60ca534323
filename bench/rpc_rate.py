"""Item 4 (and issue 8): round trips per second over one SSH session, one
RPC in flight at a time, against the agent and netconfd; and the empty-filter
<get-config> some managers send as their keepalive (OpenDaylight, every
120 s), which the agent answers without walking the datastore."""

from __future__ import annotations

import time
from collections.abc import Callable

from agent.callhome import build

from . import process_cost as proc
from .footprint import nacm_edit
from .nc import NetconfClient
from .report import Row, ratio
from .settings import BenchSettings
from .subjects import AgentProcess, Listener, Netconfd

EMPTY_FILTER = ""


CALLS = {
    "get-config": lambda c, i: c.get_config(),
    "empty-filter get-config": lambda c, i: c.get_config(EMPTY_FILTER),
    "edit-config": lambda c, i: c.edit_config(nacm_edit(i)),
}
BLOCKS = 10


async def _rates(clients: dict[str, NetconfClient], n: int,
                 cpu: dict[str, Callable[[], proc.Cpu]]) -> dict[str, dict[str, float]]:
    """Round trips per second of each server, measured in turn in blocks of
    n / BLOCKS so that the machine's other load falls on both alike; and
    each server's CPU time per round trip (``cpu``: its processes' CPU so
    far), which the machine's other load changes far less than the rates."""
    elapsed = {(who, name): 0.0 for who in clients for name in CALLS}
    used = {(who, name): 0.0 for who in clients for name in CALLS}
    for c in clients.values():
        for call in CALLS.values():
            await call(c, 0)  # warm up
    per_block = max(1, n // BLOCKS)
    for b in range(BLOCKS):
        for name, call in CALLS.items():
            for who, c in clients.items():
                cpu0 = cpu[who]()
                t0 = time.perf_counter()
                for i in range(b * per_block + 1, (b + 1) * per_block + 1):
                    await call(c, i)
                elapsed[(who, name)] += time.perf_counter() - t0
                used[(who, name)] += (cpu[who]() - cpu0).run
    out: dict[str, dict[str, float]] = {who: {} for who in clients}
    for (who, name), secs in elapsed.items():
        out[who][name] = per_block * BLOCKS / secs
        out[who][f"{name} cpu"] = used[(who, name)] / (per_block * BLOCKS)
    for who, c in clients.items():
        out[who]["reply bytes"] = len(await c.get_config())
    return out


async def measure(s: BenchSettings) -> tuple[list[Row], str]:
    a = AgentProcess(s.dir("rpc-agent"), s.yang_dirs)
    lst = Listener()
    d = Netconfd()
    try:
        a.start([a.client("m", [build.Endpoint("e", "127.0.0.1", lst.port, keepalives=(60, 3, 10))])])
        d.start()
        clients = {"agent": await a.session(lst), "netconfd": await d.session()}
        rates = await _rates(clients, s.rpcs, {"agent": a.cpu, "netconfd": lambda: proc.total_cpu(d.pids())})
        for c in clients.values():
            c.abort()
    finally:
        lst.close()
        a.stop()
        d.stop()
    agent, base = rates["agent"], rates["netconfd"]
    rows = []
    for name in ("get-config", "edit-config", "empty-filter get-config"):
        rows.append(Row("4 RPC rate", f"{name} round trips/s, one session", f"{agent[name]:.0f}",
                        f"netconfd + OpenSSH: {base[name]:.0f}", ratio(agent[name], base[name])))
    for name in ("get-config", "edit-config"):
        mine, theirs = agent[f"{name} cpu"] * 1000, base[f"{name} cpu"] * 1000
        rows.append(Row("4 RPC rate", f"{name}: server CPU per round trip (lower is better)", f"{mine:.2f} ms",
                        f"netconfd + OpenSSH: {theirs:.2f} ms", ratio(mine, theirs)))
    rows.append(Row("8 keepalive get-config", "empty-filter get-config round trips/s vs a full get-config",
                    f"{agent['empty-filter get-config']:.0f}", f"agent, full get-config: {agent['get-config']:.0f}",
                    ratio(agent["empty-filter get-config"], agent["get-config"])))
    notes = (f"get-config replies: agent {agent['reply bytes']:.0f} bytes (call-home configuration with keys, NACM), "
             f"netconfd {base['reply bytes']:.0f} bytes")
    return rows, notes
