"""Server CPU per round trip of agents started from several checkouts, side
by side, for A/B comparisons of a change on a shared machine:

    python -m bench.checkouts [--rpcs N] [--rounds R] [--callgrind] TREE [TREE ...]

Each TREE is a checkout with its own ``.venv`` (``make .venv/.installed``);
its agent runs as the bench runs it (``dpu-agent run`` calling home to a
listener here, bench's asyncssh client). The figures are the rows of
``python -m bench --only rpc`` that every RPC shares the path of: the
empty-filter get-config (answered without walking the datastore: what
receiving, parsing, dispatching and answering an RPC costs), edit-config
(a rule's comment) and, with the bench's rule-lists loaded afterwards,
the cache-missed filtered get-config.

Default: CPU time from ``/proc/PID/task/*/schedstat``, blocks of N round
trips per checkout in turn, R rounds with the order reversed every other
round, the median block printed. ``--callgrind``: each agent under valgrind's
callgrind, instrumented only while the N round trips run, instructions per
round trip (one agent after the other: slow, but the same count on a loaded
machine). Nothing is asserted and nothing is written.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

from agent.callhome import build
from tests.support.process import agent_env

from .footprint import nacm_edit
from .nc import NetconfClient
from .rpc_rate import POLLED, load_rule_lists, rule_list_filter
from .settings import BenchSettings
from .subjects import AgentProcess, Listener

Call = Callable[[NetconfClient, int], Awaitable[str]]

CALLS: dict[str, Call] = {
    "empty-filter get-config": lambda c, i: c.get_config(""),
    "edit-config": lambda c, i: c.edit_config(nacm_edit(i)),
}
#: after the rule-lists are loaded (an edit's cost grows with running: as in bench.rpc_rate)
FILTERED: dict[str, Call] = {
    "filtered get-config, cache missed": lambda c, i: c.get_config(rule_list_filter(i % POLLED)),
}
WARM_UP = 30


class CheckoutAgent(AgentProcess):
    """The agent of another checkout: its interpreter and its sources."""

    def __init__(self, tree: Path, workdir: Path, yang_dirs: list[str], *, callgrind_out: Path | None = None) -> None:
        super().__init__(workdir, yang_dirs)
        self.tree = tree
        self.callgrind_out = callgrind_out

    def start(self, clients: list[build.Client] | None = None, log_level: str | None = "warning") -> None:
        python = self.tree / ".venv" / "bin" / "python"
        cmd = [str(python if python.exists() else sys.executable), "-m", "agent", "--log-level", log_level or "warning",
               "run", "--board", "sim", "--state-dir", str(self.state_dir)]
        if clients is not None:
            cmd += ["--config", str(self.write_config(clients))]
        for d in self.yang_dirs:
            cmd += ["--yang-dir", d]
        env = agent_env(self.yang_dirs)
        if self.callgrind_out is not None:
            cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={self.callgrind_out}.%p",
                   *cmd]
            env["PYTHONHASHSEED"] = "0"  # the same dict layouts in every run
        self.log = []
        self.popen = subprocess.Popen(cmd, cwd=self.tree, env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read_log, args=(self.popen,), daemon=True)
        self._reader.start()


async def _open(tree: Path, s: BenchSettings, name: str, callgrind_out: Path | None = None
                ) -> tuple[CheckoutAgent, Listener, NetconfClient]:
    agent = CheckoutAgent(tree, s.dir(name), s.yang_dirs, callgrind_out=callgrind_out)
    lst = Listener()
    agent.start([agent.client("m", [build.Endpoint("e", "127.0.0.1", lst.port, keepalives=(600, 3, 10))])])
    client = await agent.session(lst, timeout=300 if callgrind_out else 60)
    return agent, lst, client


async def _warm(client: NetconfClient, calls: dict[str, Call]) -> None:
    for call in calls.values():
        for i in range(WARM_UP):
            await call(client, i)


async def cpu_per_rpc(trees: list[Path], rpcs: int, rounds: int) -> dict[str, dict[Path, list[float]]]:
    """Milliseconds of the agent's CPU per round trip, per block: name -> tree -> blocks."""
    s = BenchSettings()
    opened = [await _open(t, s, f"agent-{k}") for k, t in enumerate(trees)]
    out: dict[str, dict[Path, list[float]]] = {}
    try:
        serial = 1000

        async def blocks(calls: dict[str, Call]) -> None:
            nonlocal serial
            for _, _, client in opened:
                await _warm(client, calls)
            for r in range(rounds):
                for name, call in calls.items():
                    for (agent, _, client), tree in (list(zip(opened, trees, strict=True)) if r % 2 == 0
                                                     else list(zip(opened, trees, strict=True))[::-1]):
                        before = agent.cpu().run
                        for _ in range(rpcs):
                            serial += 1
                            await call(client, serial)
                        out.setdefault(name, {}).setdefault(tree, []).append((agent.cpu().run - before) / rpcs * 1000)

        await blocks(CALLS)
        for (_, _, client), tree in zip(opened, trees, strict=True):
            await load_rule_lists(str(tree), client)
        await blocks(FILTERED)
    finally:
        for agent, lst, client in opened:
            client.abort()
            agent.stop()
            lst.close()
    return out


def _callgrind(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def _instructions(files: list[str]) -> int:
    total = 0
    for f in files:
        with open(f) as fh:
            for line in fh:
                if line.startswith(("totals:", "summary:")):
                    total = max(total, int(line.split()[1]))
    return total


async def instructions_per_rpc(trees: list[Path], rpcs: int) -> dict[str, dict[Path, list[float]]]:
    """Instructions per round trip under callgrind: name -> tree -> [count]."""
    s = BenchSettings()
    out: dict[str, dict[Path, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="dpu-bench-callgrind-") as tmp:
        for k, tree in enumerate(trees):
            base = Path(tmp) / f"cg{k}"
            agent, lst, client = await _open(tree, s, f"agent-{k}", callgrind_out=base)
            try:
                for calls in (CALLS, FILTERED):
                    if calls is FILTERED:
                        await load_rule_lists(str(tree), client)
                    for name, call in calls.items():
                        for i in range(WARM_UP):
                            await call(client, i)
                        for f in glob.glob(f"{base}.*"):
                            os.unlink(f)
                        _callgrind(agent.pid, "--zero")
                        _callgrind(agent.pid, "--instr=on")
                        for i in range(rpcs):
                            await call(client, 1000 + i)
                        _callgrind(agent.pid, "--instr=off")
                        _callgrind(agent.pid, "--dump")
                        await asyncio.sleep(0.5)
                        count = _instructions(glob.glob(f"{base}.*"))
                        out.setdefault(name, {})[tree] = [count / rpcs]
            finally:
                client.abort()
                agent.stop()
                lst.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.checkouts", description=__doc__.split("\n\n")[0])
    ap.add_argument("trees", nargs="+", type=Path, help="checkouts, each with its .venv")
    ap.add_argument("--rpcs", type=int, default=300, help="round trips per block (default 300)")
    ap.add_argument("--rounds", type=int, default=5, help="blocks per checkout and call (default 5)")
    ap.add_argument("--callgrind", action="store_true", help="instructions per round trip under callgrind")
    a = ap.parse_args()
    trees = [t.resolve() for t in a.trees]
    if a.callgrind:
        result = asyncio.run(instructions_per_rpc(trees, a.rpcs))
        for name, per_tree in result.items():
            for tree, (count,) in per_tree.items():
                print(f"{name:36s} {str(tree):24s} {count / 1000:8.1f} k instructions per round trip")
        return
    result = asyncio.run(cpu_per_rpc(trees, a.rpcs, a.rounds))
    for name, per_tree in result.items():
        first = per_tree[trees[0]]
        for tree, blocks in per_tree.items():
            # each block against the first checkout's in the same round: the
            # machine's other load moves both alike
            paired = statistics.median(b / f for b, f in zip(blocks, first, strict=True))
            print(f"{name:36s} {str(tree):24s} median {statistics.median(blocks):.3f} ms per round trip, "
                  f"{paired:.3f}x the first (blocks: {' '.join(f'{b:.3f}' for b in blocks)})")


if __name__ == "__main__":
    main()
