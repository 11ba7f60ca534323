"""The configuration store: SID-keyed YANG-CBOR, the file format, the two
slots, and stores written before SIDs (format 1)."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import cbor2
import pytest

from agent.datastore import yangcbor
from agent.datastore.persist import FILENAME, PREVIOUS, StartupStore, StoreError, pack
from agent.datastore.sids import SID_DIR, SidMap, read_sid_file
from agent.yang.nodes import LeafType

DATA = Path(__file__).parent / "data"
V1_FILE = DATA / "running-v1.cbor"  # written by the format-1 writer, before SIDs
V1_JSON = DATA / "running-v1.json"


@pytest.fixture(scope="module")
def sids(schema):
    return SidMap(schema)


@pytest.fixture
def config(schema):
    tree = schema.parse(V1_JSON.read_text(), "json")
    yield tree
    tree.free()


def sid_of(identifier: str) -> int:
    for path in SID_DIR.glob("*.sid"):
        for item in read_sid_file(path)["item"]:
            if item["identifier"] == identifier:
                return int(item["sid"])
    raise KeyError(identifier)


NCS = "/ietf-netconf-server:netconf-server"


# -- SID-keyed YANG-CBOR --


def test_keys_are_deltas_from_the_parent_sid(config, sids):
    item = yangcbor.encode_tree(config, sids)
    top = sid_of(NCS)
    assert list(item) == [top]  # the outermost reference is 0: an absolute SID
    call_home = item[top][sid_of(NCS + "/call-home") - top]
    client = call_home[sid_of(NCS + "/call-home/netconf-client") - sid_of(NCS + "/call-home")][0]
    client_sid = sid_of(NCS + "/call-home/netconf-client")
    assert client[sid_of(NCS + "/call-home/netconf-client/name") - client_sid] == "nms"
    # choice and case are not data nodes: the delta skips them
    strategy = client[sid_of(NCS + "/call-home/netconf-client/reconnect-strategy") - client_sid]
    max_attempts = sid_of(NCS + "/call-home/netconf-client/reconnect-strategy/max-attempts")
    assert strategy[max_attempts - sid_of(NCS + "/call-home/netconf-client/reconnect-strategy")] == 4


def test_identityref_values_are_sids(config, sids):
    raw = cbor2.dumps(yangcbor.encode_tree(config, sids))
    ssh_format = sids.identity_sid["ietf-crypto-types:ssh-public-key-format"]
    assert cbor2.dumps(ssh_format) in raw
    assert b"ssh-public-key-format" not in raw


def test_decimal64_is_tag_4_and_round_trips():
    # no module of the agent's set has a decimal64 leaf: the codec is tested on its own
    lt = LeafType("decimal64", fraction_digits=2)
    assert yangcbor.encode_scalar(lt, "-3.14") == cbor2.CBORTag(4, [-2, -314])
    assert yangcbor.decode_scalar(lt, cbor2.CBORTag(4, [-2, -314])) == "-3.14"
    assert yangcbor.decode_scalar(lt, cbor2.CBORTag(4, [-1, 5])) == "0.50"
    with pytest.raises(yangcbor.CodecError):
        yangcbor.decode_scalar(lt, 3.14)


def test_sid_encoding_round_trips_and_is_smaller(schema, config, sids):
    by_sid = cbor2.dumps(yangcbor.encode_tree(config, sids))
    by_name = cbor2.dumps(yangcbor.encode_tree(config))
    assert len(by_sid) < len(by_name) / 2
    back = yangcbor.to_tree(schema, cbor2.loads(by_sid), sids)
    try:
        assert back.to_json() == config.to_json()
    finally:
        back.free()


def test_absolute_sids_and_names_decode(schema, sids):
    top, call_home = sid_of(NCS), sid_of(NCS + "/call-home")
    item = {
        cbor2.CBORTag(47, top): {  # tag 47: an absolute SID where a delta is expected
            call_home - top: {
                "netconf-client": [  # a name key: the members of its value are relative to 0
                    {
                        sid_of(NCS + "/call-home/netconf-client/name"): "x",
                        cbor2.CBORTag(47, sid_of(NCS + "/call-home/netconf-client/connection-type")): {"persistent": {}},
                    }
                ]
            }
        }
    }
    assert yangcbor.decode_to_json(schema, item, sids) == {"ietf-netconf-server:netconf-server": {"call-home": {
        "netconf-client": [{"name": "x", "connection-type": {"persistent": {}}}]}}}


def test_a_negative_delta_round_trips(schema, config, tmp_path):
    """A child numbered below its parent (an augment from a module with a lower
    block, or a later allocation) is keyed by a negative delta."""
    copy = tmp_path / "sid"
    shutil.copytree(SID_DIR, copy)
    path = next(copy.glob("ietf-netconf-server@*.sid"))
    content = json.loads(path.read_text())
    for item in content["ietf-sid-file:sid-file"]["item"]:
        if item["identifier"].endswith("/ssh/ssh/tcp-client-parameters/keepalives/idle-time"):
            item["sid"] = "61350"
    path.write_text(json.dumps(content))
    renumbered = SidMap(schema, copy)
    keepalives = sid_of(NCS + "/call-home/netconf-client/endpoints/endpoint/transport/ssh/ssh/tcp-client-parameters/keepalives")
    raw = cbor2.dumps(yangcbor.encode_tree(config, renumbered))
    assert cbor2.dumps({61350 - keepalives: 60})[1:] in raw
    back = yangcbor.to_tree(schema, cbor2.loads(raw), renumbered)
    try:
        assert back.to_json() == config.to_json()
    finally:
        back.free()


@pytest.mark.parametrize(
    "item, message",
    [
        (lambda: {99999: {}}, "SID 99999 is not a data node this agent knows"),
        # under a name key the reference is 0: 1 is not a child of netconf-server
        (lambda: {"ietf-netconf-server:netconf-server": {1: {}}}, "SID 1 is not a data node"),
        # a grandchild's SID as a child's
        (lambda: {sid_of(NCS): {sid_of(NCS + "/call-home/netconf-client") - sid_of(NCS): []}},
         "does not belong under ietf-netconf-server:netconf-server"),
        (lambda: {sid_of(NCS + "/call-home"): {}}, "does not belong under the top level"),
        (lambda: {2.5: 1}, "neither a SID nor a name"),
    ],
    ids=["unknown-sid", "sid-under-name-key", "grandchild-as-child", "child-at-top-level", "float-key"],
)
def test_misplaced_or_unknown_sids_are_refused(schema, sids, item, message):
    with pytest.raises(yangcbor.CodecError, match=message):
        yangcbor.decode_to_json(schema, item(), sids)


def test_nodes_without_a_sid_are_keyed_by_name(schema, config, tmp_path):
    """Drop the SIDs of one container: it is keyed by name, and its children,
    which keep theirs, by absolute SID (the reference under a name key is 0)."""
    copy = tmp_path / "sid"
    shutil.copytree(SID_DIR, copy)
    path = next(copy.glob("ietf-netconf-server@*.sid"))
    content = json.loads(path.read_text())
    items = content["ietf-sid-file:sid-file"]["item"]
    dropped = [i for i in items if i["identifier"].endswith("/tcp-client-parameters/keepalives")]
    assert dropped
    content["ietf-sid-file:sid-file"]["item"] = [i for i in items if i not in dropped]
    path.write_text(json.dumps(content))
    partial = SidMap(schema, copy)
    item = yangcbor.encode_tree(config, partial)
    found = []

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "keepalives":
                    found.append(v)
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(item)
    idle = sid_of(NCS + "/call-home/netconf-client/endpoints/endpoint/transport/ssh/ssh/tcp-client-parameters/keepalives/idle-time")
    assert found == [{idle: 60, idle + 1: 3, idle + 2: 10}]
    assert partial.digest != SidMap(schema).digest
    back = yangcbor.to_tree(schema, cbor2.loads(cbor2.dumps(item)), partial)
    try:
        assert back.to_json() == config.to_json()
    finally:
        back.free()


# -- the file --


def test_file_layout(tmp_path, schema, config, sids):
    store = StartupStore(tmp_path, schema, sids)
    store.save(config)
    raw = (tmp_path / FILENAME).read_bytes()
    magic, version, digest, length = struct.unpack_from(">4sB8sI", raw)
    assert (magic, version, digest) == (b"DPUc", 2, sids.digest)
    assert len(raw) == 17 + length + 4
    assert struct.unpack_from(">I", raw, 17 + length)[0] == zlib.crc32(raw[: 17 + length])
    assert cbor2.loads(raw[17 : 17 + length]) == yangcbor.encode_tree(config, sids)
    assert (tmp_path / FILENAME).stat().st_mode & 0o777 == 0o600


def test_every_truncation_and_every_corrupted_byte_is_named(tmp_path, schema, config, sids):
    store = StartupStore(tmp_path, schema, sids)
    raw = store.encode(config)
    for n in range(len(raw)):
        with pytest.raises(StoreError, match=r"x: (truncated|not a dpu-agent configuration file)"):
            store.decode(raw[:n], "x")
    for i in range(len(raw)):
        damaged = bytearray(raw)
        damaged[i] ^= 0x20
        with pytest.raises(StoreError, match=r"^x: (corrupt|truncated|not a dpu-agent|format version|\d+ bytes of garbage)"):
            store.decode(bytes(damaged), "x")


def test_a_newer_format_is_refused_clearly(tmp_path, schema, config, sids):
    store = StartupStore(tmp_path, schema, sids)
    raw = bytearray(store.encode(config))
    raw[4] = 3
    raw[-4:] = struct.pack(">I", zlib.crc32(raw[:-4]))
    (tmp_path / FILENAME).write_bytes(raw)
    with pytest.raises(StoreError, match=r"startup.cbor: format version 3; this agent reads versions 1 and 2"):
        StartupStore(tmp_path, schema, sids).load()


def test_a_sid_of_another_allocation_is_refused_naming_both_sets(tmp_path, schema, sids):
    (tmp_path / FILENAME).write_bytes(pack(cbor2.dumps({99999: {}}), b"\x01" * 8))
    with pytest.raises(StoreError, match=r"SID 99999 .* \(written with SID set 0101010101010101, this agent has "):
        StartupStore(tmp_path, schema, sids).load()


def test_an_older_sid_set_still_loads(tmp_path, schema, config, sids):
    """SIDs are never renumbered: a file written when fewer modules had SIDs loads."""
    (tmp_path / FILENAME).write_bytes(pack(cbor2.dumps(yangcbor.encode_tree(config, sids)), b"\x02" * 8))
    loaded = StartupStore(tmp_path, schema, sids).load()
    assert loaded.tree.to_json() == config.to_json()
    loaded.tree.free()


# -- two slots --


def both_slots(tmp_path, schema, sids):
    first = schema.parse(V1_JSON.read_text(), "json")
    second = schema.parse(V1_JSON.read_text().replace('"max-attempts": 4', '"max-attempts": 9'), "json")
    store = StartupStore(tmp_path, schema, sids)
    store.load()
    store.save(first)
    store.save(second)
    texts = first.to_json(), second.to_json()
    first.free()
    second.free()
    return texts


def test_a_save_keeps_the_previous_configuration(tmp_path, schema, sids):
    first, second = both_slots(tmp_path, schema, sids)
    store = StartupStore(tmp_path, schema, sids)
    loaded = store.load()
    assert (loaded.source, loaded.problem, loaded.tree.to_json()) == ("current", None, second)
    loaded.tree.free()
    prev = store.decode((tmp_path / PREVIOUS).read_bytes(), PREVIOUS)
    assert prev.to_json() == first
    prev.free()
    assert (tmp_path / PREVIOUS).stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILENAME, PREVIOUS]


@pytest.mark.parametrize("damage, problem", [
    (lambda raw: raw[: len(raw) // 2], "truncated"),
    (lambda raw: raw[:40] + bytes([raw[40] ^ 1]) + raw[41:], "corrupt"),
    (lambda raw: b"", "truncated"),
    (None, "missing"),
], ids=["half", "one-bit-flipped", "empty", "missing"])
def test_an_unusable_current_slot_falls_back_to_the_previous(tmp_path, schema, sids, damage, problem):
    first, second = both_slots(tmp_path, schema, sids)
    current = tmp_path / FILENAME
    if damage is None:
        current.unlink()
    else:
        current.write_bytes(damage(current.read_bytes()))
    store = StartupStore(tmp_path, schema, sids)
    loaded = store.load()
    assert loaded.source == "previous" and loaded.tree.to_json() == first
    assert f"{current}: {problem}" in loaded.problem
    # the next save replaces the bad file and keeps the good previous one
    newer = schema.parse(V1_JSON.read_text().replace('"max-attempts": 4', '"max-attempts": 5'), "json")
    store.save(newer)
    loaded.tree.free()
    again = StartupStore(tmp_path, schema, sids).load()
    assert (again.source, again.tree.to_json()) == ("current", newer.to_json())
    prev = store.decode((tmp_path / PREVIOUS).read_bytes(), PREVIOUS)
    assert prev.to_json() == first
    for t in (newer, again.tree, prev):
        t.free()


def test_both_slots_unusable_is_an_error_naming_both(tmp_path, schema, sids):
    both_slots(tmp_path, schema, sids)
    (tmp_path / FILENAME).write_bytes(b"DPUc\x02")
    (tmp_path / PREVIOUS).write_bytes(b"\xa3garbage")
    with pytest.raises(StoreError) as err:
        StartupStore(tmp_path, schema, sids).load()
    assert f"{tmp_path / FILENAME}: truncated" in str(err.value)
    assert f"{tmp_path / PREVIOUS}: not a dpu-agent configuration file" in str(err.value)


def test_a_corrupt_current_slot_without_a_previous_one_is_an_error(tmp_path, schema, sids):
    (tmp_path / FILENAME).write_bytes(b"\xff\x00garbage")
    with pytest.raises(StoreError, match=r"startup.cbor: not a dpu-agent configuration file; no previous configuration"):
        StartupStore(tmp_path, schema, sids).load()


# -- format 1 --


def test_a_format_1_store_loads_and_becomes_the_previous_slot(tmp_path, schema, sids):
    shutil.copy(V1_FILE, tmp_path / FILENAME)
    store = StartupStore(tmp_path, schema, sids)
    loaded = store.load()
    expected = schema.parse(V1_JSON.read_text(), "json")
    assert (loaded.source, loaded.format) == ("current", 1)
    assert loaded.tree.to_json() == expected.to_json()
    store.save(loaded.tree)
    assert (tmp_path / FILENAME).read_bytes()[:5] == b"DPUc\x02"
    assert (tmp_path / PREVIOUS).read_bytes() == V1_FILE.read_bytes()
    # and the format-1 file still serves as the previous configuration
    (tmp_path / FILENAME).write_bytes(b"DPUc\x02broken")
    fallback = StartupStore(tmp_path, schema, sids).load()
    assert (fallback.source, fallback.format) == ("previous", 1)
    assert fallback.tree.to_json() == expected.to_json()
    for t in (loaded.tree, expected, fallback.tree):
        t.free()
