"""The bench's one table and bench/results.md."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from . import subjects as procs


@dataclass(frozen=True)
class Row:
    item: str
    measure: str
    agent: str
    #: what the agent is compared with, and its figure
    baseline: str = ""
    #: agent figure / baseline figure (None: no baseline, or it is zero)
    ratio: float | None = None


def ratio(agent: float, baseline: float) -> float | None:
    return agent / baseline if baseline else None


def table(rows: list[Row]) -> str:
    lines = ["| # | measure | dpu-agent | baseline (same run) | agent ÷ baseline |", "|---|---|---:|---|---:|"]
    for r in rows:
        q = "" if r.ratio is None else f"{r.ratio:.2f}" if r.ratio >= 0.1 else f"{r.ratio:.3f}"
        lines.append(f"| {r.item} | {r.measure} | {r.agent} | {r.baseline} | {q} |")
    return "\n".join(lines)


def machine() -> str:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kb = 0
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        pass
    os_name = "?"
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{model}, {os.cpu_count()} cores, {mem_kb // 1024} MiB; {os_name}, Linux {platform.release()}; "
            f"load average at start {load}")


def versions() -> str:
    def v(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "?"

    debs = procs.versions()
    return (f"dpu-agent {v('dpu-agent')}, Python {platform.python_version()}, libssh {debs['libssh']}, "
            f"libyang (Python) {v('libyang')} over libyang2 {debs['libyang2']}, cbor2 {v('cbor2')}; "
            f"the bench's manager: asyncssh {v('asyncssh')}; "
            f"baseline: netconfd {debs['netconfd']} (yuma123), OpenSSH {debs['OpenSSH']}")


def results_md(rows: list[Row], *, started: datetime.datetime, machine_text: str, seconds: float, quick: bool,
               notes: list[str]) -> str:
    mode = "BENCH_QUICK=1 (short windows)" if quick else "full"
    out = [
        "# dpu-agent benchmark results",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')} ({mode}, {seconds:.0f} s)",
        f"- machine: {machine_text}",
        f"- versions: {versions()}",
        f"- command: `make bench` ({' '.join(sys.argv[1:]) or 'python -m bench'})",
        "",
        table(rows),
        "",
        "Notes:",
        "",
    ]
    out += [f"- {n}" for n in notes]
    return "\n".join(out) + "\n"
