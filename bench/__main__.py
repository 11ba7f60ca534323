"""``make bench``: how lean and fast the agent is, as ratios against
baselines run in the same session on the same machine; one table on stdout
and in bench/results.md.

    python -m bench [--only ITEM,...] [--no-write]     (BENCH_QUICK=1: short windows)

Items: idle memory startup rpc dead-peer store scale bbf. Needs root for
the netconfd baseline (its login user, a private sshd) and for dead-peer
detection (network namespaces).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import shutil
import sys
import time
from pathlib import Path

from . import bbf, dead_peer, footprint, idle, report, rpc_rate, scale, store_size
from . import subjects as procs
from .settings import BenchSettings


async def _store(s: BenchSettings):
    rows = store_size.measure(s.yang_dirs, repeat=50 if s.quick else 200)
    xml = rows[0]
    return [
        report.Row("6 store", f"{r.encoding}: bytes / load + validate", f"{r.size} / {r.load_ms:.2f} ms",
                   f"XML: {xml.size} / JSON load {r.load_ms / r.vs_json:.2f} ms", r.vs_xml)
        for r in rows[1:]
    ], "store: ratio is bytes ÷ XML bytes; load times are against libyang's own JSON parser (python -m bench.store_size)"


ITEMS = {
    "idle": idle.measure,
    "memory": footprint.memory,
    "startup": footprint.startup,
    "rpc": rpc_rate.measure,
    "dead-peer": dead_peer.measure,
    "store": _store,
    "scale": scale.measure,
    "bbf": bbf.measure,
}


async def run(s: BenchSettings, items: list[str]) -> tuple[list[report.Row], list[str]]:
    rows: list[report.Row] = []
    notes: list[str] = []
    for name in items:
        t0 = time.monotonic()
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        result = await ITEMS[name](s)
        if isinstance(result, tuple):
            result, note = result
            notes.append(note)
        rows += result
        print(f"bench: {name} took {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    return rows, notes


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--only", help=f"comma-separated items (default all: {','.join(ITEMS)})")
    ap.add_argument("--no-write", action="store_true", help="do not write bench/results.md")
    args = ap.parse_args()
    items = args.only.split(",") if args.only else list(ITEMS)
    unknown = [i for i in items if i not in ITEMS]
    if unknown:
        ap.error(f"unknown item(s) {', '.join(unknown)}")
    for tool in ("/usr/sbin/netconfd", "/usr/sbin/sshd", "ssh-keygen"):
        procs.require(tool)
    logging.disable(logging.WARNING)
    procs.compile_agent()
    s = BenchSettings()
    started = datetime.datetime.now(datetime.UTC)
    machine = report.machine()
    t0 = time.monotonic()
    try:
        rows, notes = asyncio.run(run(s, items))
    finally:
        shutil.rmtree(s.workdir, ignore_errors=True)
    notes += [
        "ratios are dpu-agent ÷ baseline: below 1 is less time, memory or CPU than the baseline, "
        "above 1 more round trips per second where the figure is a rate",
        "netconfd figures include OpenSSH: the sshd listener and, per session, sshd's privileged and user "
        "processes and netconf-subsystem; netconfd runs with --with-startup=true --target=running "
        "(running in memory, as the agent)",
        "the agent runs from byte-compiled modules (bench compiles them first), as installed",
        "CPU time is the scheduler's run time of every thread (/proc/PID/task/*/schedstat); context switches "
        "are voluntary + involuntary (/proc/PID/task/*/status); memory is /proc/PID/smaps_rollup",
    ]
    print(report.table(rows))
    print("\nNotes:\n" + "\n".join(f"- {n}" for n in notes))
    if not args.no_write and set(items) == set(ITEMS):
        text = report.results_md(rows, started=started, machine_text=machine, seconds=time.monotonic() - t0,
                                 quick=s.quick, notes=notes)
        Path(__file__).with_name("results.md").write_text(text)
        print("bench: wrote bench/results.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
