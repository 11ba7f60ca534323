"""Call-home setup time, TLS against SSH measured in the same run: from the
manager's accept() to the agent's <hello>, 10 rounds each, medians.

The manager side differs (ncclient/paramiko for SSH, Python ssl with
netconf-client's session for TLS), so the ratio is of the whole exchange,
not of the agent alone.

    DPU_AGENT_YANG_DIR=../shared/yang .venv/bin/python -m bench.callhome_setup
"""

from __future__ import annotations

import logging
import ssl
import statistics
import tempfile
import time
from pathlib import Path

from agent.callhome import build
from tests.support import Harness, yang_dir

ROUNDS = 10


def main() -> None:
    logging.disable(logging.WARNING)
    h = Harness(Path(tempfile.mkdtemp(prefix="bench-callhome-")), [yang_dir()])
    ssh_l, tls_l = h.listener(), h.listener()
    h.start(h.config([
        h.client("s", [build.Endpoint("a", "127.0.0.1", ssh_l.port)]),
        h.client("t", [build.Endpoint("a", "127.0.0.1", tls_l.port, transport="tls")], tls=h.tls.server()),
    ]))
    try:
        times: dict[str, list[float]] = {"ssh": [], "tls 1.3": [], "tls 1.2": []}
        for _ in range(ROUNDS):
            t0 = time.monotonic()
            m = ssh_l.accept(h)
            times["ssh"].append(time.monotonic() - t0)
            m.close_session()
            for version, name in ((ssl.TLSVersion.TLSv1_3, "tls 1.3"), (ssl.TLSVersion.TLSv1_2, "tls 1.2")):
                t0 = time.monotonic()
                m = tls_l.accept_tls(h.tls.context(version=version))
                times[name].append(time.monotonic() - t0)
                m.close_session()
        base = statistics.median(times["ssh"])
        for name, values in times.items():
            median = statistics.median(values)
            print(f"{name:8s} median {median * 1000:6.1f} ms   ratio to ssh {median / base:.2f}")
    finally:
        h.close()


if __name__ == "__main__":
    main()
