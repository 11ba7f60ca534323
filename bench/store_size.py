"""Size and load time of the stored configuration, per encoding.

A realistic DPU configuration (3 managers x 2 endpoints each, the device's
host key and two users with their SSH keys per manager, TCP keepalives,
reconnect strategies) as XML, RFC 7951 JSON, name-keyed YANG-CBOR and
SID-keyed YANG-CBOR, plus the store file itself (SID-keyed CBOR in its
header and checksum). Load = bytes to a validated libyang tree; its baseline
is libyang's own JSON parser, timed in the same run.

    python -m bench.store_size [--repeat N]     (from the repository root)

``measure()`` returns the rows for other reports (make bench).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import cbor2

from agent import initial_config, modset
from agent.callhome import build
from agent.datastore import yangcbor
from agent.datastore.persist import StartupStore
from agent.datastore.sids import SidMap
from agent.yang import Schema, Tree
from tests.support import b64


@dataclass(frozen=True)
class Row:
    encoding: str
    size: int
    #: size / size of the XML
    vs_xml: float
    #: median time to parse and validate, milliseconds
    load_ms: float
    #: load time / load time of the JSON (libyang's own parser)
    vs_json: float


def realistic_config() -> str:
    """The configuration as an XML <config>, with fresh keys (their sizes do not vary)."""
    host = asyncssh.generate_private_key("ssh-ed25519")
    clients = []
    for n, site in enumerate(["north", "south", "backup"], start=1):
        users = {
            "admin": [b64(asyncssh.generate_private_key("ssh-ed25519"))],
            "noc": [b64(asyncssh.generate_private_key("ecdsa-sha2-nistp256"))],
        }
        endpoints = [
            build.Endpoint(f"{site}-a", f"pma-{site}-a.operator.example.net", 4334, keepalives=(60, 3, 10)),
            build.Endpoint(f"{site}-b", f"192.0.2.{10 * n}", 4334, keepalives=(60, 3, 10)),
        ]
        clients.append(build.Client(f"pma-{site}", endpoints, users=users, start_with="last-connected",
                                    max_wait=10, max_attempts=3))
    return build.config_xml(clients, b64(host))


def _median_ms(fn: Callable[[], Tree], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        tree = fn()
        times.append(time.perf_counter() - t0)
        tree.free()
    return statistics.median(times) * 1000


def measure(yang_dirs: list[str] | None = None, repeat: int = 200) -> list[Row]:
    schema = Schema(modset.search_dirs(yang_dirs), modset.MODULES)
    sids = SidMap(schema)
    store = StartupStore("/nonexistent", schema, sids)  # only encodes and decodes
    with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
        f.write(realistic_config())
        f.flush()
        tree = initial_config.load(schema, Path(f.name))
    xml = tree.to_xml().encode()
    js = tree.to_json().encode()
    by_name = cbor2.dumps(yangcbor.encode_tree(tree))
    by_sid = cbor2.dumps(yangcbor.encode_tree(tree, sids))
    stored = store.encode(tree)
    tree.free()
    cases = [
        ("XML", xml, lambda: schema.parse(xml, "xml")),
        ("JSON (RFC 7951)", js, lambda: schema.parse(js, "json")),
        ("CBOR, name keys", by_name, lambda: yangcbor.to_tree(schema, cbor2.loads(by_name))),
        ("CBOR, SID keys", by_sid, lambda: yangcbor.to_tree(schema, cbor2.loads(by_sid), sids)),
        ("store file (format 2)", stored, lambda: store.decode(stored, "bench")),
    ]
    load = {name: _median_ms(fn, repeat) for name, _, fn in cases}
    baseline = load["JSON (RFC 7951)"]
    return [Row(name, len(data), len(data) / len(xml), load[name], load[name] / baseline) for name, data, _ in cases]


def table(rows: list[Row]) -> str:
    lines = ["| encoding | bytes | vs XML | load + validate | vs JSON |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.encoding} | {r.size} | {r.vs_xml:.2f} | {r.load_ms:.2f} ms | {r.vs_json:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200, help="loads per encoding (default 200)")
    ap.add_argument("--yang-dir", action="append", metavar="DIR")
    args = ap.parse_args()
    print(table(measure(args.yang_dir, args.repeat)))


if __name__ == "__main__":
    main()
