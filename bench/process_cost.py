"""What a process costs, read from /proc: CPU time, context switches, memory.

CPU time is the scheduler's (``/proc/PID/task/*/schedstat``, nanoseconds),
cross-checked with utime + stime of ``/proc/PID/stat`` (clock ticks, too
coarse for an idle process alone). Context switches are voluntary +
involuntary of every thread (``/proc/PID/task/*/status``): for an idle
process, the number of times it woke up. Memory is ``smaps_rollup``: RSS
counts shared pages in full in every process, PSS shares them out, anon is
what the process allocated itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Cpu:
    #: scheduler run time, seconds
    run: float
    #: utime + stime, seconds (clock-tick resolution)
    ticks: float
    #: voluntary + involuntary context switches
    switches: int

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.run - other.run, self.ticks - other.ticks, self.switches - other.switches)

    def __add__(self, other: Cpu) -> Cpu:
        return Cpu(self.run + other.run, self.ticks + other.ticks, self.switches + other.switches)


@dataclass(frozen=True)
class Memory:
    """Kilobytes."""

    rss: int
    pss: int
    anon: int

    def __add__(self, other: Memory) -> Memory:
        return Memory(self.rss + other.rss, self.pss + other.pss, self.anon + other.anon)


NO_CPU = Cpu(0.0, 0.0, 0)
NO_MEMORY = Memory(0, 0, 0)


def cpu(pid: int) -> Cpu:
    """Since the process started; threads that already ended count only in ``ticks``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = (int(fields[11]) + int(fields[12])) / TICK  # utime, stime
    run = 0
    switches = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            run += int((task / "schedstat").read_text().split()[0])
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
    return Cpu(run / 1e9, ticks, switches)


def memory(pid: int) -> Memory:
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0])
    return Memory(values["Rss"], values["Pss"], values["Anonymous"])


def total_cpu(pids: list[int]) -> Cpu:
    out = NO_CPU
    for pid in pids:
        try:
            out = out + cpu(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def total_memory(pids: list[int]) -> Memory:
    out = NO_MEMORY
    for pid in pids:
        try:
            out = out + memory(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return out


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out
