"""Items 2 and 3: memory (RSS, PSS, anon from smaps_rollup) at start, with 1
and 5 SSH sessions and after many RPCs; start-up from process start to the
manager holding the <hello>. netconfd's figures include OpenSSH: the sshd
listener and every session's sshd and netconf-subsystem processes."""

from __future__ import annotations

import asyncio
import statistics
import time

from agent.callhome import build

from . import process_cost as proc
from .nc import NetconfClient
from .report import Row, ratio
from .settings import BenchSettings
from .subjects import AgentProcess, Listener, Netconfd


def nacm_edit(i: int) -> str:
    """An edit both servers take and that changes something every time: the
    comment of a rule in a rule-list that names no group."""
    return (f'<nacm xmlns="{build.NS_NACM}"><rule-list><name>bench</name><rule><name>r1</name>'
            f"<module-name>*</module-name><access-operations>read</access-operations><action>permit</action>"
            f"<comment>edit {i}</comment></rule></rule-list></nacm>")


async def exercise(c: NetconfClient, count: int, start: int = 0) -> None:
    """``count`` RPCs: get-config and edit-config in turn."""
    for i in range(start, start + count):
        if i % 2:
            await c.edit_config(nacm_edit(i))
        else:
            await c.get_config()


def _mb(m: proc.Memory) -> str:
    return f"{m.pss / 1024:.1f} MB (RSS {m.rss / 1024:.1f}, anon {m.anon / 1024:.1f})"


async def _agent_memory(s: BenchSettings) -> dict[str, proc.Memory]:
    a = AgentProcess(s.dir("memory-agent"), s.yang_dirs)
    lst = Listener()
    out: dict[str, proc.Memory] = {}
    clients = []
    try:
        a.start([a.client(f"m{i}", [build.Endpoint("e", "127.0.0.1", lst.port, keepalives=(60, 3, 10))]) for i in range(5)])
        first = await lst.accept_async()  # started: its first call home is open, no SSH yet
        await asyncio.sleep(0.5)
        out["start"] = a.memory()
        c = await NetconfClient.connect(sock=first, username="admin", key=a.client_key)
        clients.append(c)
        await c.get_config()
        out["1"] = a.memory()
        for _ in range(4):
            clients.append(await a.session(lst))
        await asyncio.sleep(0.5)
        out["5"] = a.memory()
        await exercise(c, s.rpcs)
        out["rpcs"] = a.memory()
        await exercise(c, s.rpcs, s.rpcs)
        out["rpcs2"] = a.memory()
    finally:
        for c in clients:
            c.abort()
        lst.close()
        a.stop()
    return out


async def _netconfd_memory(s: BenchSettings) -> dict[str, proc.Memory]:
    d = Netconfd()
    out: dict[str, proc.Memory] = {}
    clients = []
    try:
        d.start()
        c = await d.session()  # waits for netconfd to be ready
        await c.close()
        await asyncio.sleep(0.5)
        out["start"] = proc.total_memory(d.pids())
        c = await d.session()
        clients.append(c)
        await c.get_config()
        out["1"] = proc.total_memory(d.pids())
        for _ in range(4):
            clients.append(await d.session())
        await asyncio.sleep(0.5)
        out["5"] = proc.total_memory(d.pids())
        await exercise(c, s.rpcs)
        out["rpcs"] = proc.total_memory(d.pids())
        await exercise(c, s.rpcs, s.rpcs)
        out["rpcs2"] = proc.total_memory(d.pids())
    finally:
        for c in clients:
            c.abort()
        d.stop()
    return out


def _per_further_session(m: dict[str, proc.Memory]) -> proc.Memory:
    """What each of sessions 2 to 5 added, idle, kB. Anonymous memory is what
    a session really costs: the agent's PSS also moves with how many other
    processes (other engineers' agents, tests) share its library pages, by
    more than a session adds, and netconfd's RSS counts each session's
    processes' shared libraries again."""
    return proc.Memory(*((b - a) // 4 for a, b in ((m["1"].rss, m["5"].rss), (m["1"].pss, m["5"].pss),
                                                     (m["1"].anon, m["5"].anon))))


async def memory(s: BenchSettings) -> list[Row]:
    agent = await _agent_memory(s)
    base = await _netconfd_memory(s)
    rows = []
    labels = {"start": "at start (agent: loaded, call home open, no SSH yet)", "1": "1 SSH session",
              "5": "5 SSH sessions", "rpcs": f"5 sessions, after {s.rpcs} RPCs",
              "rpcs2": f"5 sessions, after {2 * s.rpcs} RPCs"}
    for key, label in labels.items():
        rows.append(Row("2 memory", f"{label}: PSS", _mb(agent[key]), f"netconfd + OpenSSH: {_mb(base[key])}",
                        ratio(agent[key].pss, base[key].pss)))
    mine, theirs = _per_further_session(agent), _per_further_session(base)
    rows.append(Row("2 memory", "each further idle SSH session (1 → 5 sessions, ÷ 4): anonymous kB (RSS, PSS)",
                    f"{mine.anon:+d} (RSS {mine.rss:+d}, PSS {mine.pss:+d})",
                    f"netconfd + OpenSSH: {theirs.anon:+d} (RSS {theirs.rss:+d}, PSS {theirs.pss:+d})",
                    ratio(mine.anon, theirs.anon)))
    grow_a = agent["rpcs2"].pss - agent["rpcs"].pss
    grow_b = base["rpcs2"].pss - base["rpcs"].pss
    rows.append(Row("2 memory", f"growth over the second {s.rpcs} RPCs: PSS kB", f"{grow_a:+d}",
                    f"netconfd + OpenSSH: {grow_b:+d}"))
    return rows


async def startup(s: BenchSettings) -> list[Row]:
    """Process start to the manager holding the <hello>: the agent's first
    boot (store written from --config) and boots from its store; netconfd
    from its start (sshd already listening) to a session's <hello>. The
    agent's and netconfd's boots take turns: this machine's speed changes
    over minutes, and boots of one server all before the other's moved the
    ratio more than any change of the agent did."""
    a = AgentProcess(s.dir("startup-agent"), s.yang_dirs)
    lst = Listener()
    d = Netconfd()
    boots: list[float] = []
    base: list[float] = []
    try:
        d.start_sshd()
        clients = [a.client("m", [build.Endpoint("e", "127.0.0.1", lst.port)])]
        a.start(clients)
        c = await a.session(lst)
        first = time.monotonic() - a.started_at
        a.stop()
        c.abort()
        lst = lst.reset()
        for _ in range(max(5, s.repeats)):
            a.start(None)
            c = await a.session(lst)
            boots.append(time.monotonic() - a.started_at)
            a.stop()
            c.abort()
            lst = lst.reset()
            t0 = time.monotonic()
            d.start_netconfd()
            c = await d.session()
            base.append(time.monotonic() - t0)
            c.abort()
            d.stop_netconfd()
    finally:
        lst.close()
        a.stop()
        d.stop()
    agent, netconfd = statistics.median(boots), statistics.median(base)
    return [
        Row("3 start-up", f"process start → manager has <hello>, boot from the store (median of {len(boots)})",
            f"{agent * 1000:.0f} ms", f"netconfd start → <hello> over OpenSSH: {netconfd * 1000:.0f} ms",
            ratio(agent, netconfd)),
        Row("3 start-up", "first boot (store written from --config)", f"{first * 1000:.0f} ms"),
    ]
