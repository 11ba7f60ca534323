"""The simulated board's A/B slots (agent/hal/slots.py) without NETCONF: the
boot loader's tries and fallback, what an install leaves after a failure,
and what the software plugin reports when the board fell back."""

from __future__ import annotations

import json
import logging

import pytest

from agent.hal.sim import SimBoard
from agent.hal.slots import BundleError, SimSlots
from agent.plugins import PluginContext
from agent.plugins.software import SoftwarePlugin

from .support import pki
from .support.bundles import bundle


@pytest.fixture
def vendor(tmp_path):
    signer = pki.ca("vendor")
    signer.write_cert(tmp_path / "firmware-keyring.pem")
    return signer


def boot(tmp_path) -> SimSlots:
    return SimSlots(tmp_path / "slots", tmp_path / "firmware-keyring.pem")


def test_trial_boots_use_up_tries_then_fall_back(tmp_path, vendor):
    slots = boot(tmp_path)
    (tmp_path / "b").write_bytes(bundle(vendor, "2.0"))
    slots.install(tmp_path / "b", "B")
    slots.activate("B")
    for left in (2, 1, 0):  # each boot counts, whatever ended the one before
        slots = boot(tmp_path)
        assert (slots.booted, slots.trial, slots.tries_left) == ("B", "B", left)
    slots = boot(tmp_path)
    assert (slots.booted, slots.primary, slots.trial, slots.fell_back_from) == ("A", "A", None, "B")
    slots = boot(tmp_path)
    assert (slots.booted, slots.fell_back_from) == ("A", None)  # told once


def test_a_good_trial_stays(tmp_path, vendor):
    slots = boot(tmp_path)
    (tmp_path / "b").write_bytes(bundle(vendor, "2.0"))
    slots.install(tmp_path / "b", "B")
    slots.activate("B")
    slots = boot(tmp_path)
    assert slots.mark_good() and slots.primary == "B"
    for _ in range(5):
        assert boot(tmp_path).booted == "B"


def test_only_a_boot_that_changes_the_boot_state_writes_it(tmp_path, vendor):
    boot(tmp_path)
    written = (tmp_path / "slots" / "boot.json").stat()
    slots = boot(tmp_path)  # nothing on trial: nothing to count
    assert (tmp_path / "slots" / "boot.json").stat().st_ino == written.st_ino
    assert slots.booted == "A"
    (tmp_path / "b").write_bytes(bundle(vendor, "2.0"))
    slots.install(tmp_path / "b", "B")
    slots.activate("B")
    slots = boot(tmp_path)  # a trial boot counts, on disk
    assert json.loads((tmp_path / "slots" / "boot.json").read_text())["tries_left"] == slots.tries_left == 2


def test_install_refuses_the_running_slot_and_bad_bundles_leave_the_slot_alone(tmp_path, vendor):
    slots = boot(tmp_path)
    (tmp_path / "b").write_bytes(bundle(vendor, "2.0"))
    with pytest.raises(BundleError) as err:
        slots.install(tmp_path / "b", "A")
    assert err.value.tag == "cannot-overwrite-revision"
    slots.install(tmp_path / "b", "B")
    before = (tmp_path / "slots" / "B.img").read_bytes()
    for data, tag in ((b"short", "unsupported-format"), (b"x" * 100 + (50).to_bytes(8, "big"), "unsupported-format"),
                      (bundle(pki.ca("other"), "9"), "revision-not-valid")):
        (tmp_path / "bad").write_bytes(data)
        with pytest.raises(BundleError) as err:
            slots.install(tmp_path / "bad", "B")
        assert err.value.tag == tag
    assert (tmp_path / "slots" / "B.img").read_bytes() == before
    assert [s.version for s in slots.slots()] == ["sim", "2.0"]


def test_a_power_cut_while_writing_leaves_an_empty_slot_not_half_an_image(tmp_path, vendor):
    slots = boot(tmp_path)
    (tmp_path / "b").write_bytes(bundle(vendor, "2.0"))
    slots.install(tmp_path / "b", "B")
    # the writer drops the slot's metadata before it replaces the image: cut there
    (tmp_path / "slots" / "B.json").unlink()
    slots = boot(tmp_path)
    assert [s.version for s in slots.slots()] == ["sim", None]
    with pytest.raises(BundleError):
        slots.activate("B")


def test_the_software_plugin_reports_a_fallback_as_activate_failed(tmp_path, vendor):
    slots = boot(tmp_path)
    (tmp_path / "b").write_bytes(bundle(vendor, "2.0"))
    slots.install(tmp_path / "b", "B")
    slots.activate("B")
    for _ in range(3):
        boot(tmp_path)
    board = SimBoard(tmp_path)  # the fourth boot: back on A
    sent: list[dict] = []
    SoftwarePlugin().setup(PluginContext(board=board, log=logging.getLogger("test"), notify=sent.append))
    assert len(sent) == 1
    revision = sent[0]["ietf-hardware:hardware"]["component"][0]["bbf-software-management:software"]["software"][0]["revisions"]["revision"][0]
    assert revision["id"] == 1
    assert revision["activate"]["activate-failed"]["error"]["tag"] == "bbf-software-management:revision-not-valid"
    assert json.loads((tmp_path / "slots" / "boot.json").read_text())["trial"] is None


def test_the_loaded_simulated_board_reboots_through_what_it_was_given(tmp_path):
    """hal.load hands the simulated board its reboot (the daemon's stop) at
    construction; a board loaded without one only sets the flag."""
    from agent import hal

    stops = []
    board = hal.load("sim", state_dir=tmp_path, on_reboot=lambda: stops.append(1))
    board.slots.reboot()
    assert board.slots.reboot_requested and stops == [1]
    quiet = hal.load("sim", state_dir=tmp_path / "other")
    quiet.slots.reboot()
    assert quiet.slots.reboot_requested and stops == [1]
