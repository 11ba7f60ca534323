"""Boot an emulated board and talk to it.

A :class:`Board` is one QEMU process: q35 (x86_64) or virt/cortex-a53
(aarch64), one vCPU, a virtio-net NIC on QEMU user networking (the host is
10.0.2.2 from the guest), an i6300esb watchdog whose expiry resets the board,
a virtio-rng, the serial console written to ``serial.log``, a root shell on
the virtio console (:meth:`Board.shell`) and QMP for QEMU's own events
(``WATCHDOG``, ``RESET``). TCG unless the host has kvm_intel or kvm_amd
(other KVM flavours, such as kvm_pvm, hang a normal guest).

Every board has a hard deadline: QEMU is killed by its PID when the deadline
passes and in :meth:`Board.close`, whatever happened, so no guest outlives
its test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .image import ARCHES, CHECKOUT, Arch

#: kernel command line word that keeps S50dpu-agent from starting at boot
AGENT_OFF = "board.agent=off"
#: guest serial console markers (board/init.sh, board/skeleton/etc/init.d/rcS)
BOOTED = "BOARD: init"
READY = "BOARD: ready"


class BoardError(Exception):
    pass


def qemu_binary(arch: str) -> str:
    return f"qemu-system-{arch}"


def kvm_usable() -> bool:
    return Path("/dev/kvm").exists() and any(Path(f"/sys/module/{m}").exists() for m in ("kvm_intel", "kvm_amd"))


def default_yang_dir() -> str | None:
    env = os.environ.get("DPU_AGENT_YANG_DIR")
    if env:
        return env.split(":")[0]
    shared = CHECKOUT.parent / "shared" / "yang"
    return str(shared) if shared.is_dir() else None


@dataclass
class BoardOptions:
    memory_mb: int = 512
    #: what QEMU does when the watchdog expires (QEMU's -action watchdog=...)
    watchdog_action: str = "reset"
    #: QEMU is killed after this many seconds, whatever the test is doing
    deadline: float = 240.0
    #: kernel command line additions
    append: str = ""
    #: raw disk images, attached in this order as virtio disks (/dev/vda, /dev/vdb, ...)
    disks: tuple[Path, ...] = ()
    #: QEMU's I/O limit on those disks, bytes per second written (None: none)
    disk_write_bps: int | None = None
    #: a reset (the guest's reboot, the watchdog's reset) ends QEMU instead,
    #: so that the next boot goes through the host's boot loader (board/bootloader.py)
    no_reboot: bool = False
    #: the serial console's file in the run directory
    serial_name: str = "serial.log"


class Board:
    """One QEMU run of ``arch`` with ``run_dir`` shared as the guest's
    /mnt/run: ``run_dir/state`` is the agent's /var/lib/dpu-agent and
    ``run_dir/default`` its /etc/default/dpu-agent."""

    def __init__(self, arch: str, run_dir: Path, yang_dir: str, options: BoardOptions | None = None) -> None:
        self.arch: Arch = ARCHES[arch]
        self.run_dir = Path(run_dir)
        self.yang_dir = yang_dir
        self.options = options or BoardOptions()
        # AF_UNIX paths are short: keep the sockets in a short private directory
        self._sock_dir = Path(tempfile.mkdtemp(prefix="board-"))
        self.serial_log = self.run_dir / self.options.serial_name
        #: QEMU's own messages
        self.qemu_log = self.run_dir / "qemu.log"
        self.qmp_path = self._sock_dir / "qmp.sock"
        self.ctl_path = self._sock_dir / "ctl.sock"
        self.proc: subprocess.Popen | None = None
        self.qmp: Qmp | None = None
        self._ctl: socket.socket | None = None
        self._ctl_buf = b""
        self._timer: threading.Timer | None = None
        self._seq = 0
        self.started_at = 0.0

    # -- QEMU ---------------------------------------------------------------

    def command(self) -> list[str]:
        a, o = self.arch, self.options
        d = a.dir
        if a.name == "x86_64":
            machine = ["-M", "q35"]
            console = "ttyS0"
            accel = ["-accel", "kvm", "-cpu", "host"] if kvm_usable() else ["-accel", "tcg", "-cpu", "max"]
        else:
            machine = ["-M", "virt"]
            console = "ttyAMA0"
            # -cpu max is ~3x slower under TCG
            accel = ["-accel", "tcg", "-cpu", "cortex-a53"]

        def share(tag: str, path: Path | str, readonly: bool = True) -> list[str]:
            opts = f"local,path={path},mount_tag={tag},security_model=none,multidevs=remap"
            return ["-virtfs", opts + (",readonly=on" if readonly else "")]

        disks: list[str] = []
        for i, disk in enumerate(o.disks):
            limit = f",throttling.bps-write={o.disk_write_bps}" if o.disk_write_bps else ""
            disks += ["-drive", f"file={disk},if=none,format=raw,id=d{i}{limit}", "-device", f"virtio-blk-pci,drive=d{i}"]

        return [
            qemu_binary(a.name), *machine, *accel,
            "-m", str(o.memory_mb), "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none",
            "-kernel", str(d / a.kernel), "-initrd", str(d / "initrd.gz"),
            "-append", f"console={console} quiet panic=-1 {o.append}".strip(),
            "-serial", f"file:{self.serial_log}",
            "-monitor", "none",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
            "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,romfile=",
            "-device", "i6300esb", "-action", f"watchdog={o.watchdog_action}",
            "-device", "virtio-rng-pci",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=ctl,path={self.ctl_path},server=on,wait=off",
            "-device", "virtconsole,chardev=ctl",
            *share("rootfs", a.root),
            *share("agent", CHECKOUT),
            *share("yang", self.yang_dir),
            *share("run", self.run_dir, readonly=False),
            *disks,
            *(["-no-reboot"] if o.no_reboot else []),
        ]

    def start(self) -> Board:
        if shutil.which(qemu_binary(self.arch.name)) is None:
            raise BoardError(f"{qemu_binary(self.arch.name)} is not installed")
        (self.run_dir / "state").mkdir(parents=True, exist_ok=True)
        self.serial_log.write_bytes(b"")
        self.started_at = time.monotonic()
        with open(self.qemu_log, "wb") as qemu_log:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._timer = threading.Timer(self.options.deadline, self.kill)
        self._timer.daemon = True
        self._timer.start()
        self.qmp = Qmp(self.qmp_path, self._alive)
        self._ctl = _connect_unix(self.ctl_path, self._alive)
        return self

    def _alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            out = self.qemu_log.read_text(errors="replace").strip() if self.qemu_log.exists() else ""
            raise BoardError(f"QEMU exited ({self.proc.returncode if self.proc else None}): {out}\n{self.tail()}")

    def kill(self) -> None:
        """Kill QEMU by its PID (idempotent)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for closable in (self.qmp, self._ctl):
            if closable is not None:
                closable.close()
        self.kill()
        shutil.rmtree(self._sock_dir, ignore_errors=True)

    def __enter__(self) -> Board:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    # -- serial console -----------------------------------------------------

    def serial(self) -> str:
        return self.serial_log.read_bytes().decode(errors="replace")

    def tail(self, lines: int = 40) -> str:
        return "serial console (last lines):\n" + "\n".join(self.serial().splitlines()[-lines:])

    def wait_serial(self, pattern: str, timeout: float, count: int = 1) -> re.Match:
        """Wait until ``pattern`` (a regex) has appeared ``count`` times on the console."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            found = list(rx.finditer(self.serial()))
            if len(found) >= count:
                return found[count - 1]
            self._alive()
            if time.monotonic() > deadline:
                raise BoardError(f"no {pattern!r} (x{count}) on the console after {timeout:.0f} s\n{self.tail()}")
            time.sleep(0.2)

    def boots(self) -> int:
        return self.serial().count(BOOTED)

    # -- root shell on the virtio console -------------------------------------

    def run(self, command: str, timeout: float = 60) -> tuple[int, str]:
        """Run ``command`` in the guest's root shell: (exit status, output)."""
        assert self._ctl is not None
        self._seq += 1
        tag = f"{os.getpid()}-{self._seq}"
        # the markers are split by quotes in the command line, so that the
        # terminal's echo of that line never matches them
        line = f"PS1= PS2=; stty -echo 2>/dev/null; echo '@@B''{tag}@@'; {command}\necho \"@@E\"\"{tag}@@ $?\"\n"
        rx = re.compile(re.escape(f"@@B{tag}@@") + r"\r?\n(.*?)" + re.escape(f"@@E{tag}@@") + r" (\d+)", re.S)
        self._ctl.sendall(line.encode())
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self._ctl_buf.decode(errors="replace"))
            if m:
                self._ctl_buf = b""
                return int(m.group(2)), m.group(1).replace("\r\n", "\n")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BoardError(f"guest command {command!r} gave no answer in {timeout:.0f} s\n{self.tail()}")
            self._alive()
            self._ctl.settimeout(min(remaining, 0.5))
            try:
                chunk = self._ctl.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise BoardError("the guest console closed")
            self._ctl_buf += chunk

    def shell(self, command: str, timeout: float = 60) -> str:
        """Run ``command`` in the guest; its output, or BoardError if it failed."""
        status, out = self.run(command, timeout)
        if status != 0:
            raise BoardError(f"guest command {command!r} exited {status}: {out}")
        return out

    def wait_ready(self, timeout: float = 120, boot: int = 1) -> None:
        """Wait for the ``boot``-th boot's init scripts to have run."""
        self.wait_serial(re.escape(READY), timeout, count=boot)


def _connect_unix(path: Path, alive, timeout: float = 20) -> socket.socket:
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(str(path))
            return s
        except (FileNotFoundError, ConnectionRefusedError):
            s.close()
            alive()
            if time.monotonic() > deadline:
                raise BoardError(f"QEMU did not open {path}") from None
            time.sleep(0.05)


class Qmp:
    """QEMU Machine Protocol: commands, and the events QEMU sent so far."""

    def __init__(self, path: Path, alive) -> None:
        self._sock = _connect_unix(path, alive)
        self._file = self._sock.makefile("rwb")
        self.events: list[dict] = []
        self._replies: list[dict] = []
        self._cond = threading.Condition()
        json.loads(self._file.readline())  # greeting
        self._reader = threading.Thread(target=self._read, name="qmp", daemon=True)
        self._reader.start()
        self.execute("qmp_capabilities")

    def _read(self) -> None:
        try:
            for line in self._file:
                msg = json.loads(line)
                with self._cond:
                    (self.events if "event" in msg else self._replies).append(msg)
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass

    def execute(self, command: str, timeout: float = 10, **arguments) -> dict:
        msg = {"execute": command, **({"arguments": arguments} if arguments else {})}
        with self._cond:
            self._file.write(json.dumps(msg).encode() + b"\n")
            self._file.flush()
            if not self._cond.wait_for(lambda: self._replies, timeout):
                raise BoardError(f"QMP {command}: no reply")
            reply = self._replies.pop(0)
        if "error" in reply:
            raise BoardError(f"QMP {command}: {reply['error']}")
        return reply.get("return", {})

    def names(self) -> list[str]:
        with self._cond:
            return [e["event"] for e in self.events]

    def wait_event(self, name: str, timeout: float) -> dict:
        with self._cond:
            if not self._cond.wait_for(lambda: any(e["event"] == name for e in self.events), timeout):
                raise BoardError(f"no QMP event {name} in {timeout:.0f} s (events: {[e['event'] for e in self.events]})")
            return next(e for e in self.events if e["event"] == name)

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()


def boot_selftest(arch: str) -> int:
    """Boot ``arch``, run ``dpu-agent selftest --board linux`` in it, print the
    report and the timings (``python -m board selftest ARCH``)."""
    yang = default_yang_dir()
    if yang is None:
        print("board: no YANG modules: set DPU_AGENT_YANG_DIR", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="board-run-") as run_dir:
        run = Path(run_dir)
        # no agent started at boot: the selftest runs alone
        with Board(arch, run, yang, BoardOptions(deadline=300, append=AGENT_OFF)) as b:
            b.wait_ready(240)
            ready = b.elapsed()
            t0 = time.monotonic()
            status, out = b.run("dpu-agent selftest --board linux", timeout=240)
            print(out.rstrip())
            print(f"board {arch}: ready {ready:.1f} s after QEMU start, selftest {time.monotonic() - t0:.1f} s")
            return status
