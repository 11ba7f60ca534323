"""The A/B boards' boot loader, played by the host.

An :class:`ABBoard` has four disks besides the 9p shares: ``bootenv.img``
(/dev/vda: the boot environment, one sector of ``KEY=VALUE`` lines), the
two slots, ``slot-A.img`` (/dev/vdb) and ``slot-B.img`` (/dev/vdc), each a
squashfs image of the agent that /init mounts at /opt/dpu-agent, and
``data.img`` (/dev/vdd, ext4), the agent's firmware directory, where it
stages the bundles it downloads. RAUC on the
board writes the slots and, through its ``custom`` backend
(``skeleton/usr/lib/rauc/bootenv``), the boot environment.

Every boot goes through :meth:`ABBoard.choose`, as every boot of a U-Boot
board goes through its boot script: the first slot of ``BOOT_ORDER`` with
boots left (``BOOT_<slot>_LEFT``) is booted and one boot is counted down
before the kernel starts; when no slot has boots left, all get
``BOOT_ATTEMPTS`` again (RAUC's U-Boot script does the same). QEMU runs with
``-no-reboot``: a reboot, a watchdog reset or a power cut (the test killing
QEMU) ends the process, and the boot loop starts the next boot. So a slot
whose agent never marks it good (it hangs and the watchdog resets the board,
or it exits and nothing kicks the watchdog armed at boot) uses up its boots
and the board comes back on the other slot.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from .qemu import Board, BoardError, BoardOptions

SLOTS = ("A", "B")
SECTOR = 512
SLOT_SIZE = 64 << 20
DATA_SIZE = 128 << 20


class BootEnv:
    """The boot environment on its disk image (the first sector)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def create(self, attempts: int) -> None:
        with open(self.path, "wb") as f:
            f.truncate(64 * 1024)
        self.write({"BOOT_ORDER": " ".join(SLOTS), "BOOT_ATTEMPTS": str(attempts),
                    **{f"BOOT_{s}_LEFT": str(attempts) for s in SLOTS}})

    def read(self) -> dict[str, str]:
        with open(self.path, "rb") as f:
            text = f.read(SECTOR).rstrip(b"\0").decode()
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def write(self, env: dict[str, str]) -> None:
        data = "".join(f"{k}={v}\n" for k, v in env.items()).encode()
        if len(data) > SECTOR:
            raise ValueError("the boot environment is one sector")
        with open(self.path, "r+b") as f:
            f.write(data.ljust(SECTOR, b"\0"))


@dataclass
class Boot:
    """One boot: the slot chosen, its QEMU, and how it ended."""

    number: int
    slot: str
    board: Board
    #: QMP events of this boot (WATCHDOG, SHUTDOWN ...), once QEMU has ended
    events: list[str] = field(default_factory=list)
    #: QEMU's exit status (-9: killed, a power cut), once it has ended
    status: int | None = None


class ABBoard:
    """A board that boots from slot A or B as its boot environment says,
    again and again until :meth:`close`."""

    def __init__(self, arch: str, run_dir: Path, yang_dir: str, options: BoardOptions | None = None,
                 attempts: int = 3, slot_size: int = SLOT_SIZE) -> None:
        self.arch = arch
        self.run_dir = Path(run_dir)
        self.yang_dir = yang_dir
        self.options = options or BoardOptions()
        disks = self.run_dir / "disks"
        disks.mkdir(parents=True, exist_ok=True)
        self.env = BootEnv(disks / "bootenv.img")
        self.slot_files = {s: disks / f"slot-{s}.img" for s in SLOTS}
        self.data = disks / "data.img"
        if not self.data.exists():
            subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "data", str(self.data), str(DATA_SIZE >> 10)], check=True)
        if not self.env.path.exists():
            self.env.create(attempts)
        for path in self.slot_files.values():
            if not path.exists():
                with open(path, "wb") as f:
                    f.truncate(slot_size)
        self.boots: list[Boot] = []
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def flash(self, slot: str, image: Path) -> None:
        """Write an image into a slot, as the factory does (no RAUC)."""
        data = image.read_bytes()
        with open(self.slot_files[slot], "r+b") as f:
            f.write(data)

    def choose(self) -> str:
        """The boot loader's choice for the next boot, with its try counted."""
        env = self.env.read()
        for _ in range(2):
            for slot in env["BOOT_ORDER"].split():
                left = int(env.get(f"BOOT_{slot}_LEFT", "0"))
                if left > 0:
                    env[f"BOOT_{slot}_LEFT"] = str(left - 1)
                    self.env.write(env)
                    return slot
            # no slot has boots left: give them all their attempts again
            for slot in SLOTS:
                env[f"BOOT_{slot}_LEFT"] = env["BOOT_ATTEMPTS"]
        raise BoardError(f"no bootable slot in {env}")

    # -- the boot loop --

    def start(self) -> ABBoard:
        self._thread = threading.Thread(target=self._loop, name="boot-loader", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        try:
            while not self._stopping:
                number = len(self.boots) + 1
                slot = self.choose()
                opts = replace(self.options, no_reboot=True, disks=(self.env.path, *self.slot_files.values(), self.data),
                               append=f"{self.options.append} rauc.slot={slot}".strip(), serial_name=f"serial-{number}.log")
                board = Board(self.arch, self.run_dir, self.yang_dir, opts)
                boot = Boot(number, slot, board)
                with self._cond:
                    if self._stopping:
                        return
                    board.start()
                    self.boots.append(boot)
                    self._cond.notify_all()
                assert board.proc is not None
                boot.status = board.proc.wait()
                if board.qmp is not None:
                    boot.events = board.qmp.names()
                board.close()
                with self._cond:
                    self._cond.notify_all()
        except BaseException as exc:  # the test sees it in wait_boot
            self.error = exc
            with self._cond:
                self._cond.notify_all()

    def wait_boot(self, number: int, timeout: float) -> Boot:
        """The ``number``-th boot, once its QEMU has started."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.boots) < number:
                if self.error is not None:
                    raise BoardError(f"the boot loop stopped: {self.error}") from self.error
                if not self._cond.wait(max(0.0, deadline - time.monotonic())) and time.monotonic() >= deadline:
                    raise BoardError(f"no boot {number} in {timeout:.0f} s (boots: {self.summary()})")
            return self.boots[number - 1]

    @property
    def current(self) -> Boot:
        with self._cond:
            return self.boots[-1]

    def summary(self) -> list[tuple[str, list[str], int | None]]:
        """(slot, QMP events, QEMU's exit status) of every boot so far."""
        return [(b.slot, b.events, b.status) for b in self.boots]

    def power_cut(self) -> None:
        """Kill the running QEMU: the loop boots the board again."""
        self.current.board.kill()

    def close(self) -> None:
        with self._cond:
            self._stopping = True
        if self.boots:
            self.current.board.kill()
        if self._thread is not None:
            self._thread.join(30)
        for boot in self.boots:
            boot.board.close()
