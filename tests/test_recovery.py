"""The recovery matrix: whatever happened to the state directory, the box
calls home if anything usable is on it, and says in its log and in <get>
what it found and what it did (README, "Recovery")."""

from __future__ import annotations

import logging
import os
import shutil
import stat

import pytest

from agent.callhome import build
from agent.datastore.persist import FACTORY, FILENAME, PREVIOUS
from agent.state import agent_state

from .support import client_edit, run_agent, wait_for

AGENT_STATE = ("subtree", '<agent-state xmlns="urn:dpu-agent:yang:dpu-agent"/>')


def corrupt(path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(raw)
    path.chmod(0o600)


def provisioned(harness, lst):
    """A state directory as provisioning leaves it, plus one commit: the current
    slot has max-attempts 5, the previous 3, the factory configuration 3."""
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)], max_attempts=3)]))
    shutil.copy(harness.state_dir / FILENAME, harness.state_dir / FACTORY)
    (harness.state_dir / FACTORY).chmod(0o400)
    m = lst.accept(harness)
    m.edit_config(target="running", config=client_edit("nms", "<reconnect-strategy><max-attempts>5</max-attempts></reconnect-strategy>"))
    m.copy_config(source="running", target="startup")
    m.close_session()
    harness.stop()
    lst.reset()
    (harness.tmp / "initial.xml").unlink()


def restart_and_call_home(harness, lst, config: bool = False):
    cfg = None
    if config:  # an operator's --config: the factory default of the test harness, max-attempts 4
        cfg = harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)], max_attempts=4)])
    harness.start(cfg)
    m = lst.accept(harness)
    state = m.get(filter=AGENT_STATE).data_xml
    attempts = m.get_config(source="running").data_xml.split("<max-attempts>")[1].split("<")[0]
    m.close_session()
    return state, attempts


def test_both_slots_corrupt_start_from_the_factory_configuration(harness, caplog):
    lst = harness.listener()
    provisioned(harness, lst)
    corrupt(harness.state_dir / FILENAME)
    corrupt(harness.state_dir / PREVIOUS)
    with caplog.at_level(logging.ERROR):
        state, attempts = restart_and_call_home(harness, lst)
    assert "<loaded-from>factory</loaded-from>" in state and attempts == "3"
    assert f"{harness.state_dir / FILENAME}: corrupt (CRC-32" in state
    assert "starting from the factory configuration" in caplog.text
    assert stat.S_IMODE((harness.state_dir / FACTORY).stat().st_mode) == 0o400  # the agent never writes it


def test_both_slots_corrupt_with_config_start_from_it(harness):
    lst = harness.listener()
    provisioned(harness, lst)
    (harness.state_dir / FACTORY).unlink()
    corrupt(harness.state_dir / FILENAME)
    corrupt(harness.state_dir / PREVIOUS)
    state, attempts = restart_and_call_home(harness, lst, config=True)
    assert "<loaded-from>initial-file</loaded-from>" in state and attempts == "4"


def test_both_slots_corrupt_and_no_fallback_exits_saying_why(harness, yang_dirs):
    lst = harness.listener()
    provisioned(harness, lst)
    (harness.state_dir / FACTORY).unlink()
    corrupt(harness.state_dir / FILENAME)
    corrupt(harness.state_dir / PREVIOUS)
    r = run_agent("run", "--state-dir", str(harness.state_dir), yang_dir=yang_dirs[0])
    assert r.returncode == 1
    assert "startup.cbor: corrupt" in r.stderr and "startup.prev.cbor: corrupt" in r.stderr
    assert "no --config and no factory configuration" in r.stderr


def test_exposed_modes_are_repaired_and_logged(harness, caplog):
    lst = harness.listener()
    provisioned(harness, lst)
    key = harness.state_dir / "keys" / "host.key"
    key.chmod(0o644)
    (harness.state_dir / FILENAME).chmod(0o644)
    with caplog.at_level(logging.WARNING):
        state, attempts = restart_and_call_home(harness, lst)
    assert attempts == "5" and "<loaded-from>current</loaded-from>" in state
    for path in (key, harness.state_dir / FILENAME):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert f"<repaired>{path}: mode 644 was readable or writable by others, now 600</repaired>" in state
        assert any(r.levelno == logging.WARNING and str(path) in r.getMessage() for r in caplog.records)
    assert "PRIVATE KEY" not in caplog.text


@pytest.mark.parametrize("where", [FILENAME, PREVIOUS])
def test_a_directory_in_place_of_a_store_file_is_moved_aside(harness, where):
    lst = harness.listener()
    provisioned(harness, lst)
    path = harness.state_dir / where
    path.unlink()
    path.mkdir(mode=0o755)
    state, attempts = restart_and_call_home(harness, lst)
    assert f"<repaired>{path} was a directory, not a file: moved aside to {where}.not-a-file-" in state
    assert "mode 755" not in state
    if where == FILENAME:
        assert "<loaded-from>previous</loaded-from>" in state and attempts == "3"
        assert f"<problem>{path}: missing</problem>" in state
    else:
        assert "<loaded-from>current</loaded-from>" in state and attempts == "5"
    assert [p.name.startswith(f"{where}.not-a-file-") for p in harness.state_dir.iterdir() if p.is_dir() and p.name not in ("keys", "slots")] == [True]


def test_a_corrupt_previous_slot_is_reported_while_the_current_is_fine(harness, caplog):
    lst = harness.listener()
    provisioned(harness, lst)
    corrupt(harness.state_dir / PREVIOUS)
    with caplog.at_level(logging.ERROR):
        state, attempts = restart_and_call_home(harness, lst)
    assert "<loaded-from>current</loaded-from>" in state and attempts == "5"
    assert f"<previous-problem>{harness.state_dir / PREVIOUS}: corrupt (CRC-32" in state
    assert any(r.levelno == logging.ERROR and PREVIOUS in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_an_unusable_host_key_is_an_error_in_log_and_state_until_fixed(harness, caplog, damage):
    lst = harness.listener()
    provisioned(harness, lst)
    key = harness.state_dir / "keys" / "host.key"
    good = key.read_bytes()
    if damage == "missing":
        key.unlink()
    else:
        key.write_bytes(good[: len(good) // 2])
    with caplog.at_level(logging.ERROR):
        agent = harness.start(None)
        wait_for(lambda: agent.callhome.states["nms"].key_problem is not None)
    problem = agent.callhome.states["nms"].key_problem
    assert "no private key for it" in problem and "dpu-agent provision" in problem
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and "host key" in r.getMessage()]
    assert len(errors) == 1  # once, not per attempt
    data = harness.call(lambda: agent_state(agent.board, agent.started, agent.callhome.state(), agent.startup))
    assert data["dpu-agent:agent-state"]["call-home"]["netconf-client"][0]["key-problem"] == problem
    # the key provisioned again: the box calls home without a restart, and the problem is gone
    key.write_bytes(good)
    os.chmod(key, 0o600)
    m = lst.accept(harness)
    state = m.get(filter=AGENT_STATE).data_xml
    assert "<key-problem>" not in state
    m.close_session()
