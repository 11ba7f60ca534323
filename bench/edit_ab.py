"""Server CPU per edit-config, this checkout against another one (A/B), for
work on the edit path on a shared machine, where rates say little:

    python -m bench.edit_ab --against ../main [--edits 4000] [--blocks 40]
    python -m bench.edit_ab --parts [--rule-lists] [--root ../main]

``--against``: the agent of each checkout (``dpu-agent run`` with that
checkout's venv, calling home as in bench/rpc_rate.py) takes the rpc row's
two edits (a rule's comment; a rule's action, which NACM re-reads) in
blocks, ABBA, over one session each; each agent's CPU is read from /proc
around its half-block. Printed: median CPU per edit of each, and the median
(and quartiles) of the per-block ratio this / other.

``--parts``: the datastore's share in one process (no transport, no XML
parse): copy running, apply the edit, validate, diff, free the old tree, as
edit-config does, on the rpc row's running configuration (``--rule-lists``:
with the rule-lists its filtered reads load); minimum of five rounds.
``--root`` runs it with another checkout's code (its venv).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agent.callhome import build

from .footprint import nacm_edit
from .rpc_rate import nacm_policy_edit
from .subjects import AgentProcess, Listener

KINDS: dict[str, Callable[[int], str]] = {"comment edit": nacm_edit, "policy edit": nacm_policy_edit}
ROOT = Path(__file__).resolve().parent.parent


class CheckoutAgent(AgentProcess):
    """``dpu-agent run`` from ``root`` with ``root``'s venv."""

    def __init__(self, root: Path, workdir: Path, yang_dirs: list[str]) -> None:
        super().__init__(workdir, yang_dirs)
        self.root = root

    def start(self, clients: list[build.Client] | None = None, log_level: str | None = "warning") -> None:
        from tests.support.process import agent_env

        cmd = [str(self.root / ".venv/bin/python"), "-m", "agent", "--log-level", log_level or "warning", "run",
               "--board", "sim", "--state-dir", str(self.state_dir), "--config", str(self.write_config(clients or []))]
        for d in self.yang_dirs:
            cmd += ["--yang-dir", d]
        self.log = []
        self.started_at = time.monotonic()
        self.popen = subprocess.Popen(cmd, cwd=self.root, env=agent_env(self.yang_dirs), stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read_log, args=(self.popen,), daemon=True)
        self._reader.start()


async def ab(roots: list[Path], edits: int, blocks: int, yang_dirs: list[str]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="edit-ab-"))
    agents, clients, listeners = [], [], []
    try:
        for k, root in enumerate(roots):
            lst = Listener()
            (tmp / str(k)).mkdir()
            a = CheckoutAgent(root, tmp / str(k), yang_dirs)
            a.start([a.client("m", [build.Endpoint("e", "127.0.0.1", lst.port, keepalives=(60, 3, 10))])])
            agents.append(a)
            listeners.append(lst)
            clients.append(await a.session(lst))
        for c in clients:  # warm up: the first edits build caches
            for i in range(30):
                for f in KINDS.values():
                    await c.edit_config(f(i))
        half = max(1, edits // blocks // 2)
        used: dict[tuple[int, str], list[float]] = {(k, kind): [] for k in range(len(roots)) for kind in KINDS}
        seq = 1000
        for _ in range(blocks):
            for kind, f in KINDS.items():
                order = list(range(len(roots)))
                for k in order + order[::-1]:  # ABBA: a drift of the machine's load falls on both alike
                    cpu0 = agents[k].cpu().run
                    for _ in range(half):
                        seq += 1
                        reply = await clients[k].edit_config(f(seq))
                        if "<ok/>" not in reply:
                            raise RuntimeError(f"edit refused by {roots[k]}: {reply}")
                    used[(k, kind)].append((agents[k].cpu().run - cpu0) / half)
        for kind in KINDS:
            for k, root in enumerate(roots):
                print(f"{kind}: {root}: {statistics.median(used[(k, kind)]) * 1000:.3f} ms CPU per edit (median)")
            if len(roots) == 2:
                a_, b_ = used[(0, kind)], used[(1, kind)]
                ratios = [(a_[2 * j] + a_[2 * j + 1]) / (b_[2 * j] + b_[2 * j + 1]) for j in range(len(a_) // 2)]
                q = statistics.quantiles(ratios, n=4)
                print(f"{kind}: {roots[0].name} / {roots[1].name}: median ratio {statistics.median(ratios):.3f} "
                      f"(quartiles {q[0]:.3f}-{q[2]:.3f}, {len(ratios)} blocks)")
        for c in clients:
            c.abort()
    finally:
        for lst in listeners:
            lst.close()
        for a in agents:
            a.stop()


#: running as the rpc row has it before its filtered reads: call-home configuration and NACM
RUNNING = (
    '<nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm"><groups><group><name>admin</name>'
    "<user-name>admin</user-name></group></groups><rule-list><name>admin</name><group>admin</group><rule>"
    "<name>permit-all</name><module-name>*</module-name><access-operations>*</access-operations>"
    "<action>permit</action></rule></rule-list></nacm>"
)


def parts(n: int = 2000, rule_lists: bool = False) -> None:
    import asyncssh

    from agent import modset
    from agent.datastore.edit import apply_edit
    from agent.netconf.xmltree import parse
    from agent.yang import Schema
    from tests.support import ADMIN, yang_dir
    from tests.support.listener import b64

    def config(body: str) -> object:
        return parse(f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">{body}</config>'.encode())

    schema = Schema(modset.search_dirs([yang_dir()]), modset.MODULES)
    key = asyncssh.generate_private_key("ssh-ed25519")
    client = build.Client("m", [build.Endpoint("e", "127.0.0.1", 4334, keepalives=(60, 3, 10))], max_wait=2,
                          users={ADMIN: [b64(key)]})
    run = schema.empty()
    apply_edit(schema, run, parse(build.config_xml([client], b64(key)).encode()))
    apply_edit(schema, run, config(RUNNING))
    if rule_lists:  # as the rpc row's filtered reads have it
        from .rpc_rate import rule_lists as polled

        apply_edit(schema, run, config(polled()))
    run.validate()
    partial = "since" in inspect.signature(run.validate).parameters
    for kind, f in KINDS.items():
        edits = [config(f(i)) for i in range(n)]
        best: dict[str, float] = {}
        for _ in range(5):
            t = dict.fromkeys(("copy", "apply", "validate", "diff", "free"), 0.0)
            for i in range(n):
                t0 = time.process_time()
                new = run.duplicate()
                t1 = time.process_time()
                apply_edit(schema, new, edits[i])
                t2 = time.process_time()
                new.validate(run) if partial else new.validate()
                t3 = time.process_time()
                run.diff(new, limit=100)
                t4 = time.process_time()
                run.free()
                run = new
                t5 = time.process_time()
                for step, a, b in (("copy", t0, t1), ("apply", t1, t2), ("validate", t2, t3), ("diff", t3, t4),
                                   ("free", t4, t5)):
                    t[step] += b - a
            for step, v in t.items():
                best[step] = min(best.get(step, 1e9), v / n * 1e6)
        print(f"{kind}: " + ", ".join(f"{step} {v:.1f}" for step, v in best.items())
              + f"; total {sum(best.values()):.1f} µs per edit")
    run.free()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--against", type=Path, help="the other checkout (with its .venv)")
    p.add_argument("--edits", type=int, default=4000)
    p.add_argument("--blocks", type=int, default=40)
    p.add_argument("--parts", action="store_true", help="the datastore's share, in one process")
    p.add_argument("--root", type=Path, help="with --parts: that checkout's code")
    p.add_argument("--rule-lists", action="store_true", help="with --parts: running holds the filtered reads' rule-lists")
    args = p.parse_args()
    if args.parts:
        if args.root is not None:
            # this file as bench.edit_ab of the other checkout (whose bench has the edits it imports)
            root = args.root.resolve()
            code = ("import sys, importlib.util; sys.path.insert(0, sys.argv[1]); import bench; "
                    "spec = importlib.util.spec_from_file_location('bench.edit_ab', sys.argv[2]); "
                    "m = importlib.util.module_from_spec(spec); sys.modules['bench.edit_ab'] = m; "
                    "spec.loader.exec_module(m); m.parts(rule_lists=sys.argv[3] == '1')")
            subprocess.run([str(root / ".venv/bin/python"), "-c", code, str(root), str(Path(__file__).resolve()),
                            "1" if args.rule_lists else "0"], cwd=root, check=True)
        else:
            parts(rule_lists=args.rule_lists)
        return
    if args.against is None:
        p.error("--against or --parts")
    from tests.support import yang_dir

    asyncio.run(ab([ROOT, args.against.resolve()], args.edits, args.blocks, [yang_dir()]))


if __name__ == "__main__":
    main()
