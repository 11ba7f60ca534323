"""Issue 9: the Broadband Forum module set (../shared/yang-bbf) — context
load time and memory, each in a fresh process — and edit-config latency
without plugins, with the BBF modules loaded, and with the reference G.fast
plugin (agent/plugins/gfast_sim.py) driving the simulated transceiver.

    python -m bench.bbf --child base|bbf DIR...   (one context load, JSON out)
"""

from __future__ import annotations

import ctypes
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from agent.callhome import build

from .footprint import nacm_edit
from .report import Row, ratio
from .settings import BenchSettings
from .subjects import ROOT, AgentProcess, Listener

PLUGIN = "agent.plugins.gfast_sim:GfastSimPlugin"
BBF_MODULES = ("bbf-fast:*", "bbf-fastdsl", "bbf-if-type")


def _child(which: str, dirs: list[str]) -> None:
    from agent import modset
    from agent.plugins.gfast_sim import GfastSimPlugin
    from agent.yang import Schema

    from . import process_cost as proc

    modules = dict(modset.MODULES)
    if which == "bbf":
        modules.update(GfastSimPlugin.modules)
    before, heap = proc.memory(os.getpid()), _heap()
    t0 = time.perf_counter()
    schema = Schema(modset.search_dirs(dirs), modules)
    took = time.perf_counter() - t0
    after = proc.memory(os.getpid())
    print(json.dumps({"seconds": took, "modules": len(schema.implemented_modules()),
                      "heap": _heap() - heap, "pss": after.pss - before.pss}))


def _heap() -> int:
    """Bytes allocated with malloc (glibc mallinfo2, every arena): libyang's
    context lives there, partly in pages the process already had."""
    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    info = libc.mallinfo2()
    return info.uordblks + info.hblkhd


def _context(which: str, dirs: list[str], repeats: int) -> dict:
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-m", "bench.bbf", "--child", which, *dirs], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
        runs.append(json.loads(out))
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _example_xml(s: BenchSettings) -> tuple[str, str]:
    """The Broadband Forum example line as an edit-config <config> body, and bbf-fast's namespace."""
    from agent import modset
    from agent.plugins.gfast_sim import GfastSimPlugin
    from agent.yang import Schema

    schema = Schema(modset.search_dirs([s.bbf_dir, *s.yang_dirs]), dict(modset.MODULES, **GfastSimPlugin.modules))
    tree = schema.parse((Path(s.bbf_dir) / "examples" / "fast-line.json").read_text(), "json")
    try:
        return tree.to_xml(), schema.namespace_of("bbf-fast")
    finally:
        tree.free()


def profile_edit(ns: str, k: int) -> str:
    rate = 1_000_000 - 1000 * (k % 2)
    return (f'<fast xmlns="{ns}"><service><downstream-data-rate-profile><name>ds-1g</name>'
            f"<maximum-net-data-rate>{rate}</maximum-net-data-rate></downstream-data-rate-profile></service></fast>")


async def _edit_latency(s: BenchSettings, example: str, ns: str, n: int) -> dict[str, dict[str, float]]:
    """Median edit-config times of three agents, measured in turn edit by
    edit, so that the machine's other load falls on all of them alike."""
    setups = {
        "plain": ((), s.yang_dirs, False),
        "modules": (tuple(a for m in BBF_MODULES for a in ("--module", m)), [s.bbf_dir, *s.yang_dirs], True),
        "plugin": (("--plugin", PLUGIN), [s.bbf_dir, *s.yang_dirs], True),
    }
    agents, listeners, calls = [], [], {}
    try:
        for name, (args, dirs, bbf) in setups.items():
            a = AgentProcess(s.dir(f"bbf-{name}"), dirs, args=args)
            agents.append(a)
            lst = Listener()
            listeners.append(lst)
            a.start([a.client("m", [build.Endpoint("e", "127.0.0.1", lst.port)])])
            c = await a.session(lst)
            calls[(name, "nacm")] = lambda k, c=c: c.edit_config(nacm_edit(k))
            if bbf:
                await c.edit_config(example)
                calls[(name, "profile")] = lambda k, c=c: c.edit_config(profile_edit(ns, k))
        times: dict[tuple[str, str], list[float]] = {key: [] for key in calls}
        for k in range(n + 1):
            for key, call in calls.items():
                t0 = time.perf_counter()
                await call(k)
                if k:  # the first is a warm-up
                    times[key].append(time.perf_counter() - t0)
    finally:
        for lst in listeners:
            lst.close()
        for a in agents:
            a.stop()
    out: dict[str, dict[str, float]] = {name: {} for name in setups}
    for (name, what), values in times.items():
        out[name][what] = statistics.median(values) * 1000
    return out


async def measure(s: BenchSettings) -> list[Row]:
    if s.bbf_dir is None:
        return [Row("9 BBF", "skipped: no ../shared/yang-bbf", "")]
    repeats = 3 if s.quick else 5
    base = _context("base", s.yang_dirs, repeats)
    bbf = _context("bbf", [s.bbf_dir, *s.yang_dirs], repeats)
    rows = [
        Row("9 BBF", f"YANG context load, {bbf['modules']} modules with bbf-fast (median of {repeats} processes)",
            f"{bbf['seconds'] * 1000:.0f} ms", f"agent's own {base['modules']} modules: {base['seconds'] * 1000:.0f} ms",
            ratio(bbf["seconds"], base["seconds"])),
        Row("9 BBF", "YANG context memory: malloc heap it holds / process PSS growth while loading",
            f"{bbf['heap'] / 2**20:.1f} / {bbf['pss'] / 1024:.1f} MB",
            f"agent's own modules: {base['heap'] / 2**20:.1f} / {base['pss'] / 1024:.1f} MB", ratio(bbf["heap"], base["heap"])),
    ]
    example, ns = _example_xml(s)
    n = 20 if s.quick else 100
    latency = await _edit_latency(s, example, ns, n)
    plain, modules, plugin = latency["plain"], latency["modules"], latency["plugin"]
    rows += [
        Row("9 BBF", f"edit-config (NACM rule), BBF modules + example line, no plugin (median of {n})",
            f"{modules['nacm']:.2f} ms", f"agent's own modules: {plain['nacm']:.2f} ms", ratio(modules["nacm"], plain["nacm"])),
        Row("9 BBF", "edit-config (NACM rule), with the G.fast plugin", f"{plugin['nacm']:.2f} ms",
            f"BBF modules, no plugin: {modules['nacm']:.2f} ms", ratio(plugin["nacm"], modules["nacm"])),
        Row("9 BBF", "edit-config (G.fast profile rate), with the G.fast plugin: validate + apply on the chip",
            f"{plugin['profile']:.2f} ms", f"BBF modules, no plugin: {modules['profile']:.2f} ms",
            ratio(plugin["profile"], modules["profile"])),
    ]
    return rows


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3:])
    else:
        raise SystemExit(__doc__)
