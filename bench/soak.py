"""The soak: many mixed NETCONF operations against a real agent process,
and its anonymous memory (/proc/PID/smaps_rollup) every 1000 of them. The
figure is the growth per 1000 operations after a warm-up, a least-squares
slope over every sample, and the same over the second half alone (target: 0
within noise, and growth that does not continue: a late slope near 0 is memory
that settled, one like the whole run's is a leak): a leak of a few bytes per
operation shows here long before it shows on a box.

    python -m bench.soak [--ops N]     (make stress runs 100 000; SOAK_OPS=N)
    python -m bench.soak --only edit   (one kind of operation: which one grows)

Operations, in turn: an empty-filter <get-config> (a common keepalive), a
<get-config>, an <edit-config>, a filtered <get>, <lock>/<unlock>; every
100 operations the session is closed and the next call home is taken.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time

from agent.callhome import build

from .footprint import nacm_edit
from .settings import BenchSettings
from .subjects import AgentProcess, Listener

#: the operation kinds, by the name ``--only`` takes
KINDS = {
    "keepalive": ("<get-config><source><running/></source><filter/></get-config>",),
    "get-config": ("<get-config><source><running/></source></get-config>",),
    "edit": (None,),  # an edit, different every time
    "get": ('<get><filter type="subtree"><agent-state xmlns="urn:dpu-agent:yang:dpu-agent"/></filter></get>',),
    "lock": ("<lock><target><candidate/></target></lock>", "<unlock><target><candidate/></target></unlock>"),
}
OPS = tuple(op for ops in KINDS.values() for op in ops)
SAMPLE_EVERY = 1000
#: Past the filling of what is bounded, which is growth but not a leak: the
#: replay log (agent/eventlog.py, 1000 events) takes about 5000 operations of
#: this mix to fill (an edit's config-change every 6, a session's start, end
#: and call-home-connected every 100).
WARMUP = 6000


def slope(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of (operations, kB): kB per operation."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


async def soak(s: BenchSettings, ops: int, kinds: tuple[str | None, ...] = OPS,
               session_ops: int = 100) -> tuple[list[tuple[int, int]], float]:
    agent = AgentProcess(s.dir("soak"), s.yang_dirs)
    lst = Listener()
    samples: list[tuple[int, int]] = []
    t0 = time.monotonic()
    try:
        agent.start([agent.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)], max_wait=1)])
        client = await agent.session(lst)
        for i in range(WARMUP + ops):
            op = kinds[i % len(kinds)]
            if op is None:
                await client.edit_config(nacm_edit(i))
            else:
                await client.rpc(op)
            if i % session_ops == session_ops - 1:
                await client.close()
                client = await agent.session(lst)
            if i >= WARMUP and (i - WARMUP) % SAMPLE_EVERY == 0:
                samples.append((i - WARMUP, agent.memory().anon))
                if len(samples) % 10 == 1:
                    print(f"soak: {i - WARMUP} operations, anon {samples[-1][1]} kB", file=sys.stderr, flush=True)
        await client.close()
        samples.append((ops, agent.memory().anon))
    finally:
        lst.close()
        agent.stop()
    return samples, time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=100_000, help="operations after the warm-up (default 100000)")
    ap.add_argument("--only", choices=sorted(KINDS), help="one kind of operation instead of all in turn")
    ap.add_argument("--session-ops", type=int, default=100, metavar="N",
                    help="operations per session before the next call home (default 100)")
    args = ap.parse_args()
    s = BenchSettings()
    kinds = KINDS[args.only] if args.only else OPS
    try:
        samples, seconds = asyncio.run(soak(s, args.ops, kinds, args.session_ops))
    finally:
        shutil.rmtree(s.workdir, ignore_errors=True)
    per_1000 = slope(samples) * 1000
    late = samples[len(samples) // 2:]
    late_per_1000 = slope(late) * 1000
    first, last = samples[0][1], samples[-1][1]
    what = args.only or "mixed"
    print(f"soak: {args.ops} {what} operations in {seconds:.0f} s ({args.ops / seconds:.0f}/s) after {WARMUP} of warm-up; "
          f"anon {first} -> {last} kB; growth {per_1000:+.2f} kB per 1000 operations "
          f"({per_1000 * 1024 / 1000:+.1f} B per operation); over the last {late[-1][0] - late[0][0]} "
          f"{late_per_1000:+.2f} kB per 1000")
    return 0


if __name__ == "__main__":
    sys.exit(main())
