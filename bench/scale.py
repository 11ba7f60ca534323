"""Item 7: the time of one small edit-config as the configuration grows from
10 to 10 000 list entries (ietf-interfaces interfaces), against netconfd
with the same entries; and what a full and an empty-filter <get-config>
cost at each size (issue 8)."""

from __future__ import annotations

import statistics
import time

from agent.callhome import build

from .nc import NetconfClient
from .report import Row, ratio
from .settings import BenchSettings
from .subjects import AgentProcess, Listener, Netconfd

NS_IF = "urn:ietf:params:xml:ns:yang:ietf-interfaces"
NS_IANAIFT = "urn:ietf:params:xml:ns:yang:iana-if-type"


def interfaces(first: int, last: int) -> str:
    entries = "".join(
        f"<interface><name>line{i}</name><type>ianaift:ethernetCsmacd</type><description>subscriber line {i}</description></interface>"
        for i in range(first, last)
    )
    return f'<interfaces xmlns="{NS_IF}" xmlns:ianaift="{NS_IANAIFT}">{entries}</interfaces>'


def one_edit(k: int) -> str:
    return f'<interfaces xmlns="{NS_IF}"><interface><name>line0</name><description>edit {k}</description></interface></interfaces>'


async def _median_ms(call, repeats: int) -> float:
    times = []
    for k in range(repeats):
        t0 = time.perf_counter()
        await call(k)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


async def series(c: NetconfClient, sizes: list[int], repeats: int) -> dict[int, dict[str, float]]:
    out = {}
    have = 0
    for size in sizes:
        await c.edit_config(interfaces(have, size))
        have = size
        out[size] = {
            "edit": await _median_ms(lambda k: c.edit_config(one_edit(k)), repeats),
            "get": await _median_ms(lambda k: c.get_config(), repeats),
            "empty": await _median_ms(lambda k: c.get_config(""), repeats),
        }
    return out


async def measure(s: BenchSettings) -> list[Row]:
    repeats = max(5, s.repeats * 3)
    a = AgentProcess(s.dir("scale-agent"), s.yang_dirs)
    lst = Listener()
    try:
        a.start([a.client("m", [build.Endpoint("e", "127.0.0.1", lst.port, keepalives=(60, 3, 10))])])
        c = await a.session(lst)
        agent = await series(c, s.scale_sizes, repeats)
        c.abort()
    finally:
        lst.close()
        a.stop()
    d = Netconfd(modules=("ietf-interfaces", "iana-if-type"))
    try:
        d.start()
        c = await d.session()
        base = await series(c, s.scale_sizes, repeats)
        c.abort()
    finally:
        d.stop()
    rows = []
    for size in s.scale_sizes:
        rows.append(Row("7 scale", f"edit-config of one entry, {size} entries configured (median of {repeats})",
                        f"{agent[size]['edit']:.1f} ms", f"netconfd + OpenSSH: {base[size]['edit']:.1f} ms",
                        ratio(agent[size]["edit"], base[size]["edit"])))
    small, big = s.scale_sizes[0], s.scale_sizes[-1]
    rows.append(Row("7 scale", f"edit-config growth, {big} ÷ {small} entries",
                    f"{agent[big]['edit'] / agent[small]['edit']:.2f}×",
                    f"netconfd + OpenSSH: {base[big]['edit'] / base[small]['edit']:.2f}×"))
    for size in (small, big):
        rows.append(Row("8 keepalive get-config", f"empty-filter get-config, {size} entries configured",
                        f"{agent[size]['empty']:.2f} ms", f"agent, full get-config: {agent[size]['get']:.1f} ms",
                        ratio(agent[size]["empty"], agent[size]["get"])))
    return rows
