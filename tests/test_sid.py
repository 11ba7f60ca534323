"""The project's SID allocation (agent/sid/): complete for the module set,
and never renumbered."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from agent import modset
from agent.datastore.sids import LEDGER, SID_DIR, SidMap, read_ledger, read_sid_file

RANGE = range(60000, 100000)


def disagreements(sid_dir: Path, ledger: Path) -> list[str]:
    """Where the .sid files and the ledger of every SID ever allocated differ."""
    problems = []
    allocated = {}
    for sid, namespace, module, identifier in read_ledger(ledger):
        if sid in allocated:
            problems.append(f"SID {sid} allocated twice in {ledger.name}")
        allocated[sid] = (namespace, module, identifier)
    in_files: dict[int, tuple[str, str, str]] = {}
    modules_with_file = set()
    for path in sorted(sid_dir.glob("*.sid")):
        content = read_sid_file(path)
        module = content["module-name"]
        modules_with_file.add(module)
        for item in content["item"]:
            sid = int(item["sid"])
            here = (item["namespace"], module, item["identifier"])
            if sid in in_files:
                problems.append(f"SID {sid} given twice: {in_files[sid]} and {here}")
            in_files[sid] = here
            if sid not in allocated:
                problems.append(f"{path.name}: SID {sid} {here} is not in {ledger.name}: run `make sids`")
            elif allocated[sid] != here:
                problems.append(f"{path.name}: SID {sid} was {allocated[sid]}, now {here}: SIDs are never renumbered")
    for sid, (namespace, module, identifier) in allocated.items():
        if module in modules_with_file and sid not in in_files:
            problems.append(f"SID {sid} ({namespace} {identifier}) of {module} has disappeared from its .sid file")
    return problems


def test_sids_are_never_renumbered():
    assert disagreements(SID_DIR, LEDGER) == []


def test_a_renumbered_or_reused_sid_is_caught(tmp_path):
    copy = tmp_path / "sid"
    shutil.copytree(SID_DIR, copy)
    path = next(copy.glob("dpu-agent@*.sid"))
    content = json.loads(path.read_text())
    items = content["ietf-sid-file:sid-file"]["item"]
    items[1]["sid"], items[2]["sid"] = items[2]["sid"], items[1]["sid"]  # two SIDs swapped
    path.write_text(json.dumps(content))
    problems = disagreements(copy, copy / LEDGER.name)
    assert len(problems) == 2 and all("never renumbered" in p for p in problems)
    del items[1]
    path.write_text(json.dumps(content))
    assert any("disappeared" in p for p in disagreements(copy, copy / LEDGER.name))


def test_every_module_has_the_sid_file_of_its_revision(schema):
    files = {}
    for path in SID_DIR.glob("*.sid"):
        content = read_sid_file(path)
        assert content["module-name"] not in files, f"two .sid files for {content['module-name']}"
        files[content["module-name"]] = content["module-revision"]
    for name in modset.MODULES:
        revision, _ = schema.module_file(name)
        assert files.get(name) == revision, f"{name}@{revision}: no .sid file for this revision: run `make sids`"


def test_every_data_node_of_the_module_set_has_a_sid(schema):
    sids = SidMap(schema)
    missing = [identifier for node, identifier in schema.sid_identifiers()
               if node.module in modset.MODULES and sids.sid(node) is None]
    assert missing == [], f"no SID (run `make sids`): {missing[:5]}"


def test_blocks_lie_in_the_experimental_range_and_do_not_overlap():
    blocks = []
    for path in SID_DIR.glob("*.sid"):
        content = read_sid_file(path)
        for r in content["assignment-range"]:
            start, size = int(r["entry-point"]), int(r["size"])
            assert start in RANGE and start + size - 1 in RANGE, path.name
            blocks.append((start, start + size, path.name))
        for item in content["item"]:
            assert any(int(r["entry-point"]) <= int(item["sid"]) < int(r["entry-point"]) + int(r["size"])
                       for r in content["assignment-range"]), f"{path.name}: SID {item['sid']} outside its blocks"
    blocks.sort()
    for (_, end, a), (start, _, b) in zip(blocks, blocks[1:], strict=False):
        assert end <= start, f"{a} and {b} overlap"


def test_sid_map_knows_identities_and_nodes(schema):
    sids = SidMap(schema)
    ssh_format = sids.identity_sid["ietf-crypto-types:ssh-public-key-format"]
    assert sids.identity_of[ssh_format] == "ietf-crypto-types:ssh-public-key-format"
    top = schema.node_by_module(None, "ietf-netconf-server", "netconf-server")
    sid = sids.sid(top)
    assert sids.node(sid).key == top.key
    assert sids.names[sid] == "/ietf-netconf-server:netconf-server"
    assert len(sids.digest) == 8
