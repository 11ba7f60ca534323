"""The agent as a separate process (``python -m agent``), as the firmware
runs it: one-shot commands (:func:`run_agent`) and ``dpu-agent run``
(:class:`AgentProcess`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import asyncssh

from agent.callhome import build
from agent.transport.keys import write_key_file

from .listener import b64
from .paths import ROOT

#: the manager's user the process's configuration lets in
ADMIN = "admin"


def agent_env(yang_dirs) -> dict[str, str]:
    dirs = [yang_dirs] if isinstance(yang_dirs, str) else list(yang_dirs)
    # PYTHONMALLOC as the init script and the systemd unit set it (else
    # ``dpu-agent run`` starts itself again with it: agent/memory.py)
    return {"PYTHONMALLOC": "malloc", **os.environ, "DPU_AGENT_YANG_DIR": ":".join(str(d) for d in dirs),
            "PYTHONUNBUFFERED": "1"}


def run_agent(*args: str, yang_dir, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    """``dpu-agent ARGS`` to its end: exit code, stdout, stderr."""
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True,
                          timeout=timeout, env=agent_env(yang_dir), **kw)


class AgentProcess:
    """``dpu-agent run --board sim`` with its state dir under ``workdir`` (or
    ``state_dir``, e.g. a provisioned one); with a fresh state dir the
    manager's user ``admin`` logs in with :attr:`client_key`. Everything it
    logs is kept in :attr:`log`."""

    def __init__(self, workdir: Path, yang_dirs, *, args: tuple[str, ...] = (), netns: str | None = None,
                 state_dir: Path | None = None) -> None:
        self.dir = workdir
        self.yang_dirs = [yang_dirs] if isinstance(yang_dirs, str) else list(yang_dirs)
        self.args = args
        self.netns = netns
        self.host_key = self.client_key = None
        if state_dir is None:
            state_dir = workdir / "state"
            (state_dir / "keys").mkdir(parents=True, mode=0o700)
            self.host_key = asyncssh.generate_private_key("ssh-ed25519")
            # 0600, or the agent refuses to start (exposed private keys)
            write_key_file(state_dir / "keys" / "host.key", self.host_key.export_private_key())
            self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.state_dir = state_dir
        self.popen: subprocess.Popen | None = None
        #: (time.monotonic(), line) of everything the agent logged
        self.log: list[tuple[float, str]] = []
        self.started_at = 0.0
        self._reader: threading.Thread | None = None

    def client(self, name: str, endpoints: list[build.Endpoint], **kw) -> build.Client:
        kw.setdefault("users", {ADMIN: [b64(self.client_key)]})
        kw.setdefault("max_wait", 2)
        return build.Client(name, endpoints, **kw)

    def write_config(self, clients: list[build.Client]) -> Path:
        path = self.dir / "initial.xml"
        path.write_text(build.config_xml(clients, b64(self.host_key)))
        return path

    def start(self, clients: list[build.Client] | None = None, log_level: str | None = "warning") -> None:
        cmd = [sys.executable, "-m", "agent"]
        if log_level is not None:
            cmd += ["--log-level", log_level]
        cmd += ["run", "--board", "sim", "--state-dir", str(self.state_dir)]
        if clients is not None:
            cmd += ["--config", str(self.write_config(clients))]
        for d in self.yang_dirs:
            cmd += ["--yang-dir", d]
        cmd += list(self.args)
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        self.log = []
        self.started_at = time.monotonic()
        self.popen = subprocess.Popen(cmd, cwd=ROOT, env=agent_env(self.yang_dirs), stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=self._read_log, args=(self.popen,), daemon=True)
        self._reader.start()

    def _read_log(self, popen: subprocess.Popen) -> None:
        for line in popen.stderr:
            self.log.append((time.monotonic(), line.rstrip()))

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def stderr(self) -> str:
        return "\n".join(line for _, line in self.log)

    def stop(self, sig: int = signal.SIGTERM, wait: float = 20) -> str:
        """Signal it, wait for its end (kill it after ``wait`` s); returns what it logged."""
        p = self.popen
        if p is not None and p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(wait)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self._reader is not None:
            self._reader.join(5)
        return self.stderr
