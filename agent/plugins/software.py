"""Firmware update over NETCONF: bbf-software-management (TR-383a9) on the
board's A/B slots (agent/hal/slots.py).

The board's ietf-hardware component (``chassis``) gets one ``software``
entry, ``firmware``, with one revision per slot: id 0 is slot A, id 1 slot
B. A manager downloads a signed bundle into the slot that is not running
(``download``: HTTP or HTTPS, fetched by the event loop while every session
keeps being served; ``abort-download`` cancels it), boots it once on trial
(``activate``: the board restarts into it), and makes it the default
(``commit``). Unless told otherwise (``auto_commit=False``) the new image
commits itself ``commit_delay`` seconds after it has called home; if it
never gets there, each boot uses up one of the slot's tries (a watchdog
reset included) and the boot loader falls back to the committed slot, whose
agent then reports ``activate-failed``. ``delete`` empties the inactive slot.

Every outcome is a nested notification of the revision (RFC 7950 7.16),
published on the NETCONF stream: revision-downloaded / download-revision-
failed (with the error identity), download-revision-aborted, revision-
activated / activate-failed, revision-committed, revision-deleted.
A download that fails never touches a slot: the bundle is fetched to a
staging file and verified (the vendor's signature, see agent/hal/slots.py)
before the board's update framework writes it.

Enable it with ``--plugin agent.plugins.software:SoftwarePlugin`` and
../shared/yang-bbf (or the image's copy of bbf-software-management and
bbf-yang-types) on the YANG path.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..fetch import FetchError, fetch
from ..hal.slots import SLOT_NAMES, BundleError, FirmwareSlots, Slot, now
from ..netconf.errors import InUse, InvalidValue, OperationFailed, OperationNotSupported
from . import ActionCall, Plugin, PluginContext

SWM = "bbf-software-management"
#: the board's component in ietf-hardware (agent/state.py)
COMPONENT = "chassis"
SOFTWARE = "firmware"
IDS = {name: i for i, name in enumerate(SLOT_NAMES)}
CAPABILITIES = ("download-target-selection-by-user", "download-target-selection-by-system",
                "validate", "activate", "commit", "delete")


@dataclass
class Download:
    task: asyncio.Task[None]
    url: str
    received: int = 0
    total: int | None = None
    #: the bundle is being written into the slot: too late to abort
    installing: bool = False


@dataclass
class _Times:
    last_changed: dict[str, str] = field(default_factory=dict)
    completed: dict[str, str] = field(default_factory=dict)


class SoftwarePlugin(Plugin):
    name = "software"
    modules = {SWM: ["software-management-actions", "download-target-selection-by-user", "download-target-selection-by-system"]}
    state_subtrees = ("/ietf-hardware:hardware/component",)
    action_subtrees = (f"/ietf-hardware:hardware/component/{SWM}:software",)

    def __init__(self, *, max_size: int = 512 * 1024 * 1024, timeout: float = 30.0, ssl_context: ssl.SSLContext | None = None,
                 auto_commit: bool = True, commit_delay: float = 10.0, reboot_delay: float = 1.0) -> None:
        self.max_size = max_size
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.auto_commit = auto_commit
        self.commit_delay = commit_delay
        self.reboot_delay = reboot_delay
        self.downloads: dict[str, Download] = {}
        self._times = _Times()
        self._commit_timer: asyncio.TimerHandle | None = None

    def setup(self, ctx: PluginContext) -> None:
        super().setup(ctx)
        self.slots: FirmwareSlots | None = getattr(ctx.board, "slots", None)
        if self.slots is None:
            ctx.log.info("the board has no firmware slots: no software management")
            return
        self.booted_at = now()
        if self.slots.fell_back_from is not None:
            self._event(self.slots.fell_back_from, "activate", "activate-failed",
                        _error("revision-not-valid", "the revision did not come up: the board fell back to the committed revision"))
        if self.slots.trial is not None and self.slots.booted == self.slots.trial:
            self._event(self.slots.booted, "activate", "revision-activated")
            if self.auto_commit:
                ctx.on_event("dpu-agent", "call-home-connected", self._called_home)

    @property
    def _slots(self) -> FirmwareSlots:
        """The board's slots, for what only runs on a board with them (after
        setup found them, or behind an action's or state's check)."""
        assert self.slots is not None
        return self.slots

    # -- auto commit --

    def _called_home(self) -> None:
        if self._commit_timer is None and self._slots.trial == self._slots.booted:
            self._commit_timer = asyncio.get_running_loop().call_later(self.commit_delay, self._commit_after_call_home)

    def _commit_after_call_home(self) -> None:
        self._commit_task = asyncio.get_running_loop().create_task(self._mark_good())

    async def _mark_good(self) -> None:
        try:
            committed = await self.ctx.run_blocking(self._slots.mark_good)
        except Exception as exc:
            self.ctx.log.error("slot %s called home but cannot be committed: %s", self._slots.booted, exc)
            self._event(self._slots.booted, "commit", "commit-failed", _error("unexpected-error", str(exc)))
            return
        if committed:
            self.ctx.log.info("slot %s called home: committed", self._slots.booted)
            self._times.last_changed[self._slots.booted] = now()
            self._event(self._slots.booted, "commit", "revision-committed")

    # -- state --

    def _revision(self, slot: Slot) -> dict[str, Any]:
        s = self._slots
        dl = self.downloads.get(slot.name)
        if dl is not None:
            state = "downloading"
        elif slot.version is None:
            state = "not-available"
        elif slot.name in (s.booted, s.primary):
            state = "in-use"
        else:
            state = "available"
        rev: dict[str, Any] = {
            "id": IDS[slot.name],
            "state": state,
            "last-changed": self._times.last_changed.get(slot.name) or slot.installed or self.booted_at,
            "is-valid": slot.version is not None and dl is None,
            "is-active": slot.name == s.booted,
            "is-committed": slot.name == s.primary,
        }
        if dl is None and (done := self._times.completed.get(slot.name) or (slot.installed if slot.source != "factory" else None)):
            rev["download-completed"] = done
        if slot.version is not None and dl is None:
            rev["version"] = slot.version
            if slot.hash:
                rev["hash"] = slot.hash
            if slot.source and slot.source != "factory":
                rev["source"] = {"url": slot.source}
        return rev

    async def state(self, paths: list[str] | None) -> dict[str, Any] | None:
        if self.slots is None:
            return None
        software = {
            "name": SOFTWARE,
            "capability": [f"{SWM}:{c}" for c in CAPABILITIES],
            "revisions": {"maximum-number-of-revisions": len(SLOT_NAMES),
                          "revision": [self._revision(slot) for slot in self.slots.slots()]},
        }
        return {"ietf-hardware:hardware": {"component": [{"name": COMPONENT, f"{SWM}:software": {"software": [software]}}]}}

    # -- actions --

    async def action(self, call: ActionCall) -> dict[str, Any] | None:
        if self.slots is None:
            raise OperationNotSupported("this board has no firmware slots")
        if call.keys.get("component", {}).get("name") != COMPONENT or call.keys.get("software", {}).get("name") != SOFTWARE:
            raise InvalidValue(f"only {COMPONENT}'s {SOFTWARE} can be managed", app_tag="request-not-supported")
        if call.name == "download":
            return self._download(call.input)
        slot = self._slot(call.keys.get("revision", {}).get("id"))
        try:
            if call.name == "abort-download":
                self._abort(slot)
                return None
            if call.name == "activate":
                await self._activate(slot)
                return None
            if call.name == "commit":
                await self.ctx.run_blocking(self.slots.commit, slot)
                self._times.last_changed[slot] = now()
                self._event(slot, "commit", "revision-committed")
                return None
            if call.name == "delete":
                await self._delete(slot)
                return None
        except BundleError as exc:
            raise OperationFailed(exc.message, app_tag=exc.tag) from None
        raise OperationNotSupported(f"no action {call.name}")

    def _slot(self, rid: object) -> str:
        for name, i in IDS.items():
            if str(i) == str(rid):
                return name
        raise InvalidValue(f"no revision {rid}", app_tag="request-not-supported")

    def _download(self, inp: dict[str, Any]) -> dict[str, Any]:
        if self.downloads:
            raise InUse("a download is already running", app_tag="component-busy")
        free = [n for n in SLOT_NAMES if n not in (self._slots.booted, self._slots.primary, self._slots.trial)]
        target = inp.get("target", {})
        by_user = target.get("selected-by-user")
        if by_user is not None:
            if by_user["operation"] == "create":
                raise OperationFailed("both slots exist: replace the inactive one", app_tag="maximum-number-of-revisions-reached")
            slot = self._slot(by_user.get("replace", {}).get("id"))
            if slot not in free:
                raise OperationFailed(f"revision {IDS[slot]} is in use", app_tag="cannot-overwrite-revision")
        else:
            rule = target.get("selected-by-system", {}).get("replace", {})
            candidates = [n for n in free if not rule.get("not-available-only", True) or self._slot_info(n).version is None]
            if not candidates:
                raise OperationFailed("no revision may be replaced", app_tag="cannot-overwrite-revision")
            slot = candidates[0]
        url = inp["source"]["url"]
        old = self._slot_info(slot)
        dl = Download(asyncio.get_running_loop().create_task(self._run_download(slot, url)), url)
        self.downloads[slot] = dl
        self._times.last_changed[slot] = now()
        out: dict[str, Any] = {"target": {"id": IDS[slot]}}
        if old.version is not None:
            out["target"]["replaces"] = {"version": old.version, **({"hash": old.hash} if old.hash else {})}
        return out

    def _slot_info(self, name: str) -> Slot:
        return next(s for s in self._slots.slots() if s.name == name)

    async def _run_download(self, slot: str, url: str) -> None:
        dl = self.downloads[slot]
        staging = Path(self._slots.staging_dir) / f".download-{slot}"

        def progress(received: int, total: int | None) -> None:
            dl.received, dl.total = received, total

        try:
            await fetch(url, staging, max_size=self.max_size, timeout=self.timeout, ssl_context=self.ssl_context, progress=progress)
            dl.installing = True
            await self.ctx.run_blocking(self._slots.install, staging, slot, url)
        except asyncio.CancelledError:
            self._finish(slot)
            self._event(slot, "abort-download", "download-revision-aborted")
            self._event(slot, None, "download-revision-failed", _error("action-aborted", "aborted by abort-download"))
            return
        except (FetchError, BundleError) as exc:
            self.ctx.log.warning("download of %s into slot %s failed: %s", url, slot, exc.message)
            self._finish(slot)
            self._event(slot, None, "download-revision-failed", _error(exc.tag, exc.message))
            return
        except Exception as exc:
            self.ctx.log.exception("download of %s into slot %s failed", url, slot)
            self._finish(slot)
            self._event(slot, None, "download-revision-failed", _error("unexpected-error", str(exc)))
            return
        finally:
            staging.unlink(missing_ok=True)
        self._finish(slot)
        self._event(slot, None, "revision-downloaded")

    def _finish(self, slot: str) -> None:
        self.downloads.pop(slot, None)
        self._times.last_changed[slot] = self._times.completed[slot] = now()

    def _abort(self, slot: str) -> None:
        dl = self.downloads.get(slot)
        if dl is None:
            raise OperationFailed(f"revision {IDS[slot]} is not being downloaded", app_tag="already-completed")
        if dl.installing:
            self._event(slot, "abort-download", "abort-failed", _error("cannot-abort", "the image is being written"))
            raise OperationFailed("the image is being written into the slot: too late to abort", app_tag="cannot-abort")
        dl.task.cancel()
        return None

    async def _activate(self, slot: str) -> None:
        if slot in self.downloads or self._slot_info(slot).version is None:
            raise OperationFailed(f"revision {IDS[slot]} holds no valid image", app_tag="revision-not-valid")
        if slot == self._slots.booted:
            raise OperationFailed(f"revision {IDS[slot]} is already active", app_tag="request-not-supported")
        await self.ctx.run_blocking(self._slots.activate, slot)
        self._times.last_changed[slot] = now()
        # the reply goes out first; the new image reports revision-activated
        asyncio.get_running_loop().call_later(self.reboot_delay, self._slots.reboot)
        return None

    async def _delete(self, slot: str) -> None:
        if slot in self.downloads:
            raise InUse(f"revision {IDS[slot]} is being downloaded", app_tag="component-busy")
        old = self._slot_info(slot)
        await self.ctx.run_blocking(self._slots.erase, slot)
        self._times.last_changed[slot] = now()
        self._times.completed.pop(slot, None)
        body = {"id": IDS[slot], **({"version": old.version} if old.version else {})}
        self.ctx.notify(_software({"revision-deleted": body}))
        return None

    # -- notifications --

    def _event(self, slot: str, container: str | None, name: str, body: dict[str, Any] | None = None) -> None:
        inner = {name: body or {}}
        if container is not None:
            inner = {container: inner}
        self.ctx.notify(_software({"revision": [{"id": IDS[slot], **inner}]}))


def _software(revisions: dict[str, Any]) -> dict[str, Any]:
    return {"ietf-hardware:hardware": {"component": [
        {"name": COMPONENT, f"{SWM}:software": {"software": [{"name": SOFTWARE, "revisions": revisions}]}}]}}


def _error(tag: str, message: str) -> dict[str, Any]:
    return {"error": {"tag": f"{SWM}:{tag}", "message": message}}
