"""A board with RAUC for tests: Debian's rauc service on a private system
D-Bus, two raw slots in files, and a ``custom`` boot-loader backend over
files that counts boots the way U-Boot's bootcount does (each boot of a slot
uses one of its tries; ``mark-good`` gives them back; a slot without tries
left is skipped). ``boot()`` is the board (re)starting: it picks the slot,
gives the kernel a new boot id and restarts the rauc service on it.

Needs root (RAUC loop-mounts bundles), rauc, mksquashfs and dbus-daemon."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

TRIES = 3

BACKEND = """#!/bin/sh
# RAUC custom boot-loader backend: primary slot, per-slot state and tries, in files
D="{root}/bootloader"
mkdir -p "$D"
case "$1" in
  get-primary) cat "$D/primary" 2>/dev/null || echo A ;;
  set-primary) echo "$2" > "$D/primary"; echo good > "$D/state.$2"; echo {tries} > "$D/tries.$2" ;;
  get-state) cat "$D/state.$2" 2>/dev/null || echo good ;;
  set-state) echo "$3" > "$D/state.$2"
             if [ "$3" = good ]; then echo {tries} > "$D/tries.$2"; else echo 0 > "$D/tries.$2"; fi ;;
  get-current) cat "$D/current" 2>/dev/null || echo A ;;
  *) exit 1 ;;
esac
"""

SYSTEM_CONF = """[system]
compatible={compatible}
bootloader=custom
statusfile={root}/status.raucs
activate-installed=false
mountprefix={root}/mnt

[keyring]
path={root}/keyring.pem
check-purpose=any

[handlers]
bootloader-custom-backend={root}/backend.sh

[slot.rootfs.0]
device={root}/slot-A.img
type=raw
bootname=A

[slot.rootfs.1]
device={root}/slot-B.img
type=raw
bootname=B
"""

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path={root}/bus</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/>
<allow receive_sender="*"/></policy></busconfig>
"""


def missing() -> str | None:
    """Why RAUC tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "RAUC loop-mounts bundles: needs root"
    for tool in ("rauc", "mksquashfs", "dbus-daemon"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


class RaucBoard:
    COMPATIBLE = "dpu-test"

    def __init__(self, root: Path, keyring_pem: bytes) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "mnt").mkdir(exist_ok=True)
        (root / "keyring.pem").write_bytes(keyring_pem)
        backend = root / "backend.sh"
        backend.write_text(BACKEND.format(root=root, tries=TRIES))
        backend.chmod(0o755)
        self.conf = root / "system.conf"
        self.conf.write_text(SYSTEM_CONF.format(root=root, compatible=self.COMPATIBLE))
        for slot in ("A", "B"):
            with open(root / f"slot-{slot}.img", "wb") as f:
                f.truncate(1 << 20)
        (root / "bus.conf").write_text(BUS_CONF.format(root=root))
        self.boot_id = root / "boot_id"
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={root}/bus")
        self._bus = subprocess.Popen(["dbus-daemon", "--nofork", f"--config-file={root}/bus.conf"])
        self._service: subprocess.Popen | None = None
        self.booted: str | None = None
        self._wait_for(lambda: (root / "bus").exists())

    def _file(self, name: str, default: str) -> str:
        try:
            return (self.root / "bootloader" / name).read_text().strip()
        except FileNotFoundError:
            return default

    def boot(self) -> str:
        """The boot loader's choice, then the rauc service on the booted slot."""
        self.stop_service()
        primary = self._file("primary", "A")
        order = [primary] + [s for s in ("A", "B") if s != primary]
        booted = order[-1]
        for slot in order:
            tries = int(self._file(f"tries.{slot}", str(TRIES)))
            if self._file(f"state.{slot}", "good") == "good" and tries > 0:
                (self.root / "bootloader").mkdir(exist_ok=True)
                (self.root / "bootloader" / f"tries.{slot}").write_text(f"{tries - 1}\n")
                booted = slot
                break
        (self.root / "bootloader").mkdir(exist_ok=True)
        (self.root / "bootloader" / "current").write_text(booted + "\n")
        self.boot_id.write_text(str(uuid.uuid4()) + "\n")
        self.booted = booted
        self._service = subprocess.Popen(
            ["rauc", f"--conf={self.conf}", "service", f"--override-boot-slot={booted}"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self._wait_for(lambda: self.rauc("status").returncode == 0)
        return booted

    def rauc(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["rauc", f"--conf={self.conf}", *args], env=self.env, capture_output=True, text=True)

    def bundle(self, out: Path, cert: Path, key: Path, version: str, compatible: str | None = None) -> Path:
        """A RAUC bundle as the vendor's build makes it."""
        content = out.with_suffix(".d")
        content.mkdir()
        (content / "rootfs.img").write_bytes(os.urandom(4096) * 8)
        (content / "manifest.raucm").write_text(
            f"[update]\ncompatible={compatible or self.COMPATIBLE}\nversion={version}\n\n[image.rootfs]\nfilename=rootfs.img\n")
        done = subprocess.run(["rauc", "bundle", f"--cert={cert}", f"--key={key}", str(content), str(out)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return out

    @staticmethod
    def _wait_for(predicate, timeout: float = 10) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return
            time.sleep(0.05)
        raise TimeoutError("the RAUC board did not come up")

    def stop_service(self) -> None:
        if self._service is not None:
            self._service.send_signal(signal.SIGTERM)
            try:
                self._service.wait(10)
            except subprocess.TimeoutExpired:
                self._service.kill()
                self._service.wait()
            self._service = None

    def close(self) -> None:
        self.stop_service()
        self._bus.terminate()
        self._bus.wait(10)
