"""Network namespaces for fault tests: the agent's box (`dpu`) and the
managers' side (`nms`) joined by a veth pair from 192.0.2.0/24 (RFC 5737).

Namespaces are per thread in Linux, so the agent's event loop thread and
the managers' listening sockets can each live in their own namespace inside
this one test process.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import threading
from pathlib import Path

from .waiting import wait_for

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def can_use_netns() -> str | None:
    """None when the tests can create namespaces, else why not."""
    if os.geteuid() != 0:
        return "needs root to create network namespaces (CI runs as root)"
    for tool, package in (("ip", "iproute2"), ("nsenter", "util-linux")):
        if shutil.which(tool) is None:
            return f"needs {tool} ({package})"
    return None


def enter(name: str) -> None:
    """Move the calling thread into network namespace ``name``."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)


def run_in(name: str, fn):
    """Call ``fn`` in a thread inside namespace ``name`` (to create sockets there)."""
    result: dict = {}

    def target():
        try:
            enter(name)
            result["value"] = fn()
        except BaseException as exc:  # re-raised in the caller
            result["error"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


class Topology:
    DPU_ADDR = "192.0.2.1"
    NMS_ADDRS = ("192.0.2.2", "192.0.2.3")

    def __init__(self) -> None:
        tag = f"{os.getpid() % 100000}"
        self.dpu = f"dpu{tag}"
        self.nms = f"nms{tag}"
        self.dpu_if = "veth-dpu"
        self.nms_if = "veth-nms"
        #: sysfs as seen from `dpu`: /sys shows the namespace of whoever mounted it
        self.dpu_sys = Path(f"/tmp/dpu-agent-sys-{self.dpu}")

    @property
    def dpu_sys_net(self) -> Path:
        return self.dpu_sys / "class" / "net"

    def create(self) -> None:
        ip("netns", "add", self.dpu)
        ip("netns", "add", self.nms)
        ip("link", "add", self.dpu_if, "netns", self.dpu, "type", "veth", "peer", "name", self.nms_if, "netns", self.nms)
        ip("-n", self.dpu, "addr", "add", f"{self.DPU_ADDR}/24", "dev", self.dpu_if)
        for a in self.NMS_ADDRS:
            ip("-n", self.nms, "addr", "add", f"{a}/24", "dev", self.nms_if)
        for ns, dev in ((self.dpu, self.dpu_if), (self.nms, self.nms_if)):
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "set", dev, "up")
        self.dpu_sys.mkdir(exist_ok=True)
        subprocess.run(["nsenter", f"--net=/run/netns/{self.dpu}", "mount", "-t", "sysfs", "sysfs", str(self.dpu_sys)], check=True)
        # the pair is operationally up only once the kernel's link watch has run, which a
        # loaded machine delays by a second or more; the tests start from a link that is up
        operstate = self.dpu_sys_net / self.dpu_if / "operstate"
        if not wait_for(lambda: operstate.read_text().strip() == "up", timeout=10):
            raise RuntimeError(f"{self.dpu_if} is not up after 10 s: {operstate.read_text().strip()}")

    def sysctl(self, ns: str, key: str, value: str) -> None:
        """Set a per-namespace sysctl (net.*) without touching the host's."""
        path = Path("/proc/sys") / key.replace(".", "/")
        run_in(ns, lambda: path.write_text(value))

    def blackhole(self, source: str) -> None:
        """The manager at ``source`` stops answering: its packets to the DPU vanish."""
        ip("-n", self.nms, "rule", "add", "from", source, "blackhole")

    def unblackhole(self, source: str) -> None:
        ip("-n", self.nms, "rule", "del", "from", source, "blackhole")

    def dpu_link(self, up: bool) -> None:
        ip("-n", self.dpu, "link", "set", self.dpu_if, "up" if up else "down")

    def destroy(self) -> None:
        subprocess.run(["umount", str(self.dpu_sys)], check=False, capture_output=True)
        try:
            self.dpu_sys.rmdir()
        except OSError:
            pass
        for ns in (self.dpu, self.nms):
            ip("netns", "del", ns, check=False)
