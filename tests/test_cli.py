"""The dpu-agent command line, run as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from agent.callhome import build

from .conftest import Listener


def dpu_agent(*args, env_yang, timeout=60, **kw):
    env = dict(os.environ, DPU_AGENT_YANG_DIR=env_yang)
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=timeout, env=env, **kw)


@pytest.fixture
def ydir(yang_dirs):
    return yang_dirs[0]


def test_bad_arguments_exit_2(ydir):
    r = dpu_agent("run", "--no-such-option", env_yang=ydir)
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr
    r = dpu_agent(env_yang=ydir)
    assert r.returncode == 2


def test_missing_config_file(tmp_path, ydir):
    r = dpu_agent("run", "--state-dir", str(tmp_path), "--config", str(tmp_path / "nope.xml"), env_yang=ydir)
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
)
def test_invalid_config_file_names_the_node(tmp_path, ydir, content, expect):
    cfg = tmp_path / ("c.json" if content.startswith("{") else "c.xml")
    cfg.write_text(content)
    r = dpu_agent("run", "--state-dir", str(tmp_path / "s"), "--config", str(cfg), env_yang=ydir)
    assert r.returncode == 1, r.stderr
    assert "dpu-agent: error:" in r.stderr and expect in r.stderr
    assert not (tmp_path / "s" / "running.cbor").exists()


def test_run_calls_home_stops_on_sigterm_and_show_config(tmp_path, ydir, harness):
    lst = Listener()
    try:
        cfg = tmp_path / "initial.xml"
        cfg.write_text(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port, keepalives=(30, 3, 5))])]))
        env = dict(os.environ, DPU_AGENT_YANG_DIR=ydir)
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--state-dir", str(harness.state_dir), "--config", str(cfg)],
            env=env, stderr=subprocess.PIPE, text=True,
        )
        try:
            m = lst.accept(harness)
            assert "<idle-time>30</idle-time>" in m.get_config(source="running").data_xml
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        log = proc.stderr.read()
        assert "dpu-agent stopped" in log
    finally:
        lst.close()
    r = dpu_agent("show", "config", "--state-dir", str(harness.state_dir), env_yang=ydir)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    client = data["ietf-netconf-server:netconf-server"]["call-home"]["netconf-client"][0]
    assert client["name"] == "nms"
    r = dpu_agent("show", "config", "--format", "xml", "--state-dir", str(harness.state_dir), env_yang=ydir)
    assert "<idle-time>30</idle-time>" in r.stdout


def test_show_config_of_a_corrupt_store(tmp_path, ydir):
    (tmp_path / "running.cbor").write_bytes(b"\xff\x00garbage")
    r = dpu_agent("show", "config", "--state-dir", str(tmp_path), env_yang=ydir)
    assert r.returncode == 1 and "running.cbor" in r.stderr


def test_unknown_board(tmp_path, ydir):
    r = dpu_agent("run", "--board", "toaster", "--state-dir", str(tmp_path), env_yang=ydir)
    assert r.returncode == 1 and "unknown board" in r.stderr
