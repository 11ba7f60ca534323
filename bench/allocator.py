"""The agent on CPython's own small-object allocator (pymalloc) against the
C library's malloc (``PYTHONMALLOC=malloc``, as the init script starts it;
agent/memory.py): agents started in turn, interleaved, so that the machine's
other load falls on both alike.

    python -m bench.allocator [--starts N] [--edits N]

Per start: the agent's CPU time and wall clock to its first <hello>, RSS and
anonymous memory at rest. Then, per allocator, one agent through N rounds of
a 100 000-entry edit-config create and remove: anonymous memory above rest
after each round (what one object that outlives a large edit keeps resident).
Then both agents up at once for RPC rates, their blocks alternated
(bench/rpc_rate.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import time

from agent.callhome import build

from .rpc_rate import _rates
from .settings import BenchSettings
from .subjects import AgentProcess, Listener

ALLOCATORS = ("pymalloc", "malloc")
#: a keepalive some managers send: small, so it triggers no release of its own
PROBE = "<get-config><source><running/></source><filter/></get-config>"


def _groups(n: int, remove: bool = False) -> str:
    op = ' xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="remove"' if remove else ""
    groups = "".join(f"<group{op}><name>g{i}</name></group>" for i in range(n))
    return f'<nacm xmlns="{build.NS_NACM}"><groups>{groups}</groups></nacm>'


async def _agent(s: BenchSettings, allocator: str, name: str) -> tuple[AgentProcess, Listener]:
    os.environ["PYTHONMALLOC"] = allocator  # the agent's environment is the bench's (tests/support)
    agent = AgentProcess(s.dir(name), s.yang_dirs)
    lst = Listener()
    agent.start([agent.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])])
    return agent, lst


async def start(s: BenchSettings, allocator: str, n: int) -> tuple[float, float, int, int]:
    """(CPU seconds to <hello>, wall seconds, RSS kB, anon kB at rest)."""
    t0 = time.monotonic()
    agent, lst = await _agent(s, allocator, f"start-{allocator}-{n}")
    try:
        client = await agent.session(lst)
        wall = time.monotonic() - t0
        cpu = agent.cpu().run
        await client.get_config()
        await asyncio.sleep(1.5)
        mem = agent.memory()
        client.abort()
    finally:
        lst.close()
        agent.stop()
    return cpu, wall, mem.rss, mem.anon


async def edits(s: BenchSettings, allocator: str, rounds: int) -> list[int]:
    """Anonymous kB above rest after each 100 000-entry create and remove."""
    agent, lst = await _agent(s, allocator, f"edits-{allocator}")
    try:
        client = await agent.session(lst)

        async def settled() -> int:
            await client.rpc(PROBE)
            await asyncio.sleep(0.5)
            return agent.memory().anon

        await client.edit_config(_groups(1000))  # buffers and worker threads, once per process
        await client.edit_config(_groups(1000, True))
        rest = await settled()
        above = []
        for _ in range(rounds):
            await client.edit_config(_groups(100_000))
            await client.edit_config(_groups(100_000, True))
            above.append(await settled() - rest)
        client.abort()
    finally:
        lst.close()
        agent.stop()
    return above


def _spread(xs: list[float], fmt: str) -> str:
    return f"{fmt.format(min(xs))}-{fmt.format(max(xs))} (median {fmt.format(statistics.median(xs))})"


async def run(s: BenchSettings, starts: int, rounds: int, rpcs: int) -> None:
    results: dict[str, list[tuple[float, float, int, int]]] = {a: [] for a in ALLOCATORS}
    for n in range(starts):
        for allocator in (ALLOCATORS if n % 2 == 0 else ALLOCATORS[::-1]):
            results[allocator].append(await start(s, allocator, n))
    for allocator, rows in results.items():
        cpu, wall, rss, anon = (list(col) for col in zip(*rows, strict=True))
        print(f"{allocator}: start -> hello CPU {_spread(cpu, '{:.3f}')} s, wall {_spread(wall, '{:.2f}')} s; "
              f"at rest RSS {_spread(rss, '{:.0f}')} kB, anon {_spread(anon, '{:.0f}')} kB")
    ratios = [m[0] / p[0] for m, p in zip(results["malloc"], results["pymalloc"], strict=True)]
    print(f"malloc / pymalloc, CPU to hello per pair of starts: {_spread(ratios, '{:.2f}')}")
    if rpcs:
        up = {a: await _agent(s, a, f"rates-{a}") for a in ALLOCATORS}
        try:
            clients = {a: await agent.session(lst) for a, (agent, lst) in up.items()}
            rates = await _rates(clients, rpcs, {a: agent.cpu for a, (agent, _) in up.items()})
            for c in clients.values():
                c.abort()
        finally:
            for agent, lst in up.values():
                lst.close()
                agent.stop()
        print("malloc / pymalloc RPC rate: " + ", ".join(
            f"{name} {rates['malloc'][name] / rates['pymalloc'][name]:.2f}" for name in rates["malloc"]))
    if rounds:
        for allocator in ALLOCATORS:
            above = await edits(s, allocator, rounds)
            print(f"{allocator}: {rounds} x 100 000-entry create + remove, anon above rest after each: "
                  + ", ".join(f"{kb / 1024:+.1f}" for kb in above) + " MB")


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.allocator", description=__doc__.splitlines()[0])
    ap.add_argument("--starts", type=int, default=10, help="agent starts per allocator (default 10)")
    ap.add_argument("--rpcs", type=int, default=1000, help="RPCs of each kind for the rates (default 1000; 0: none)")
    ap.add_argument("--edits", type=int, default=3, help="rounds of the 100 000-entry edit (default 3; 0: none)")
    args = ap.parse_args()
    s = BenchSettings()
    try:
        asyncio.run(run(s, args.starts, args.edits, args.rpcs))
    finally:
        shutil.rmtree(s.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
