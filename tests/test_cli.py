"""The dpu-agent command line, run as a real process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agent.callhome import build

from .support import Listener, run_agent


@pytest.fixture
def ydir(yang_dirs):
    return yang_dirs[0]


def test_bad_arguments_exit_2(ydir):
    r = run_agent("run", "--no-such-option", yang_dir=ydir)
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr
    r = run_agent(yang_dir=ydir)
    assert r.returncode == 2


def test_missing_config_file(tmp_path, ydir):
    r = run_agent("run", "--state-dir", str(tmp_path), "--config", str(tmp_path / "nope.xml"), yang_dir=ydir)
    assert r.returncode == 1 and "nope.xml: no such file" in r.stderr


@pytest.mark.parametrize(
    "content, expect",
    [
        ("<netconf-server xmlns='urn:ietf:params:xml:ns:yang:ietf-netconf-server'><call-home><netconf-client>"
         "<name>x</name><bogus/></netconf-client></call-home></netconf-server>", "unknown element <bogus>"),
        ("<netconf-server xmlns='urn:ietf:params:xml:ns:yang:ietf-netconf-server'><call-home><netconf-client>"
         "<name>x</name><reconnect-strategy><max-wait>0</max-wait></reconnect-strategy></netconf-client></call-home>"
         "</netconf-server>", "max-wait"),
        ("<netconf-server", "not well-formed"),
        ('{"ietf-netconf-server:netconf-server": {"call-home": {"netconf-client": [{"name": "x", "nope": 1}]}}}', "nope"),
    ],
    ids=["xml-unknown-element", "xml-max-wait-0", "xml-not-well-formed", "json-unknown-member"],
)
def test_invalid_config_file_names_the_node(tmp_path, ydir, content, expect):
    cfg = tmp_path / ("c.json" if content.startswith("{") else "c.xml")
    cfg.write_text(content)
    r = run_agent("run", "--state-dir", str(tmp_path / "s"), "--config", str(cfg), yang_dir=ydir)
    assert r.returncode == 1, r.stderr
    assert "dpu-agent: error:" in r.stderr and expect in r.stderr
    assert not (tmp_path / "s" / "startup.cbor").exists()


def test_run_calls_home_stops_on_sigterm_and_show_config(tmp_path, ydir, harness):
    lst = Listener()
    try:
        cfg = tmp_path / "initial.xml"
        cfg.write_text(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port, keepalives=(30, 3, 5))])]))
        env = dict(os.environ, DPU_AGENT_YANG_DIR=ydir)
        env.pop("PYTHONMALLOC", None)  # not started by the init script: it sets it itself
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--state-dir", str(harness.state_dir), "--config", str(cfg)],
            env=env, stderr=subprocess.PIPE, text=True,
        )
        try:
            m = lst.accept(harness)
            assert "<idle-time>30</idle-time>" in m.get_config(source="running").data_xml
            # started again on the C library's malloc, as the same process (agent/memory.py)
            assert b"\0PYTHONMALLOC=malloc\0" in b"\0" + Path(f"/proc/{proc.pid}/environ").read_bytes()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        log = proc.stderr.read()
        assert "dpu-agent stopped" in log
    finally:
        lst.close()
    r = run_agent("show", "config", "--state-dir", str(harness.state_dir), yang_dir=ydir)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    client = data["ietf-netconf-server:netconf-server"]["call-home"]["netconf-client"][0]
    assert client["name"] == "nms"
    r = run_agent("show", "config", "--format", "xml", "--state-dir", str(harness.state_dir), yang_dir=ydir)
    assert "<idle-time>30</idle-time>" in r.stdout


def test_show_config_of_a_corrupt_store(tmp_path, ydir):
    (tmp_path / "startup.cbor").write_bytes(b"\xff\x00garbage")
    r = run_agent("show", "config", "--state-dir", str(tmp_path), yang_dir=ydir)
    assert r.returncode == 1 and "startup.cbor" in r.stderr


def test_unknown_board(tmp_path, ydir):
    r = run_agent("run", "--board", "toaster", "--state-dir", str(tmp_path), yang_dir=ydir)
    assert r.returncode == 1 and "unknown board" in r.stderr


DATA = Path(__file__).parent / "data"


@pytest.fixture
def store_with_a_private_key(tmp_path, schema):
    """A state dir whose configuration holds a cleartext private key."""
    from agent.datastore.persist import StartupStore

    cfg = json.loads((DATA / "running-v1.json").read_text())
    client = cfg["ietf-netconf-server:netconf-server"]["call-home"]["netconf-client"][0]
    key = client["endpoints"]["endpoint"][0]["ssh"]["ssh-server-parameters"]["server-identity"]["host-key"][0]
    inline = key["public-key"]["inline-definition"]
    del inline["hidden-private-key"]
    inline["private-key-format"] = "ietf-crypto-types:one-asymmetric-key-format"
    inline["cleartext-private-key"] = "c2VjcmV0LWtleQ=="  # "secret-key"
    state = tmp_path / "state"
    tree = schema.parse(json.dumps(cfg), "json")
    StartupStore(state, schema).save(tree)
    tree.free()
    assert b"secret-key" in (state / "startup.cbor").read_bytes()  # stored, 0600, never shown
    return state


def test_show_config_as_cbor_diagnostic_notation(store_with_a_private_key, ydir):
    state = store_with_a_private_key
    r = run_agent("show", "config", "--format", "cbor-diag", "--state-dir", str(state), yang_dir=ydir)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"/ {state / 'startup.cbor'}: format 2, SID set ")
    assert "61406 / ietf-netconf-server:netconf-server /: {" in r.stdout  # an absolute SID at the top
    assert '          373 / name /: "nms",' in lines  # deltas below, with names
    assert "public-key-format /: 60814 / ietf-crypto-types:ssh-public-key-format /," in r.stdout


@pytest.mark.parametrize("fmt", ["json", "xml", "cbor-diag"])
def test_show_config_never_prints_private_keys(store_with_a_private_key, ydir, fmt):
    r = run_agent("show", "config", "--format", fmt, "--state-dir", str(store_with_a_private_key), yang_dir=ydir)
    assert r.returncode == 0, r.stderr
    assert "ssh-public-key-format" in r.stdout
    assert "c2VjcmV0LWtleQ" not in r.stdout and b"secret-key".hex() not in r.stdout and "cleartext-private-key" not in r.stdout


def test_show_config_of_an_unbooted_rootfs(tmp_path, ydir):
    """--root reads ROOTFS/var/lib/dpu-agent with ROOTFS/usr/share/dpu-agent/yang,
    and writes nothing (as root the rootfs is a read-only mount)."""
    root = tmp_path / "rootfs"
    root.mkdir()
    mounted = False
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(root)], capture_output=True).returncode == 0
    try:
        (root / "var/lib/dpu-agent").mkdir(parents=True)
        # an image written before issue 17: the store under its old name, read in place
        shutil.copy(DATA / "running-v1.cbor", root / "var/lib/dpu-agent/running.cbor")
        shutil.copytree(ydir, root / "usr/share/dpu-agent/yang")
        if mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(root)], check=True)
        r = run_agent("show", "config", "--root", str(root), yang_dir=str(tmp_path / "not-the-yang-dir"))
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == json.loads((DATA / "running-v1.json").read_text())
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(root)], check=False)
    empty = tmp_path / "empty-rootfs"
    empty.mkdir()
    r = run_agent("show", "config", "--root", str(empty), yang_dir=ydir)
    assert r.returncode == 1 and "usr/share/dpu-agent/yang: no such directory (give --yang-dir)" in r.stderr
    r = run_agent("show", "config", yang_dir=ydir)
    assert r.returncode == 2 and "--state-dir or --root" in r.stderr


def test_show_config_falls_back_to_the_previous_slot_with_a_warning(tmp_path, ydir):
    state = tmp_path / "state"
    state.mkdir()
    shutil.copy(DATA / "running-v1.cbor", state / "startup.prev.cbor")
    (state / "startup.cbor").write_bytes(b"DPUc\x02\x00")
    r = run_agent("show", "config", "--state-dir", str(state), yang_dir=ydir)
    assert r.returncode == 0, r.stderr
    assert f"warning: {state / 'startup.cbor'}: truncated" in r.stderr
    assert json.loads(r.stdout) == json.loads((DATA / "running-v1.json").read_text())


def test_syslog_without_a_system_log_falls_back_to_stderr(tmp_path):
    # Python 3.11+ builds a SysLogHandler for a missing socket without an
    # error and then prints a traceback for every record: the agent must look
    code = f"""
import argparse, logging
from agent import cli
cli.SYSLOG_SOCKET = {str(tmp_path / "no-syslogd")!r}
cli._setup_logging(argparse.Namespace(log_level="info", syslog=True))
logging.getLogger("dpu-agent").warning("still heard")
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent.parent)
    assert p.returncode == 0, p.stderr
    assert "dpu-agent: no system log" in p.stderr and "logging to stderr" in p.stderr
    assert "still heard" in p.stderr
    assert "Logging error" not in p.stderr and "Traceback" not in p.stderr
