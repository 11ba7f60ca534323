"""Item 4 (and issue 8): round trips per second over one SSH session, one
RPC in flight at a time, against the agent and netconfd; and the empty-filter
<get-config> some managers send as their keepalive (OpenDaylight, every
120 s), which the agent answers without walking the datastore."""

from __future__ import annotations

import time

from agent.callhome import build

from .footprint import nacm_edit
from .nc import NetconfClient
from .procs import AgentProcess, Listener, Netconfd
from .report import Row, ratio
from .settings import BenchSettings

EMPTY_FILTER = ""


async def _rates(c: NetconfClient, n: int) -> dict[str, float]:
    out = {}
    for name, call in (
        ("get-config", lambda i: c.get_config()),
        ("empty-filter get-config", lambda i: c.get_config(EMPTY_FILTER)),
        ("edit-config", lambda i: c.edit_config(nacm_edit(i))),
    ):
        await call(0)  # warm up
        t0 = time.perf_counter()
        for i in range(1, n + 1):
            await call(i)
        out[name] = n / (time.perf_counter() - t0)
    out["reply bytes"] = len(await c.get_config())
    return out


async def measure(s: BenchSettings) -> list[Row]:
    a = AgentProcess(s.dir("rpc-agent"), s.yang_dirs)
    lst = Listener()
    try:
        a.start([a.client("m", [build.Endpoint("e", "127.0.0.1", lst.port, keepalives=(60, 3, 10))])])
        c = await a.session(lst)
        agent = await _rates(c, s.rpcs)
        c.abort()
    finally:
        lst.close()
        a.stop()
    d = Netconfd()
    try:
        d.start()
        c = await d.session()
        base = await _rates(c, s.rpcs)
        c.abort()
    finally:
        d.stop()
    rows = []
    for name in ("get-config", "edit-config", "empty-filter get-config"):
        rows.append(Row("4 RPC rate", f"{name} round trips/s, one session", f"{agent[name]:.0f}",
                        f"netconfd + OpenSSH: {base[name]:.0f}", ratio(agent[name], base[name])))
    rows.append(Row("8 keepalive get-config", "empty-filter get-config round trips/s vs a full get-config",
                    f"{agent['empty-filter get-config']:.0f}", f"agent, full get-config: {agent['get-config']:.0f}",
                    ratio(agent["empty-filter get-config"], agent["get-config"])))
    notes = (f"get-config replies: agent {agent['reply bytes']:.0f} bytes (call-home configuration with keys, NACM), "
             f"netconfd {base['reply bytes']:.0f} bytes")
    return rows, notes
