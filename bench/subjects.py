"""The processes the bench measures, each started by the bench and killed by
it: the agent (``dpu-agent run``, a separate process calling home to a
listener here), and netconfd behind a private OpenSSH on loopback.

Nothing of the system's is changed: sshd runs with its own configuration
and host key in a temporary directory; the netconfd login user is created
only if missing.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncssh

from tests import support
from tests.support import ADMIN, Listener, free_port

from . import process_cost as proc
from .nc import NetconfClient

ROOT = support.ROOT
__all__ = ["ADMIN", "AgentProcess", "Listener", "Netconfd", "ROOT"]


#: the packages the running agent imports besides the standard library
AGENT_PACKAGES = ("agent", "libyang", "cbor2")


def compile_agent() -> None:
    """Byte-compile the agent and its packages, as installed agents are
    (Buildroot installs .pyc, pip compiles on install): without it, a
    checkout run with PYTHONDONTWRITEBYTECODE compiles every module from
    source at each start, which the start-up and memory figures would count."""
    import importlib.util

    dirs = [d for name in AGENT_PACKAGES for d in importlib.util.find_spec(name).submodule_search_locations]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], check=True, stdout=subprocess.DEVNULL)


def _kill(p: subprocess.Popen | None, sig: int = signal.SIGTERM, wait: float = 10) -> None:
    if p is None or p.poll() is not None:
        return
    p.send_signal(sig)
    try:
        p.wait(wait)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


class AgentProcess(support.AgentProcess):
    """``dpu-agent run`` (tests/support/process.py), measured: its CPU and
    memory, and the manager's sessions over bench's own NETCONF client."""

    def cpu(self) -> proc.Cpu:
        return proc.cpu(self.pid)

    def memory(self) -> proc.Memory:
        return proc.memory(self.pid)

    async def session(self, listener: Listener, timeout: float = 60) -> NetconfClient:
        """Accept the agent's next call home and log in as the manager."""
        sock = await listener.accept_async(timeout)
        return await NetconfClient.connect(sock=sock, username=ADMIN, key=self.client_key)

    def stop(self) -> None:
        super().stop(wait=10)
        if self.popen is not None and self.popen.returncode not in (0, None, -signal.SIGTERM):
            tail = "\n".join(line for _, line in self.log[-20:])
            print(f"bench: agent exited with {self.popen.returncode}:\n{tail}", file=sys.stderr)


NETCONFD_USER = "nctest"
#: seconds from connecting to netconfd's <hello> before the bench tries again
HELLO_TIMEOUT = 10


def ensure_user(name: str = NETCONFD_USER) -> None:
    """The login user of the netconfd baseline, created only if missing (no
    password: '*' lets public-key logins in and nothing else)."""
    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", name], check=True)
    subprocess.run(["usermod", "-p", "*", name], check=True)


class Netconfd:
    """yuma123 netconfd behind a private OpenSSH sshd on 127.0.0.1:``port``
    (Debian packages; the set-up of ../shared/research/anchors.md §8).

    ``client_alive``: OpenSSH's keepalives (ClientAliveInterval), seconds.
    netconfd keeps running in memory only (--with-startup: saved on
    <copy-config>, like the agent) and edits go to running (--target)."""

    def __init__(self, *, client_alive: int = 0, modules: tuple[str, ...] = ()) -> None:
        # its own directory: netconf-subsystem runs as the login user and must
        # reach netconfd's socket there
        self.dir = Path(tempfile.mkdtemp(prefix="dpu-bench-netconfd-"))
        self.dir.chmod(0o755)
        self.port = free_port()
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_alive = client_alive
        self.modules = modules
        self.sshd: subprocess.Popen | None = None
        self.netconfd: subprocess.Popen | None = None
        self.sockname = self.dir / "ncxserver.sock"

    def _write_sshd_config(self) -> Path:
        host_key = self.dir / "ssh_host_ed25519_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
        auth = self.dir / "authorized_keys"
        auth.write_text(self.client_key.export_public_key("openssh").decode())
        auth.chmod(0o644)
        cfg = self.dir / "sshd_config"
        cfg.write_text(
            f"ListenAddress 127.0.0.1:{self.port}\n"
            f"HostKey {host_key}\n"
            f"PidFile {self.dir / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {auth}\n"
            # the key file lies under /tmp, which StrictModes refuses
            "StrictModes no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
            f"AllowUsers {NETCONFD_USER}\n"
            f"ClientAliveInterval {self.client_alive}\nClientAliveCountMax 3\n"
            f'Subsystem netconf "/usr/sbin/netconf-subsystem --ncxserver-sockname={self.port}@{self.sockname}"\n'
        )
        return cfg

    def start_sshd(self) -> None:
        ensure_user()
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        cfg = self._write_sshd_config()
        self.sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", str(cfg), "-E", str(self.dir / "sshd.log")],
                                     stdin=subprocess.DEVNULL)
        _wait_port(self.port)

    def start_netconfd(self) -> None:
        startup = self.dir / "startup-cfg.xml"
        if not startup.exists():
            startup.write_text('<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"/>\n')
        cmd = ["/usr/sbin/netconfd", f"--superuser={NETCONFD_USER}", f"--port={self.port}", f"--startup={startup}",
               "--with-startup=true", "--target=running", f"--ncxserver-sockname={self.sockname}",
               f"--log={self.dir / 'netconfd.log'}", "--log-level=warn"]
        cmd += [f"--module={m}" for m in self.modules]
        self.netconfd = subprocess.Popen(cmd, cwd=self.dir, env=dict(os.environ, HOME=str(self.dir)),
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> None:
        self.start_sshd()
        self.start_netconfd()

    async def session(self, timeout: float = 30) -> NetconfClient:
        """Log in, retrying while netconfd is still starting (its socket not
        there yet, or, seen once, a session it took while starting and never
        sent its <hello> on: netconfd and netconf-subsystem both waiting in
        poll() for minutes)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return await asyncio.wait_for(
                    NetconfClient.connect(host="127.0.0.1", port=self.port, username=NETCONFD_USER,
                                          key=self.client_key), HELLO_TIMEOUT)
            except (ConnectionError, asyncssh.Error, OSError, TimeoutError):
                if time.monotonic() > deadline or (self.netconfd and self.netconfd.poll() is not None):
                    raise
                await asyncio.sleep(0.01)

    def pids(self) -> list[int]:
        """netconfd, the sshd listener and every session's OpenSSH processes
        (privileged monitor, user process, netconf-subsystem)."""
        out = []
        if self.netconfd is not None:
            out.append(self.netconfd.pid)
        if self.sshd is not None:
            out += proc.descendants(self.sshd.pid)
        return out

    def stop_netconfd(self) -> None:
        _kill(self.netconfd)
        self.netconfd = None
        try:
            self.sockname.unlink()
        except FileNotFoundError:
            pass

    def stop(self) -> None:
        self.stop_netconfd()
        if self.sshd is not None:
            # sessions' sshd processes go with their connections, the listener with SIGTERM
            for pid in proc.descendants(self.sshd.pid)[1:]:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            _kill(self.sshd)
            self.sshd = None
        shutil.rmtree(self.dir, ignore_errors=True)


def versions() -> dict[str, str]:
    out = {}
    for name, cmd in (("netconfd", ["dpkg-query", "-W", "-f", "${Version}", "netconfd"]),
                      ("OpenSSH", ["dpkg-query", "-W", "-f", "${Version}", "openssh-server"]),
                      ("libyang2", ["dpkg-query", "-W", "-f", "${Version}", "libyang2"]),
                      ("libssh", ["dpkg-query", "-W", "-f", "${Version}", "libssh-4"])):
        try:
            out[name] = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            out[name] = "?"
    return out


def _wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def require(tool: str) -> None:
    if shutil.which(tool) is None and not Path(tool).exists():
        raise SystemExit(f"bench: {tool} is missing (make bench installs it)")
