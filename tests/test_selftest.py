"""``dpu-agent selftest`` on the host (the boards run it too: test_board.py)."""

from __future__ import annotations

import re

from .support import run_agent


def test_selftest_passes_on_the_simulated_board(tmp_path, yang_dirs):
    r = run_agent("selftest", "--board", "sim", "--state-dir", str(tmp_path), yang_dir=yang_dirs[0])
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^ok\s+yang: \d+ modules implemented", r.stdout, re.M)
    assert re.search(rf"^ok\s+configuration: none stored in {tmp_path}$", r.stdout, re.M)
    assert re.search(r"^ok\s+board sim: eth0 up ", r.stdout, re.M)
    assert r.stdout.rstrip().endswith("selftest: ok")
    assert list(tmp_path.iterdir()) == []  # it changes nothing


def test_selftest_fails_on_a_damaged_stored_configuration(tmp_path, yang_dirs):
    (tmp_path / "startup.cbor").write_bytes(b"\xff not cbor")
    r = run_agent("selftest", "--state-dir", str(tmp_path), yang_dir=yang_dirs[0])
    assert r.returncode == 1
    assert re.search(r"^FAIL\s+configuration: .*startup\.cbor", r.stdout, re.M), r.stdout
    assert r.stdout.rstrip().endswith("selftest: FAILED")
    assert (tmp_path / "startup.cbor").read_bytes() == b"\xff not cbor"


def test_selftest_fails_without_yang_modules(tmp_path):
    r = run_agent("selftest", "--state-dir", str(tmp_path), "--yang-dir", str(tmp_path), yang_dir=str(tmp_path))
    assert r.returncode == 1
    assert re.search(r"^FAIL\s+yang: ", r.stdout, re.M), r.stdout


def test_selftest_looks_for_the_watchdog_without_arming_it(tmp_path, yang_dirs):
    missing = tmp_path / "watchdog0"
    r = run_agent("selftest", "--board", "linux", "--watchdog", str(missing), "--state-dir", str(tmp_path), yang_dir=yang_dirs[0])
    assert r.returncode == 1
    assert re.search(rf"^FAIL\s+watchdog: {missing} does not exist$", r.stdout, re.M), r.stdout
    # a stand-in device: it is found, and nothing is written to it (no magic 'V')
    missing.write_bytes(b"")
    r = run_agent("selftest", "--board", "linux", "--watchdog", str(missing), "--state-dir", str(tmp_path), yang_dir=yang_dirs[0])
    assert re.search(rf"^ok\s+watchdog: {missing} \(not armed\)$", r.stdout, re.M), r.stdout
    assert missing.read_bytes() == b""
    r = run_agent("selftest", "--board", "linux", "--watchdog", "none", "--state-dir", str(tmp_path), yang_dir=yang_dirs[0])
    assert re.search(r"^ok\s+watchdog: none configured$", r.stdout, re.M), r.stdout
