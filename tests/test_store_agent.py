"""The configuration store seen from a running agent: the fallback to the
previous configuration in operational state, a format-1 store, a full disk.
The store holds startup, the datastore the agent boots from: <copy-config>
to startup writes it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from ncclient.operations import RPCError

from agent.callhome import build
from agent.datastore.persist import FILENAME, LEGACY_NAMES, MIGRATED, PREVIOUS, StartupStore

from .support import Harness, client_edit

DATA = os.path.join(os.path.dirname(__file__), "data")
AGENT_STATE = ("subtree", '<agent-state xmlns="urn:dpu-agent:yang:dpu-agent"/>')


def max_attempts(m, source="running") -> str:
    xml = m.get_config(source=source).data_xml
    return xml.split("<max-attempts>")[1].split("<")[0]


def test_a_corrupt_current_configuration_falls_back_to_the_previous_one(harness):
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)], max_attempts=3)]))
    m = lst.accept(harness)
    m.edit_config(target="running", config=client_edit("nms", "<reconnect-strategy><max-attempts>7</max-attempts></reconnect-strategy>"))
    m.copy_config(source="running", target="startup")
    m.close_session()
    harness.stop()
    current = harness.state_dir / FILENAME
    raw = bytearray(current.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # a flipped byte in the payload
    current.write_bytes(raw)
    lst.reset()
    harness.start(None)
    m = lst.accept(harness)
    state = m.get(filter=AGENT_STATE).data_xml
    assert "<loaded-from>previous</loaded-from>" in state
    assert f"<problem>{current}: corrupt (CRC-32" in state
    assert max_attempts(m) == "3"  # the configuration before the edit
    m.close_session()


def test_a_store_written_before_sids_is_loaded(tmp_path, yang_dirs):
    h = Harness(tmp_path, yang_dirs)
    try:
        shutil.copy(os.path.join(DATA, "running-v1.cbor"), h.state_dir / FILENAME)
        (h.state_dir / FILENAME).chmod(0o600)  # as the agent wrote it
        agent = h.start(None)
        assert agent.loaded_from == "current" and agent.store_problem is None
        expected = json.load(open(os.path.join(DATA, "running-v1.json")))
        assert json.loads(h.call(agent.datastore.running.to_json)) == expected
    finally:
        h.close()


@pytest.fixture
def tiny_tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "state"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(directory) -> None:
    with open(directory / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


def test_a_full_disk_refuses_the_write_and_keeps_the_old_configuration(tiny_tmpfs, tmp_path, yang_dirs):
    h = Harness(tmp_path, yang_dirs)  # its state dir is the tmpfs
    try:
        lst = h.listener()
        h.start(h.config([h.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)], max_attempts=3)]))
        m = lst.accept(h)
        m.edit_config(target="running", config=client_edit("nms", "<reconnect-strategy><max-attempts>4</max-attempts></reconnect-strategy>"))
        m.copy_config(source="running", target="startup")
        stored = {name: (tiny_tmpfs / name).read_bytes() for name in (FILENAME, PREVIOUS)}
        m.edit_config(target="running", config=client_edit("nms", "<reconnect-strategy><max-attempts>9</max-attempts></reconnect-strategy>"))
        fill(tiny_tmpfs)
        with pytest.raises(RPCError) as err:
            m.copy_config(source="running", target="startup")
        assert err.value.tag == "resource-denied"
        assert "No space left on device" in err.value.message
        assert max_attempts(m, "startup") == "4"
        assert {name: (tiny_tmpfs / name).read_bytes() for name in (FILENAME, PREVIOUS)} == stored
        assert not [p.name for p in tiny_tmpfs.iterdir() if p.name.endswith(".tmp")]
        # a copy that changes nothing writes nothing: no space needed
        m.edit_config(target="running", config=client_edit("nms", "<reconnect-strategy><max-attempts>4</max-attempts></reconnect-strategy>"))
        m.copy_config(source="running", target="startup")
        assert {name: (tiny_tmpfs / name).read_bytes() for name in (FILENAME, PREVIOUS)} == stored
        m.edit_config(target="running", config=client_edit("nms", "<reconnect-strategy><max-attempts>9</max-attempts></reconnect-strategy>"))
        # space again: the agent kept serving and the write now goes through
        (tiny_tmpfs / "filler").unlink()
        m.copy_config(source="running", target="startup")
        assert max_attempts(m, "startup") == "9"
        m.close_session()
    finally:
        h.close()


def test_a_state_dir_of_an_older_agent_starts_with_its_config_under_the_new_names(tmp_path, yang_dirs):
    """Before issue 17 the startup store was running.cbor / running.prev.cbor:
    the agent copies them to the new names at start-up and serves their
    content; the old files stay, unchanged, for an older image the board may
    fall back to."""
    h = Harness(tmp_path, yang_dirs)
    raw = open(os.path.join(DATA, "running-v1.cbor"), "rb").read()
    try:
        for old in LEGACY_NAMES.values():
            (h.state_dir / old).write_bytes(raw)
            (h.state_dir / old).chmod(0o600)
        agent = h.start(None)
        assert agent.loaded_from == "current" and agent.store_problem is None
        expected = json.load(open(os.path.join(DATA, "running-v1.json")))
        assert json.loads(h.call(agent.datastore.running.to_json)) == expected
        names = {p.name for p in h.state_dir.iterdir()}
        assert {FILENAME, PREVIOUS, *LEGACY_NAMES.values()} <= names
        assert all((h.state_dir / old).read_bytes() == raw for old in LEGACY_NAMES.values())
        assert (h.state_dir / FILENAME).stat().st_mode & 0o777 == 0o600
    finally:
        h.stop()


@pytest.mark.parametrize("copied", [(), (FILENAME,), (FILENAME, PREVIOUS)], ids=["before", "after-current", "after-both"])
def test_a_power_cut_during_the_migration_leaves_a_usable_store(tmp_path, schema, copied):
    """A power cut before or between the copies (the record of what was
    copied not written yet): every slot is whole under its old name and
    maybe its new one, the store loads the configuration, and the next
    migration finishes the job."""
    raw = open(os.path.join(DATA, "running-v1.cbor"), "rb").read()
    for new, old in LEGACY_NAMES.items():
        (tmp_path / old).write_bytes(raw)
        if new in copied:
            (tmp_path / new).write_bytes(raw)
    expected = json.load(open(os.path.join(DATA, "running-v1.json")))
    store = StartupStore(tmp_path, schema)
    with store.load().tree as tree:  # read as found, before any copy
        assert json.loads(tree.to_json()) == expected
    store.migrate()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([FILENAME, PREVIOUS, MIGRATED, *LEGACY_NAMES.values()])
    loaded = StartupStore(tmp_path, schema).load()
    with loaded.tree as tree:
        assert loaded.source == "current" and json.loads(tree.to_json()) == expected
    assert StartupStore(tmp_path, schema).migrate() == []  # nothing left to do


def test_after_a_fall_back_to_an_older_image_its_edits_are_the_ones_kept(tmp_path, schema):
    """Update, fall back, update again: the newer agent's own edits stay while
    the old slots are unchanged; once the older image (booted by the A/B
    fallback) wrote its running.cbor, that configuration is the newest and
    the next migration takes it."""
    raw = open(os.path.join(DATA, "running-v1.cbor"), "rb").read()
    (tmp_path / LEGACY_NAMES[FILENAME]).write_bytes(raw)
    store = StartupStore(tmp_path, schema)
    assert store.migrate() == [f"{tmp_path / LEGACY_NAMES[FILENAME]} copied to {FILENAME}"]
    # the newer agent edits: port 4334 -> 4444
    with store.load().tree as tree:
        edited = json.loads(tree.to_json())
    edited_text = json.dumps(edited).replace('"remote-port": 4334', '"remote-port": 4444')
    with schema.parse(edited_text, "json") as tree:
        store.save(tree)
    assert StartupStore(tmp_path, schema).migrate() == []  # old slot unchanged: the edit stays
    with StartupStore(tmp_path, schema).load().tree as tree:
        assert '"remote-port":4444' in tree.to_json()
    # the board falls back to the older image, which saves its own edit under the old name
    older = json.dumps(edited).replace('"remote-port": 4334', '"remote-port": 5555')
    with schema.parse(older, "json") as tree:
        (tmp_path / LEGACY_NAMES[FILENAME]).write_bytes(store.encode(tree))
    again = StartupStore(tmp_path, schema)
    assert again.migrate() == [f"{tmp_path / LEGACY_NAMES[FILENAME]} copied to {FILENAME} (an older image wrote it since the last copy)"]
    with again.load().tree as tree:
        assert '"remote-port":5555' in tree.to_json()
