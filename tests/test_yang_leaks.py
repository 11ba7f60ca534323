"""C allocations the agent makes through libyang are freed: counted calls,
not memory thresholds (a leak of one small struct per notification only
shows as slow growth after days on a box)."""

from __future__ import annotations

import json

import libyang.util
import pytest

import agent.yang
import agent.yang.schema
import agent.yang.tree


class _Counting:
    """The cffi lib, counting the calls of a few of its functions."""

    def __init__(self, lib, names: tuple[str, ...]) -> None:
        self._lib = lib
        self.calls = dict.fromkeys(names, 0)

    def __getattr__(self, name: str):
        fn = getattr(self._lib, name)
        if name not in self.calls:
            return fn

        def counted(*args):
            self.calls[name] += 1
            return fn(*args)

        return counted


@pytest.fixture
def ly_in_calls(monkeypatch):
    """ly_in_new_memory / ly_in_free calls, by the agent and by the bindings."""
    counting = _Counting(agent.yang.schema.lib, ("ly_in_new_memory", "ly_in_free"))
    monkeypatch.setattr(agent.yang.schema, "lib", counting)  # where _parse_op calls it
    monkeypatch.setattr(libyang.util, "lib", counting)
    return counting.calls


def test_notification_frees_its_input(schema, ly_in_calls):
    body = {"ietf-netconf-notifications:netconf-session-start": {"username": "admin", "session-id": 7}}
    for _ in range(3):
        module, name, xml = schema.notification_xml(json.dumps(body))
    assert (module, name) == ("ietf-netconf-notifications", "netconf-session-start")
    assert "<session-id>7</session-id>" in xml
    assert ly_in_calls["ly_in_new_memory"] == 3
    assert ly_in_calls["ly_in_free"] == 3


def test_invalid_notification_frees_its_input(schema, ly_in_calls):
    with pytest.raises(agent.yang.YangError):
        schema.notification_xml(json.dumps({"ietf-netconf-notifications:netconf-session-start": {"session-id": "x"}}))
    assert ly_in_calls["ly_in_new_memory"] == ly_in_calls["ly_in_free"] == 1


def _groups_tree(schema, n: int):
    groups = "".join(f"<group><name>g{i}</name><user-name>u{i}</user-name></group>" for i in range(n))
    return schema.parse(f'<nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm"><groups>{groups}</groups>'
                        "</nacm>", "xml")


def _shrunk_copy(schema, n: int, keep: int):
    """A copy of a datastore that held ``n`` groups, all but ``keep`` deleted
    from it, as an edit that removes them leaves it."""
    big = _groups_tree(schema, n)
    copy = big.duplicate()
    big.free()
    groups = copy.find("/ietf-netconf-acm:nacm/groups")
    doomed = list(copy.children(groups))[keep:]
    for node in doomed:
        copy.delete(node)
    return copy


def test_compact_keeps_every_node_flag_and_default(schema):
    copy = _shrunk_copy(schema, agent.yang.tree.COMPACT_AFTER + 100, keep=3)
    assert copy.deleted == agent.yang.tree.COMPACT_AFTER + 97
    copy.validate()
    before = copy.to_xml("report-all-tagged")
    copy.compact()
    assert copy.deleted == 0
    assert copy.to_xml("report-all-tagged") == before
    assert before.count("<group>") == 3
    copy.validate()  # still a whole, valid datastore
    assert copy.to_xml("report-all-tagged") == before
    copy.free()


def _c_heap_in_use() -> int:
    ctypes = pytest.importorskip("ctypes")

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

    libc = ctypes.CDLL(None)
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("not glibc >= 2.33")
    libc.mallinfo2.restype = Mallinfo2
    info = libc.mallinfo2()
    return info.uordblks + info.hblkhd


def test_a_copy_of_a_shrunk_datastore_holds_no_table_of_the_gone_list(schema):
    """libyang 3 sizes a duplicated node's children hash table as the
    original's, and it never shrinks: without compact() every later copy of
    this datastore allocates a table for 50 000 groups (about 1.5 MB)."""
    copy = _shrunk_copy(schema, 50_000, keep=0)
    copy.compact()
    before = _c_heap_in_use()
    again = copy.duplicate()
    grown = _c_heap_in_use() - before
    again.free()
    copy.free()
    assert grown < 64 * 1024, f"a copy of an almost empty datastore took {grown} bytes of C heap"
