"""Firmware slots (A/B): what the board's update framework does for the agent.

The agent never writes partitions itself. A board hands it a
:class:`FirmwareSlots`: the slots with the image each holds, ``install``
(verify a signed bundle, write it into the slot not running), ``activate``
(boot that slot once, on trial), ``mark_good`` (the running trial slot
becomes the default) and ``erase``. The boot loader, not the agent, falls
back: each boot of a trial slot uses up one try, whatever ends it (a crash,
a hang reset by the watchdog, a power cut), and when the tries are gone the
board boots the committed slot again.

Bundle format and trust (both boards): a bundle is a RAUC "plain" bundle,
``payload || CMS signature (DER, detached) || signature size (8 bytes,
big-endian)``, signed with the vendor's key; the box holds only the
certificate of the signing CA (the keyring). The signature is checked with
``openssl cms -verify`` against that keyring, the way RAUC checks it with
OpenSSL on the real board: the agent may not import ``cryptography`` and the
stdlib cannot verify signatures, while the ``openssl`` binary is on every
image that has RAUC. A manager can therefore point the box at any URL but
cannot make it accept an image the vendor did not sign; a hash given by the
manager would prove nothing. On the simulated board the payload is a JSON
manifest line (``{"compatible": ..., "version": ...}``) followed by the
image bytes; on a real board RAUC reads its own manifest from the bundle.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from ..datastore.persist import sync_dir, write_atomic

log = logging.getLogger(__name__)

SLOT_NAMES = ("A", "B")
#: boots a trial slot gets before the boot loader falls back
DEFAULT_TRIES = 3
_CHUNK = 1 << 16


class BundleError(Exception):
    """A bundle that cannot be installed. ``tag`` names the
    bbf-software-management error identity that says why."""

    def __init__(self, tag: str, message: str) -> None:
        super().__init__(message)
        self.tag = tag
        self.message = message


class SlotsUnavailable(Exception):
    """The board has no update framework the agent can drive."""


class Slot(NamedTuple):
    name: str
    #: None: the slot holds no valid image
    version: str | None = None
    #: "sha256:<hex>" of the installed payload
    hash: str | None = None
    #: when the image was written (RFC 3339)
    installed: str | None = None
    #: where it came from, as the manager gave it
    source: str | None = None


class FirmwareSlots(Protocol):
    #: the slot the board is running now
    booted: str
    #: the slot the board boots by default (the committed one)
    primary: str
    #: a slot that was on trial and was given up by the boot loader at this
    #: boot (its tries used up), else None
    fell_back_from: str | None
    #: where a bundle is downloaded to before ``install``: persistent
    #: storage with room for one bundle (not a tmpfs in RAM)
    staging_dir: Path

    def slots(self) -> list[Slot]: ...

    @property
    def trial(self) -> str | None:
        """The slot booted once on trial at the next boots, if any."""

    def install(self, bundle: Path, slot: str, source: str | None = None) -> Slot:
        """Verify ``bundle`` and write it into ``slot`` (never the booted
        one). Blocking: run it in a worker thread. Raises BundleError."""

    def activate(self, slot: str) -> None:
        """Boot ``slot`` at the next boots, on trial."""

    def mark_good(self) -> bool:
        """The booted slot is good: make it the default. True if it was on trial."""

    def commit(self, slot: str) -> None:
        """Make ``slot`` the default without a trial."""

    def erase(self, slot: str) -> None:
        """Empty a slot that is neither booted nor the default."""

    def reboot(self) -> None:
        """Restart the board (into the trial slot if one is set)."""


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# -- bundles -----------------------------------------------------------------


def split_bundle(bundle: Path) -> tuple[int, int]:
    """(payload size, signature size) of a plain bundle."""
    size = bundle.stat().st_size
    if size < 8:
        raise BundleError("unsupported-format", "not a signed bundle: too short")
    with open(bundle, "rb") as f:
        f.seek(size - 8)
        (sig_size,) = struct.unpack(">Q", f.read(8))
    if sig_size == 0 or sig_size > size - 8:
        raise BundleError("unsupported-format", "not a signed bundle: no signature trailer")
    return size - 8 - sig_size, sig_size


def verify_bundle(bundle: Path, keyring: Path, workdir: Path) -> Path:
    """Check the bundle's CMS signature against ``keyring``; the verified
    payload is written to a file in ``workdir``, returned."""
    import shutil  # here: the slots' other users and a boot need neither it nor tempfile

    if shutil.which("openssl") is None:
        raise BundleError("request-not-supported", "openssl is not on this image: bundles cannot be verified")
    if not keyring.is_file():
        raise BundleError("request-not-supported", f"no firmware keyring at {keyring}: bundles cannot be verified")
    payload_size, sig_size = split_bundle(bundle)
    payload = workdir / "payload"
    sig = workdir / "signature.der"
    with open(bundle, "rb") as src, open(payload, "wb") as dst:
        left = payload_size
        while left:
            chunk = src.read(min(_CHUNK, left))
            if not chunk:
                raise BundleError("revision-corrupt", "bundle truncated")
            dst.write(chunk)
            left -= len(chunk)
        sig.write_bytes(src.read(sig_size))
    proc = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(sig), "-content", str(payload),
         "-CAfile", str(keyring), "-purpose", "any", "-out", os.devnull],
        capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        err = proc.stderr
        if "digest failure" in err or "content verify error" in err:
            raise BundleError("revision-corrupt", "the image does not match its signature (corrupt or altered)")
        if "certificate verify error" in err or "unable to get local issuer" in err or "self-signed" in err or "self signed" in err:
            raise BundleError("revision-not-valid", "the bundle is not signed by a key this board trusts")
        raise BundleError("unsupported-format", "the bundle's signature cannot be read: " + (err.strip().splitlines() or ["?"])[-1])
    return payload


# -- the simulated board: slots as files ---------------------------------------


class SimSlots:
    """A/B slots as files under ``root`` (the agent's state dir on the
    simulated board). Creating one is the board booting: the boot loader's
    choice (trial slot, tries left, fallback) is made here and written down,
    as U-Boot's bootcount would be."""

    COMPATIBLE = "dpu-sim"

    def __init__(self, root: Path, keyring: Path, factory_version: str = "sim", tries: int = DEFAULT_TRIES,
                 on_reboot: Callable[[], None] | None = None) -> None:
        self.root = self.staging_dir = root
        self.keyring = keyring
        self.tries = tries
        # Made once: a path built on every read (every <get> of the slots'
        # state) interns its file name anew (pathlib's sys.intern), and each
        # such insertion takes a slot of CPython's interned-strings table until
        # the table is rebuilt, at twice its size (0.55 MB more in the soak).
        self._meta_files = {name: root / f"{name}.json" for name in SLOT_NAMES}
        self.reboot_requested = False
        #: what "rebooting" the simulated board does besides setting the flag
        #: (the daemon stops the agent; its supervisor starts it again)
        self.on_reboot = on_reboot
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not (root / "A.json").exists():
            self._write_meta(Slot("A", factory_version, None, now(), "factory"))
        self._boot()

    # boot loader state

    def _load_boot(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads((self.root / "boot.json").read_text())
            return state
        except FileNotFoundError:
            return {"primary": "A", "trial": None, "tries_left": 0}

    def _save_boot(self, state: dict[str, Any]) -> None:
        write_atomic(self.root / "boot.json", json.dumps(state).encode())

    def _boot(self) -> None:
        state = self._load_boot()
        loaded = dict(state)
        self.fell_back_from = None
        if state["trial"] is not None and state["tries_left"] > 0:
            state["tries_left"] -= 1
            self.booted = state["trial"]
        else:
            if state["trial"] is not None:
                log.warning("slot %s used up its boot tries: back to slot %s", state["trial"], state["primary"])
                self.fell_back_from = state["trial"]
                state["trial"] = None
            self.booted = state["primary"]
        self.primary = state["primary"]
        self._state = state
        # written (and synced) only when this boot changed it, as a boot
        # loader's counter: a plain boot writes nothing
        if state != loaded or not (self.root / "boot.json").exists():
            self._save_boot(state)

    @property
    def trial(self) -> str | None:
        trial: str | None = self._state["trial"]
        return trial

    @property
    def tries_left(self) -> int:
        tries: int = self._state["tries_left"]
        return tries

    # slots

    def _meta(self, name: str) -> Slot:
        try:
            return Slot(**json.loads(self._meta_files[name].read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return Slot(name)

    def _write_meta(self, slot: Slot) -> None:
        write_atomic(self._meta_files[slot.name], json.dumps(slot._asdict()).encode())

    def slots(self) -> list[Slot]:
        return [self._meta(n) for n in SLOT_NAMES]

    def _check(self, name: str) -> None:
        if name not in SLOT_NAMES:
            raise ValueError(f"no slot {name!r}")

    def install(self, bundle: Path, slot: str, source: str | None = None) -> Slot:
        self._check(slot)
        if slot == self.booted:
            raise BundleError("cannot-overwrite-revision", f"slot {slot} is running")
        import tempfile

        with tempfile.TemporaryDirectory(dir=self.root) as tmp:
            payload = verify_bundle(bundle, self.keyring, Path(tmp))
            with open(payload, "rb") as f:
                try:
                    manifest = json.loads(f.readline())
                    version, compatible = str(manifest["version"]), manifest["compatible"]
                except (ValueError, KeyError, TypeError):
                    raise BundleError("unsupported-format", "the image has no manifest line") from None
            if compatible != self.COMPATIBLE:
                raise BundleError("incompatible-version", f"the image is for {compatible!r}, this board is {self.COMPATIBLE!r}")
            digest = hashlib.sha256()
            with open(payload, "rb") as f:
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
            # the slot is invalid while it is written: a power cut leaves it empty, never half an image
            (self.root / f"{slot}.json").unlink(missing_ok=True)
            os.replace(payload, self.root / f"{slot}.img")
            sync_dir(self.root)
        meta = Slot(slot, version, "sha256:" + digest.hexdigest(), now(), source)
        self._write_meta(meta)
        return meta

    def activate(self, slot: str) -> None:
        self._check(slot)
        if self._meta(slot).version is None:
            raise BundleError("revision-not-valid", f"slot {slot} holds no image")
        if slot == self.primary:
            self._state.update(trial=None, tries_left=0)
        else:
            self._state.update(trial=slot, tries_left=self.tries)
        self._save_boot(self._state)

    def mark_good(self) -> bool:
        if self._state["trial"] != self.booted:
            return False
        self._state.update(primary=self.booted, trial=None, tries_left=0)
        self.primary = self.booted
        self._save_boot(self._state)
        return True

    def commit(self, slot: str) -> None:
        self._check(slot)
        if self._meta(slot).version is None:
            raise BundleError("revision-not-valid", f"slot {slot} holds no image")
        self._state.update(primary=slot, trial=None if self._state["trial"] == slot else self._state["trial"])
        self.primary = slot
        self._save_boot(self._state)

    def erase(self, slot: str) -> None:
        self._check(slot)
        if slot in (self.booted, self.primary, self._state["trial"]):
            raise BundleError("cannot-delete-revision", f"slot {slot} is in use")
        (self.root / f"{slot}.json").unlink(missing_ok=True)
        (self.root / f"{slot}.img").unlink(missing_ok=True)
        sync_dir(self.root)

    def reboot(self) -> None:
        # test harnesses see the flag and restart the agent with a new board
        self.reboot_requested = True
        if self.on_reboot is not None:
            self.on_reboot()


# -- a real board: RAUC ---------------------------------------------------------


def rauc_available() -> bool:
    import shutil

    return shutil.which("rauc") is not None


#: RAUC's words for why an install failed -> bbf-software-management identity
_RAUC_ERRORS = (
    ("Compatible mismatch", "incompatible-version"),
    ("Verify error", "revision-not-valid"),
    ("signature verification failed", "revision-corrupt"),
    ("Invalid bundle format", "unsupported-format"),
    ("Signature size", "unsupported-format"),
    ("No space left", "insufficient-storage-space"),
)


class RaucSlots:
    """The Linux board's slots, driven through RAUC's command line (RAUC's
    own service does the work: it verifies the bundle against its keyring
    and writes the slot; its boot-loader backend — U-Boot, GRUB, or a
    board's ``custom`` script — counts the boots and falls back).

    RAUC knows the booted slot, the primary one (the boot loader's first
    choice) and good/bad marks, not "on trial": the agent keeps that in
    ``state_dir/trial.json`` (the slot it activated, the kernel's boot id
    then). At a later boot, running that slot means it is on trial until
    ``mark_good``; running the other means the boot loader gave up on it.
    RAUC's ``system.conf`` must say ``activate-installed=false``: an
    install writes the slot, activating it is the manager's ``activate``.
    """

    def __init__(self, state_dir: Path, *, conf: str | None = None, rauc: str = "rauc",
                 boot_id_file: Path = Path("/proc/sys/kernel/random/boot_id"), reboot_command: tuple[str, ...] = ("reboot",)) -> None:
        import shutil

        if shutil.which(rauc) is None:
            raise SlotsUnavailable("RAUC is not installed on this board")
        self._rauc = [rauc] + ([f"--conf={conf}"] if conf else [])
        self.staging_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._marks = state_dir / "trial.json"
        self._boot_id = boot_id_file.read_text().strip()
        self._reboot = reboot_command
        self.reboot_requested = False
        try:
            self._refresh()
        except BundleError as exc:
            raise SlotsUnavailable(f"RAUC does not answer: {exc.message}") from None
        self.fell_back_from = None
        marks = self._load_marks()
        if (cut := marks.pop("installing", None)) is not None:
            # the agent stopped while RAUC wrote that slot (a power cut): RAUC's
            # status still names the image it held before, the slot holds part of each
            log.warning("slot %s was being written when the agent stopped: treated as empty", cut)
            marks["erased"] = sorted(set(marks.get("erased", [])) | {cut})
            self._save_marks(marks)
        trial = marks.get("trial")
        if trial and marks.get("boot_id") != self._boot_id and self.booted != trial:
            # the boot loader gave up on the trial slot: make the running one first again
            log.warning("slot %s did not come up: running slot %s", trial, self.booted)
            self.fell_back_from = trial
            self._run("status", "mark-active", "booted")
            marks.pop("trial", None)
            self._save_marks(marks)
            self._refresh()
        if self.booted != self.trial:
            # a committed slot that boots is good (what rauc-mark-good.service does);
            # a trial slot becomes good only once it has called home
            self._run("status", "mark-good", "booted")

    def _run(self, *args: str) -> str:
        timeout = 3600 if args[0] == "install" else 60
        try:
            proc = subprocess.run(self._rauc + list(args), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BundleError("component-not-responding", f"rauc {args[0]} did not finish in {timeout} s") from None
        if proc.returncode != 0:
            text = proc.stdout + proc.stderr
            last = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("LastError:")), None)
            message = last or (text.strip().splitlines() or [f"rauc {' '.join(args)} failed"])[-1]
            tag = next((t for word, t in _RAUC_ERRORS if word in message), "unexpected-error")
            raise BundleError(tag, message)
        return proc.stdout

    def _refresh(self) -> None:
        status = json.loads(self._run("status", "--detailed", "--output-format=json"))
        self._by_bootname: dict[str, tuple[str, dict[str, Any]]] = {}
        for entry in status.get("slots", []):
            for name, info in entry.items():
                if info.get("class") == "rootfs" and info.get("bootname"):
                    self._by_bootname[info["bootname"]] = (name, info)
        self.booted = status.get("booted")
        primary = status.get("boot_primary")
        self.primary = next((b for b, (n, _) in self._by_bootname.items() if n == primary), self.booted)

    def _load_marks(self) -> dict[str, Any]:
        try:
            marks: dict[str, Any] = json.loads(self._marks.read_text())
            return marks
        except (FileNotFoundError, ValueError):
            return {}

    def _save_marks(self, marks: dict[str, Any]) -> None:
        write_atomic(self._marks, json.dumps(marks).encode())

    @property
    def trial(self) -> str | None:
        trial = self._load_marks().get("trial")
        return trial if trial in self._by_bootname else None

    def slots(self) -> list[Slot]:
        erased = set(self._load_marks().get("erased", []))
        out = []
        for bootname in sorted(self._by_bootname):
            _, info = self._by_bootname[bootname]
            st = info.get("slot_status") or {}
            version = (st.get("bundle") or {}).get("version")
            if bootname in erased or st.get("status") not in (None, "ok"):
                version = None
            if bootname == self.booted and version is None and bootname not in erased:
                version = "factory"
            digest = (st.get("checksum") or {}).get("sha256")
            out.append(Slot(bootname, version, f"sha256:{digest}" if digest and version else None,
                            (st.get("installed") or {}).get("timestamp"), None))
        return out

    def _slot_name(self, bootname: str) -> str:
        if bootname not in self._by_bootname:
            raise ValueError(f"no slot {bootname!r}")
        return self._by_bootname[bootname][0]

    def install(self, bundle: Path, slot: str, source: str | None = None) -> Slot:
        self._slot_name(slot)
        if slot == self.booted:
            raise BundleError("cannot-overwrite-revision", f"slot {slot} is running")
        # written down first: a power cut while RAUC writes leaves a slot that is neither image
        marks = self._load_marks()
        marks["installing"] = slot
        self._save_marks(marks)
        try:
            # RAUC picks the target itself: the slot of the group that is not running
            self._run("install", str(bundle))
        finally:
            marks = self._load_marks()
            marks.pop("installing", None)
            self._save_marks(marks)
        if slot in marks.get("erased", []):
            marks["erased"].remove(slot)
            self._save_marks(marks)
        self._refresh()
        return next(s for s in self.slots() if s.name == slot)

    def activate(self, slot: str) -> None:
        name = self._slot_name(slot)
        if next(s for s in self.slots() if s.name == slot).version is None:
            raise BundleError("revision-not-valid", f"slot {slot} holds no image")
        self._run("status", "mark-active", name)
        marks = self._load_marks()
        marks.update(trial=None if slot == self.booted else slot, boot_id=self._boot_id)
        self._save_marks(marks)
        self._refresh()

    def mark_good(self) -> bool:
        marks = self._load_marks()
        if marks.get("trial") != self.booted:
            return False
        self._run("status", "mark-good", "booted")
        marks.pop("trial", None)
        self._save_marks(marks)
        self._refresh()
        return True

    def commit(self, slot: str) -> None:
        name = self._slot_name(slot)
        self._run("status", "mark-active", name)
        if slot == self.booted:
            self._run("status", "mark-good", "booted")
        marks = self._load_marks()
        if marks.get("trial") == slot:
            marks.pop("trial")
            self._save_marks(marks)
        self._refresh()

    def erase(self, slot: str) -> None:
        name = self._slot_name(slot)
        if slot in (self.booted, self.primary, self.trial):
            raise BundleError("cannot-delete-revision", f"slot {slot} is in use")
        # RAUC cannot empty a slot; marked bad it never boots, and the agent forgets its image
        self._run("status", "mark-bad", name)
        marks = self._load_marks()
        marks["erased"] = sorted(set(marks.get("erased", [])) | {slot})
        self._save_marks(marks)
        self._refresh()

    def reboot(self) -> None:
        self.reboot_requested = True
        subprocess.run(self._reboot, check=False)
