"""Process start to the manager holding the <hello>, boot from the store,
this checkout against another one (A/B), for work on the start-up on a
shared machine, where the start-up row's ratio moves with the machine's load
more than with a change of the agent:

    python -m bench.startup_ab --against ../main [--boots 25]

The agent of each checkout (``dpu-agent run`` with that checkout's venv and
compiled modules, as bench/subjects.py compile_agent does) first boots from
its --config, then boots from its store in turn with the other's, ABBA.
Printed per checkout: the median and minimum of the wall time to the
<hello> and of the process's CPU time (scheduler run time) at that moment.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from agent.callhome import build

from .edit_ab import ROOT, CheckoutAgent
from .subjects import Listener


class _StoreBoot(CheckoutAgent):
    """:class:`CheckoutAgent` that boots from its store when given no clients."""

    def start(self, clients: list[build.Client] | None = None, log_level: str | None = "warning") -> None:
        if clients is not None:
            super().start(clients, log_level)
            return
        from tests.support.process import agent_env

        cmd = [str(self.root / ".venv/bin/python"), "-m", "agent", "--log-level", log_level or "warning", "run",
               "--board", "sim", "--state-dir", str(self.state_dir)]
        for d in self.yang_dirs:
            cmd += ["--yang-dir", d]
        self.log = []
        self.started_at = time.monotonic()
        self.popen = subprocess.Popen(cmd, cwd=self.root, env=agent_env(self.yang_dirs), stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read_log, args=(self.popen,), daemon=True)
        self._reader.start()


async def ab(roots: list[Path], boots: int, yang_dirs: list[str]) -> None:
    for root in roots:
        subprocess.run([str(root / ".venv/bin/python"), "-m", "compileall", "-q", str(root / "agent")], check=True)
    tmp = Path(tempfile.mkdtemp(prefix="startup-ab-"))
    agents, listeners = [], []
    walls: list[list[float]] = [[] for _ in roots]
    cpus: list[list[float]] = [[] for _ in roots]
    try:
        for k, root in enumerate(roots):
            (tmp / str(k)).mkdir()
            a = _StoreBoot(root, tmp / str(k), yang_dirs)
            lst = Listener()
            agents.append(a)
            listeners.append(lst)
            a.start([a.client("m", [build.Endpoint("e", "127.0.0.1", lst.port)])])
            c = await a.session(lst)
            a.stop()
            c.abort()
            listeners[k] = lst.reset()
        for i in range(boots):
            for k in (range(len(roots)) if i % 2 == 0 else reversed(range(len(roots)))):
                a = agents[k]
                a.start(None)
                c = await a.session(listeners[k])
                walls[k].append(time.monotonic() - a.started_at)
                cpus[k].append(a.cpu().run)
                a.stop()
                c.abort()
                listeners[k] = listeners[k].reset()
    finally:
        for a in agents:
            a.stop()
        for lst in listeners:
            lst.close()
    for k, root in enumerate(roots):
        w, c = walls[k], cpus[k]
        print(f"{root}: to <hello> median {statistics.median(w) * 1000:.0f} ms (min {min(w) * 1000:.0f}), "
              f"CPU median {statistics.median(c) * 1000:.0f} ms (min {min(c) * 1000:.0f}), {len(w)} boots")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--against", type=Path, required=True, help="the other checkout (with its .venv)")
    p.add_argument("--boots", type=int, default=25, help="boots from the store of each checkout")
    args = p.parse_args()
    from tests.support import yang_dir

    asyncio.run(ab([ROOT, args.against.resolve()], args.boots, [yang_dir()]))


if __name__ == "__main__":
    main()
