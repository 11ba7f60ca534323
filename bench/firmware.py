"""Issue 19: the cost of a firmware download and install on the simulated board.

    python -m bench.firmware [--mib 64]

- download: agent/fetch.py (asyncio streams, stdlib) against curl fetching the
  same file from the same loopback HTTP server, as a time ratio; and the
  event loop's worst lag during the download (a 10 ms timer's lateness):
  other sessions wait at most that long.
- install: SimSlots.install (split, ``openssl cms -verify``, SHA-256, move
  into the slot) against ``sha256sum`` of the same bundle (reading it once).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from agent.fetch import fetch
from agent.hal.slots import SimSlots


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _sign(tmp: Path, payload: Path) -> Path:
    key, cert, sig = tmp / "ca.key", tmp / "ca.pem", tmp / "sig.der"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=bench vendor", "-days", "2"],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "cms", "-sign", "-binary", "-in", str(payload), "-signer", str(cert), "-inkey", str(key),
                    "-outform", "DER", "-out", str(sig)], check=True, capture_output=True)
    bundle = tmp / "www" / "image.bundle"
    with open(bundle, "wb") as out, open(payload, "rb") as src:
        shutil.copyfileobj(src, out, 1 << 20)
        data = sig.read_bytes()
        out.write(data + len(data).to_bytes(8, "big"))
    return bundle


async def _agent_fetch(url: str, dest: Path) -> tuple[float, float]:
    lag = 0.0
    stop = False

    async def ticker():
        nonlocal lag
        loop = asyncio.get_running_loop()
        while not stop:
            t = loop.time()
            await asyncio.sleep(0.01)
            lag = max(lag, loop.time() - t - 0.01)

    tick = asyncio.create_task(ticker())
    t0 = time.perf_counter()
    if url:
        await fetch(url, dest, max_size=1 << 40, timeout=30)
    else:
        await asyncio.sleep(0.3)  # the baseline: the same loop with nothing to do
    took = time.perf_counter() - t0
    stop = True
    await tick
    return took, lag


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=64)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        (tmp / "www").mkdir()
        payload = tmp / "payload"
        with open(payload, "wb") as f:
            f.write(b'{"compatible": "dpu-sim", "version": "bench"}\n')
            for _ in range(args.mib):
                f.write(os.urandom(1 << 20))
        bundle = _sign(tmp, payload)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(tmp / "www")))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/image.bundle"
        agent_times, curl_times, lags, idle_lags = [], [], [], []
        for _ in range(3):
            idle_lags.append(asyncio.run(_agent_fetch("", tmp / "got"))[1])
            took, lag = asyncio.run(_agent_fetch(url, tmp / "got"))
            agent_times.append(took)
            lags.append(lag)
            t0 = time.perf_counter()
            subprocess.run(["curl", "-s", "-o", str(tmp / "got-curl"), url], check=True)
            curl_times.append(time.perf_counter() - t0)
        server.shutdown()
        a, c = min(agent_times), min(curl_times)
        print(f"download {args.mib} MiB: agent {a:.2f} s ({args.mib / a:.0f} MiB/s), curl {c:.2f} s; ratio {a / c:.2f}; "
              f"worst event-loop lag {min(lags) * 1000:.1f} ms (idle loop in the same run: {min(idle_lags) * 1000:.1f} ms)")
        slots = SimSlots(tmp / "slots", tmp / "ca.pem")
        t0 = time.perf_counter()
        subprocess.run(["sha256sum", str(bundle)], check=True, capture_output=True)
        base = time.perf_counter() - t0
        t0 = time.perf_counter()
        slots.install(bundle, "B")
        inst = time.perf_counter() - t0
        print(f"install {args.mib} MiB (verify + hash + write): {inst:.2f} s; sha256sum {base:.2f} s; ratio {inst / base:.2f}")


if __name__ == "__main__":
    main()
