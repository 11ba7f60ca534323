"""Instructions the agent executes per round trip of the bench's reads, under
callgrind: a measure the machine's other load does not change, for A/B
comparisons of a change (CPU time per request varies by ±10 % on a shared
machine, more than most single changes save).

    python -m bench.rpc_instructions [--root CHECKOUT] [--requests N]

starts ``dpu-agent run`` from CHECKOUT (default: this one) under
``valgrind --tool=callgrind`` with instrumentation off, loads
:func:`bench.rpc_rate.rule_lists`, and for each read (empty filter, the same
filtered read repeated, the rule-lists read in turn so that every read misses
the reply cache) switches instrumentation on around N requests and prints the
instructions per request: the fewest and the median of a few rounds (a full
garbage collection falling in a round adds tens of thousands per request).
Valgrind makes the agent some 50 times slower: a few rounds of a few hundred
requests take a minute or two.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from agent.callhome import build

from .nc import NetconfClient
from .rpc_rate import EMPTY_FILTER, POLLED, load_rule_lists, rule_list_filter
from .settings import BenchSettings
from .subjects import AgentProcess, Listener, require

READS: dict[str, Callable[[NetconfClient, int], Awaitable[str]]] = {
    "empty-filter get-config": lambda c, i: c.get_config(EMPTY_FILTER),
    "filtered get-config, repeated": lambda c, i: c.get_config(rule_list_filter(0)),
    "filtered get-config, cache missed": lambda c, i: c.get_config(rule_list_filter(i % POLLED)),
}
WARM_UP = 30


class CallgrindAgent(AgentProcess):
    """The agent of ``root`` under callgrind, instrumentation off until asked."""

    def __init__(self, root: Path, workdir: Path, yang_dirs: list[str]) -> None:
        super().__init__(workdir, yang_dirs)
        self.root = root
        self.out = workdir / "callgrind.out"

    def start(self, clients: list[build.Client] | None = None, log_level: str | None = "warning") -> None:
        import tests.support.process as support

        wrapper = self.dir / "python-under-callgrind"
        wrapper.write_text(f'#!/bin/sh\nexec valgrind --tool=callgrind --instr-atstart=no '
                           f'--callgrind-out-file={self.out}.%p "{sys.executable}" "$@"\n')
        wrapper.chmod(0o755)
        executable, root = sys.executable, support.ROOT
        sys.executable, support.ROOT = str(wrapper), self.root  # the command and cwd AgentProcess uses
        try:
            super().start(clients, log_level)
        finally:
            sys.executable, support.ROOT = executable, root

    def control(self, *args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(self.pid)], check=True, capture_output=True)

    def instructions(self, dump: int) -> int:
        """Instructions counted in the ``dump``-th dump (1, 2, ...)."""
        for line in Path(f"{self.out}.{self.pid}.{dump}").read_text().splitlines():
            if line.startswith("totals:"):
                return int(line.split()[1])
        raise RuntimeError(f"no totals in callgrind dump {dump}")


async def measure(root: Path, requests: int, rounds: int, yang_dirs: list[str]) -> dict[str, list[float]]:
    """Instructions per round trip of each read, one figure per round."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-instructions-"))
    agent = CallgrindAgent(root, workdir, yang_dirs)
    listener = Listener()
    out: dict[str, list[float]] = {name: [] for name in READS}
    dump = 0
    try:
        # valgrind slows everything down: generous call-home and login waits
        agent.start([agent.client("m", [build.Endpoint("e", "127.0.0.1", listener.port, keepalives=(60, 3, 10))],
                                  max_wait=600)])
        client = await agent.session(listener, timeout=900)
        await load_rule_lists("agent", client)
        for _ in range(rounds):
            for name, read in READS.items():
                for i in range(WARM_UP):
                    await read(client, i)
                agent.control("--zero")
                agent.control("--instr=on")
                for i in range(requests):
                    await read(client, i)
                agent.control("--instr=off")
                agent.control("--dump")
                dump += 1
                out[name].append(agent.instructions(dump) / requests)
        client.abort()
    finally:
        listener.close()
        agent.stop()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                    help="the checkout whose agent runs (default: this one)")
    ap.add_argument("--requests", type=int, default=300, help="round trips per round and read")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    require("valgrind")
    result = asyncio.run(measure(args.root, args.requests, args.rounds, BenchSettings().yang_dirs))
    print(f"k instructions per round trip, fewest / median of {args.rounds} rounds of {args.requests} ({args.root}):")
    for name, per in result.items():
        print(f"  {name}: {min(per) / 1000:.0f} / {statistics.median(per) / 1000:.0f}")


if __name__ == "__main__":
    main()
