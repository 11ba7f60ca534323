"""Item 4 (and issue 8): round trips per second over one SSH session, one
RPC in flight at a time, against the agent and netconfd; and the empty-filter
<get-config> some managers send as their keepalive (OpenDaylight, every
120 s), which the agent answers without walking the datastore.

The filtered reads select one NACM rule-list, data both servers hold alike
(:func:`rule_lists`). The agent answers a read it answered before, of a
datastore unchanged since, from its reply cache (agent/datastore/readcache.py):
a manager polling the same subtree gets that, and the "repeated" row measures
it; the "cache missed" row reads the rule-lists in turn, one more of them than
the cache keeps, so that every read is filtered and printed afresh."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from agent.callhome import build
from agent.datastore.readcache import MAX_ENTRIES

from . import process_cost as proc
from .footprint import nacm_edit
from .nc import NetconfClient
from .report import Row, ratio
from .settings import BenchSettings
from .subjects import AgentProcess, Listener, Netconfd

EMPTY_FILTER = ""

#: rule-lists both servers hold for the filtered reads: one more than the
#: agent's reply cache keeps, so that reading them in turn misses it every time
POLLED = MAX_ENTRIES + 1


def rule_lists(n: int = POLLED) -> str:
    """NACM rule-lists poll-0 … poll-(n-1), each of three rules for a group
    with no members (they apply to no one, so neither server's access
    decisions change), loaded into both servers before the reads."""
    lists = "".join(
        f"<rule-list><name>poll-{k}</name><group>operators-{k}</group>"
        f"<rule><name>no-nacm-writes</name><module-name>ietf-netconf-acm</module-name>"
        f"<access-operations>create update delete</access-operations><action>deny</action>"
        f"<comment>operators {k} do not change access control</comment></rule>"
        f"<rule><name>no-kill-session</name><module-name>ietf-netconf</module-name>"
        f"<rpc-name>kill-session</rpc-name><access-operations>exec</access-operations><action>deny</action></rule>"
        f"<rule><name>read-all</name><module-name>*</module-name><access-operations>read</access-operations>"
        f"<action>permit</action></rule></rule-list>"
        for k in range(n))
    return f'<nacm xmlns="{build.NS_NACM}">{lists}</nacm>'


def rule_list_filter(k: int) -> str:
    """A subtree filter selecting the rule-list poll-``k`` (RFC 6241 6.2.5: a content-match node on the key)."""
    return f'<nacm xmlns="{build.NS_NACM}"><rule-list><name>poll-{k}</name></rule-list></nacm>'


def nacm_policy_edit(i: int) -> str:
    """An edit that changes NACM's policy every time: a rule's action,
    permit and deny in turn (in a rule-list that names no group), where
    :func:`bench.footprint.nacm_edit` changes only a comment, which the agent
    knows is no policy."""
    action = "deny" if i % 2 else "permit"
    return (f'<nacm xmlns="{build.NS_NACM}"><rule-list><name>bench-policy</name><rule><name>r1</name>'
            f"<module-name>ietf-netconf</module-name><access-operations>exec</access-operations>"
            f"<action>{action}</action></rule></rule-list></nacm>")


#: on the servers' own data (the agent's call-home configuration and NACM; an
#: edit's cost in the agent grows with running, so these rows run before
#: :func:`rule_lists` is loaded and stay comparable with earlier runs)
CALLS: dict[str, Callable[[NetconfClient, int], Awaitable[str]]] = {
    "get-config": lambda c, i: c.get_config(),
    "edit-config": lambda c, i: c.edit_config(nacm_edit(i)),
    "policy edit-config": lambda c, i: c.edit_config(nacm_policy_edit(i)),
    "empty-filter get-config": lambda c, i: c.get_config(EMPTY_FILTER),
}
#: with :func:`rule_lists` loaded into both servers
FILTERED_CALLS: dict[str, Callable[[NetconfClient, int], Awaitable[str]]] = {
    "filtered get-config, repeated": lambda c, i: c.get_config(rule_list_filter(0)),
    "filtered get-config, cache missed": lambda c, i: c.get_config(rule_list_filter(i % POLLED)),
}
BLOCKS = 10


async def _rates(clients: dict[str, NetconfClient], n: int, cpu: dict[str, Callable[[], proc.Cpu]],
                 calls: dict[str, Callable[[NetconfClient, int], Awaitable[str]]] = CALLS) -> dict[str, dict[str, float]]:
    """Round trips per second of each server, measured in turn in blocks of
    n / BLOCKS so that the machine's other load falls on both alike; and
    each server's CPU time per round trip (``cpu``: its processes' CPU so
    far), which the machine's other load changes far less than the rates."""
    elapsed = {(who, name): 0.0 for who in clients for name in calls}
    used = {(who, name): 0.0 for who in clients for name in calls}
    for c in clients.values():
        for call in calls.values():
            await call(c, 0)  # warm up
    per_block = max(1, n // BLOCKS)
    for b in range(BLOCKS):
        for name, call in calls.items():
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
    return out


async def load_rule_lists(who: str, c: NetconfClient) -> None:
    """:func:`rule_lists` into one server, and each filter checked to select
    its rule-list there: a filter one server answered empty would compare nothing."""
    await c.edit_config(rule_lists())
    for k in range(POLLED):
        if f"<name>poll-{k}</name>" not in await c.get_config(rule_list_filter(k)):
            raise RuntimeError(f"bench: {who}'s filtered get-config does not hold rule-list poll-{k}")


async def measure(s: BenchSettings) -> tuple[list[Row], str]:
    a = AgentProcess(s.dir("rpc-agent"), s.yang_dirs)
    lst = Listener()
    d = Netconfd()
    try:
        a.start([a.client("m", [build.Endpoint("e", "127.0.0.1", lst.port, keepalives=(60, 3, 10))])])
        d.start()
        clients = {"agent": await a.session(lst), "netconfd": await d.session()}
        cpu = {"agent": a.cpu, "netconfd": lambda: proc.total_cpu(d.pids())}
        rates = await _rates(clients, s.rpcs, cpu)
        for who, c in clients.items():
            rates[who]["reply bytes"] = len(await c.get_config())
            await load_rule_lists(who, c)
        for who, more in (await _rates(clients, s.rpcs, cpu, FILTERED_CALLS)).items():
            rates[who].update(more)
        for who, c in clients.items():
            rates[who]["filtered reply bytes"] = len(await c.get_config(rule_list_filter(0)))
            c.abort()
    finally:
        lst.close()
        a.stop()
        d.stop()
    agent, base = rates["agent"], rates["netconfd"]
    rows = []
    names = ("get-config", "filtered get-config, repeated", "filtered get-config, cache missed", "edit-config",
             "policy edit-config", "empty-filter get-config")
    for name in names:
        rows.append(Row("4 RPC rate", f"{name} round trips/s, one session", f"{agent[name]:.0f}",
                        f"netconfd + OpenSSH: {base[name]:.0f}", ratio(agent[name], base[name])))
    for name in names:
        mine, theirs = agent[f"{name} cpu"] * 1000, base[f"{name} cpu"] * 1000
        rows.append(Row("4 RPC rate", f"{name}: server CPU per round trip (lower is better)", f"{mine:.2f} ms",
                        f"netconfd + OpenSSH: {theirs:.2f} ms", ratio(mine, theirs)))
    rows.append(Row("8 keepalive get-config", "empty-filter get-config round trips/s vs a full get-config",
                    f"{agent['empty-filter get-config']:.0f}", f"agent, full get-config: {agent['get-config']:.0f}",
                    ratio(agent["empty-filter get-config"], agent["get-config"])))
    notes = (f"RPC rate: get-config reads all of running, unfiltered: agent {agent['reply bytes']:.0f} bytes "
             f"(call-home configuration with keys, NACM), netconfd {base['reply bytes']:.0f} bytes (NACM); "
             f"edit-config changes a NACM rule's comment (no policy: the agent's NACM does not re-read it), "
             f"policy edit-config a rule's action, permit and deny in turn (NACM re-reads its policy each time); "
             f"the filtered get-config rows run afterwards, with {POLLED} NACM rule-lists of three rules loaded into "
             f"both servers, each read selecting one rule-list by name: agent {agent['filtered reply bytes']:.0f} "
             f"bytes, netconfd {base['filtered reply bytes']:.0f} bytes (the same data, indented); 'repeated' reads "
             f"the same one each time (the agent answers all but a block's first from its reply cache), "
             f"'cache missed' the {POLLED} in turn, one more than the cache keeps, so every read is filtered "
             f"and printed afresh")
    return rows, notes
