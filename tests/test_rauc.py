"""The Linux board's firmware slots through Debian's RAUC (agent/hal/slots.py
RaucSlots), on a test board whose custom boot-loader backend counts boots
(tests/rauc_board.py)."""

from __future__ import annotations

import json

import pytest

from agent.hal.slots import BundleError, RaucSlots

from .support import pki, rauc_board

pytestmark = pytest.mark.skipif(rauc_board.missing() is not None, reason=rauc_board.missing() or "")


@pytest.fixture
def board(tmp_path, monkeypatch):
    vendor = pki.ca("vendor firmware signing")
    cert, key = vendor.write(tmp_path, "vendor")
    b = rauc_board.RaucBoard(tmp_path / "board", cert.read_bytes())
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", b.env["DBUS_SYSTEM_BUS_ADDRESS"])
    b.vendor = (cert, key)
    yield b
    b.close()


def slots_after_boot(board, tmp_path) -> RaucSlots:
    board.boot()
    return RaucSlots(tmp_path / "agent-state", conf=str(board.conf), boot_id_file=board.boot_id,
                     reboot_command=("true",))


def test_install_activate_commit(board, tmp_path):
    slots = slots_after_boot(board, tmp_path)
    assert (slots.booted, slots.primary, slots.trial) == ("A", "A", None)
    v2 = board.bundle(tmp_path / "v2.raucb", *board.vendor, version="2.0")
    installed = slots.install(v2, "B", "http://example/v2.raucb")
    assert installed.version == "2.0" and installed.hash.startswith("sha256:")
    assert slots.primary == "A"  # written, not activated
    slots.activate("B")
    assert slots.trial == "B"
    slots = slots_after_boot(board, tmp_path)
    assert (slots.booted, slots.trial, slots.fell_back_from) == ("B", "B", None)
    assert slots.mark_good() and slots.trial is None
    for _ in range(4):  # committed: it keeps booting
        slots = slots_after_boot(board, tmp_path)
        assert slots.booted == "B" and slots.trial is None


def test_a_trial_that_never_comes_up_falls_back(board, tmp_path):
    slots = slots_after_boot(board, tmp_path)
    slots.install(board.bundle(tmp_path / "v2.raucb", *board.vendor, version="2.0"), "B")
    slots.activate("B")
    for _ in range(rauc_board.TRIES):  # the agent of B never calls home; the watchdog resets the board
        assert board.boot() == "B"
    slots = slots_after_boot(board, tmp_path)
    assert (slots.booted, slots.primary, slots.fell_back_from) == ("A", "A", "B")
    assert [s.version for s in slots.slots()] == ["factory", "2.0"]
    assert slots_after_boot(board, tmp_path).booted == "A"


def test_a_slot_cut_while_rauc_wrote_it_is_empty(board, tmp_path):
    slots = slots_after_boot(board, tmp_path)
    slots.install(board.bundle(tmp_path / "v2.raucb", *board.vendor, version="2.0"), "B")
    assert [s.version for s in slots.slots()] == ["factory", "2.0"]
    # the agent had written down the install when the power went: RAUC's status still names 2.0
    marks = tmp_path / "agent-state" / "trial.json"
    marks.write_text(json.dumps({**json.loads(marks.read_text()), "installing": "B"}))
    slots = slots_after_boot(board, tmp_path)
    assert [s.version for s in slots.slots()] == ["factory", None]
    with pytest.raises(BundleError):
        slots.activate("B")
    slots.install(board.bundle(tmp_path / "v3.raucb", *board.vendor, version="3.0"), "B")
    assert [s.version for s in slots.slots()] == ["factory", "3.0"]


def test_bundles_rauc_refuses(board, tmp_path):
    slots = slots_after_boot(board, tmp_path)
    stranger = pki.ca("someone else")
    good = board.bundle(tmp_path / "v2.raucb", *board.vendor, version="2.0")
    corrupt = tmp_path / "corrupt.raucb"
    data = bytearray(good.read_bytes())
    data[5000] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    cases = [
        (board.bundle(tmp_path / "stranger.raucb", *stranger.write(tmp_path, "stranger"), version="6"), "revision-not-valid"),
        (corrupt, "revision-corrupt"),
        (board.bundle(tmp_path / "other.raucb", *board.vendor, version="3", compatible="another-board"), "incompatible-version"),
    ]
    for bundle, tag in cases:
        with pytest.raises(BundleError) as err:
            slots.install(bundle, "B")
        assert err.value.tag == tag, err.value.message
    with pytest.raises(BundleError) as err:
        slots.install(good, "A")
    assert err.value.tag == "cannot-overwrite-revision"
    assert slots.booted == "A" and slots.primary == "A"
    slots.install(good, "B")
    with pytest.raises(BundleError):
        slots.erase("A")
    slots.erase("B")
    assert [s.version for s in slots.slots()] == ["factory", None]
    with pytest.raises(BundleError):
        slots.activate("B")


def test_update_over_netconf_through_rauc(board, tmp_path, harness):
    """The software plugin on RAUC's slots: download, activate, reboot, call home, commit."""
    import functools
    import http.server
    import threading

    from agent.callhome import build
    from agent.hal.sim import SimBoard
    from agent.plugins.software import SoftwarePlugin

    from .support.software import BBF, act, download, events, revisions

    www = tmp_path / "www"
    www.mkdir()
    board.bundle(www / "v2.raucb", *board.vendor, version="2.0")
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www)))
    threading.Thread(target=web.serve_forever, daemon=True).start()
    lst = harness.listener()

    def start(config):
        dpu = SimBoard()  # NICs and watchdog simulated, firmware slots from RAUC
        dpu.slots = slots_after_boot(board, tmp_path)
        harness.start(config, board=dpu, plugins=[SoftwarePlugin(commit_delay=1.0, reboot_delay=0.2)],
                      yang_dirs=(str(BBF), *harness.yang_dirs))
        return dpu, lst.accept(harness)

    try:
        dpu, m = start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]))
        m.create_subscription()
        download(m, f"http://127.0.0.1:{web.server_address[1]}/v2.raucb")
        assert events(m, 1) == [("revision-downloaded", "")]
        assert revisions(m)[1]["version"] == "2.0"
        act(m, "<revision><id>1</id><activate><activate/></activate></revision>")
        assert dpu.slots.trial == "B"
        m.close_session()
        harness.stop()
        lst.reset()
        dpu, m = start(None)  # the board reboots into B, on trial
        assert dpu.slots.booted == "B"
        m.create_subscription()
        assert events(m, 1) == [("revision-committed", "")]
        assert board.rauc("status").returncode == 0 and dpu.slots.trial is None
        m.close_session()
    finally:
        web.shutdown()
        web.server_close()
