"""Firmware update on the QEMU A/B board (board/bootloader.py): RAUC on the
board writes the slots and, through its ``custom`` backend, the boot
environment; the host plays the boot loader, counting boots like U-Boot's
bootcount. The manager is ncclient on the host, the bundles come from an
HTTP server on the host.

One board for the whole module, in steps (each starts where the last one
left the board): an update that calls home and is committed; an update whose
agent hangs and one whose agent exits at once, both given up by the boot
loader after ATTEMPTS boots; power cuts during a download and during an
install. Pass/fail comes from the NETCONF sessions (state, replayed
notifications), the slot each boot ran and how QEMU ended each boot.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

from board.bootloader import ABBoard
from board.qemu import BoardOptions

from .support import pki
from .support.boards import IMAGE_YANG, Dpu, agent_image, agent_state, missing_image_tools, need_board, rauc_bundle
from .support.software import download, on_revision, revisions

pytestmark = [pytest.mark.board, pytest.mark.skipif(missing_image_tools() is not None, reason=missing_image_tools() or "")]

#: boots a new or activated slot gets (the boot environment's BOOT_ATTEMPTS)
ATTEMPTS = 2
#: the agent's watchdog timeout
WATCHDOG_TIMEOUT = 5
#: the watchdog as the boot loader leaves it: the agent must take it over by then
BOOT_WATCHDOG = 90
#: the slots' flash, slow enough to cut the power while RAUC writes a slot
FLASH_WRITE_BPS = 4 << 20
ARGS = (f"--board linux --watchdog-timeout {WATCHDOG_TIMEOUT} --plugin agent.plugins.software:SoftwarePlugin"
        f" --yang-dir /usr/share/dpu-agent/yang --yang-dir {IMAGE_YANG}")
#: a boot that calls home, or one that ends in a watchdog reset, under TCG
BOOT_TIMEOUT = 150


class Web(http.server.SimpleHTTPRequestHandler):
    """Serves the bundles; ``rate`` (bytes per second) slows it down."""

    rate: float | None = None
    sent = 0

    def log_message(self, *args) -> None:
        pass

    def copyfile(self, source, outputfile) -> None:
        while chunk := source.read(16384):
            outputfile.write(chunk)
            type(self).sent += len(chunk)
            if self.rate:
                time.sleep(len(chunk) / self.rate)


class Update:
    """The module's board, the vendor's signing key and the bundle server."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        vendor = pki.ca("vendor firmware signing")
        self.cert, self.key = vendor.write(tmp, "vendor")
        self.www = tmp / "www"
        self.www.mkdir()
        self.web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Web, directory=str(self.www)))
        threading.Thread(target=self.web.serve_forever, daemon=True).start()
        options = BoardOptions(deadline=300, append=f"board.boot_watchdog={BOOT_WATCHDOG}", disk_write_bps=FLASH_WRITE_BPS)
        self.dpu = Dpu(tmp, "x86_64", ARGS, make_board=lambda run, yang: ABBoard("x86_64", run, yang, options, attempts=ATTEMPTS))
        self.board: ABBoard = self.dpu.board
        shutil.copy(self.cert, self.dpu.run / "keyring.pem")
        # the factory writes the first image into slot A
        self.board.flash("A", agent_image(tmp / "factory.img", "1.0"))

    def bundle(self, version: str, **image) -> str:
        """A signed bundle of an agent image reporting ``version``: its URL as the board sees it."""
        rauc_bundle(self.www / f"{version}.raucb", agent_image(self.tmp / f"{version}.img", version, **image),
                    self.cert, self.key, version)
        return f"http://10.0.2.2:{self.web.server_address[1]}/{version}.raucb"

    def call_home(self, boot: int):
        """The session of boot ``boot``'s call home, with the software
        notifications so far (replayed) in ``m.history``: (revision id,
        notification, error tag)."""
        self.board.wait_boot(boot, BOOT_TIMEOUT)
        self.dpu.listener.reset()
        m = self.dpu.accept(BOOT_TIMEOUT)
        assert len(self.board.boots) == boot, self.board.summary()
        m.create_subscription(start_time="2000-01-01T00:00:00Z")
        m.history = []
        while (n := m.take_notification(timeout=30)) is not None:
            if "replayComplete" in n.notification_xml:
                break
            m.history += software_events(n.notification_xml)
        else:
            raise AssertionError("no replayComplete")
        return m

    def close(self) -> None:
        self.dpu.close()
        self.web.shutdown()
        self.web.server_close()


def software_events(xml: str) -> list[tuple[int, str, str]]:
    found = re.search(r"<revision>\s*<id>(\d+)</id>.*?<((?:revision|download-revision)-[a-z]+|[a-z]+-failed)[ >/]", xml, re.S)
    if found is None:
        return []
    tag = re.search(r"<tag[^>]*>(?:[^:<]*:)?([^<]+)</tag>", xml)
    return [(int(found.group(1)), found.group(2), tag.group(1) if tag else "")]


def wait_event(m, event: tuple[int, str, str], timeout: float, since: int = 0) -> None:
    """Wait for ``event`` in ``m.history[since:]``."""
    deadline = time.monotonic() + timeout
    while event not in m.history[since:]:
        n = m.take_notification(timeout=max(0.1, deadline - time.monotonic()))
        assert n is not None, f"no {event} in {timeout} s: {m.history}"
        m.history += software_events(n.notification_xml)


def active(m) -> tuple[int, int]:
    """(active revision, committed revision)"""
    revs = revisions(m)
    return (next(r for r, v in revs.items() if v["is-active"] == "true"),
            next(r for r, v in revs.items() if v["is-committed"] == "true"))


@pytest.fixture(scope="module")
def up(tmp_path_factory):
    need_board("x86_64")
    u = Update(tmp_path_factory.mktemp("update"))
    try:
        u.board.start()
        yield u
    finally:
        u.close()


def install(u: Update, m, rid: int, url: str, timeout: float = 180) -> None:
    since = len(m.history)
    download(m, url, rid)
    wait_event(m, (rid, "revision-downloaded", ""), timeout, since)


def test_update_to_a_second_image_calls_home_and_is_committed(up):
    m = up.call_home(1)
    assert up.board.current.slot == "A"
    assert agent_state(m)["software-version"] == "1.0"
    assert revisions(m)[0]["version"] == "factory" and active(m) == (0, 0)
    install(up, m, 1, up.bundle("2.0"))
    assert revisions(m)[1]["version"] == "2.0"
    on_revision(m, 1, "activate", "activate")
    m2 = up.call_home(2)
    assert up.board.current.slot == "B"
    # the first boot ended by the agent's reboot, not by the watchdog
    assert "WATCHDOG" not in up.board.boots[0].events and up.board.boots[0].status == 0
    assert agent_state(m2)["software-version"] == "2.0"
    wait_event(m2, (1, "revision-committed", ""), 60)
    assert m2.history[-3:] == [(1, "revision-downloaded", ""), (1, "revision-activated", ""), (1, "revision-committed", "")]
    assert active(m2) == (1, 1)
    env = up.board.env.read()
    assert env["BOOT_ORDER"].split()[0] == "B" and env["BOOT_B_LEFT"] == str(ATTEMPTS)
    m2.close_session()


def falls_back(up: Update, version: str, edits: dict[str, tuple[str, str]], *, by_watchdog: bool) -> None:
    """An image that never calls home: ATTEMPTS boots of it, each ended by a
    watchdog reset (or by the init script's reboot once it gives up restarting
    the agent), then the committed image again, reporting it."""
    first = len(up.board.boots)
    m = up.call_home(first)
    assert active(m) == (1, 1)
    install(up, m, 0, up.bundle(version, edits=edits))
    on_revision(m, 0, "activate", "activate")
    back = first + ATTEMPTS + 1
    # each failed boot lasts until a watchdog resets it: at most the boot watchdog's time
    up.board.wait_boot(back, ATTEMPTS * (BOOT_WATCHDOG + BOOT_TIMEOUT))
    m2 = up.call_home(back)
    trial = up.board.boots[first:back - 1]
    assert [b.slot for b in trial] == ["A"] * ATTEMPTS, up.board.summary()
    if by_watchdog:
        assert all("WATCHDOG" in b.events for b in trial), up.board.summary()
    else:
        assert all("WATCHDOG" not in b.events and b.status == 0 for b in trial), up.board.summary()
    assert up.board.current.slot == "B"
    assert agent_state(m2)["software-version"] == "2.0"
    assert m2.history[-2:] == [(0, "revision-downloaded", ""), (0, "activate-failed", "revision-not-valid")]
    assert active(m2) == (1, 1)
    assert revisions(m2)[0]["version"] == version
    m2.close_session()


def test_an_image_whose_agent_hangs_falls_back_to_the_committed_one(up):
    # the loop blocks before calling home: the agent's watchdog resets the board
    falls_back(up, "3.0-hangs", {"daemon.py": ("        callhome.apply(datastore.running)\n",
                                              "        __import__('time').sleep(1e6)\n        callhome.apply(datastore.running)\n")},
               by_watchdog=True)


def test_an_image_whose_agent_exits_at_once_falls_back_to_the_committed_one(up):
    # the agent never arms the watchdog: S50dpu-agent gives up restarting it and reboots
    falls_back(up, "3.1-exits", {"__init__.py": ('"""', 'raise SystemExit("this image\'s agent exits at once")\n"""')},
               by_watchdog=False)


def test_power_cuts_during_a_download_and_during_an_install_leave_a_board_that_calls_home(up):
    first = len(up.board.boots)
    m = up.call_home(first)
    # large enough to be cut: ~24 MB, served slowly, then written to the slow flash
    url = up.bundle("4.0", padding=24 << 20)
    Web.sent, Web.rate = 0, 1 << 20
    download(m, url, 0)
    deadline = time.monotonic() + 120
    while Web.sent < 4 << 20:
        assert time.monotonic() < deadline, f"the download did not start: {Web.sent} bytes sent"
        time.sleep(0.2)
    assert revisions(m)[0]["state"] == "downloading"
    up.board.power_cut()
    Web.rate = None
    m2 = up.call_home(first + 1)
    assert up.board.current.slot == "B" and agent_state(m2)["software-version"] == "2.0"
    assert active(m2) == (1, 1) and revisions(m2)[0]["state"] != "downloading"
    # again at full speed: the cut comes while RAUC writes slot A
    slot_a = up.board.slot_files["A"]
    before = slot_a.read_bytes()
    download(m2, url, 0)
    deadline = time.monotonic() + 180
    while slot_a.read_bytes() == before:
        assert time.monotonic() < deadline, "RAUC did not write slot A"
        time.sleep(0.2)
    up.board.power_cut()
    m3 = up.call_home(first + 2)
    assert up.board.current.slot == "B" and agent_state(m3)["software-version"] == "2.0"
    assert active(m3) == (1, 1)
    # the half-written slot is not offered as an image
    assert revisions(m3)[0]["is-valid"] == "false", revisions(m3)
    m3.close_session()
