"""Replies to repeated reads (agent/datastore/readcache.py): what a manager
gets from the cache is what it would get without it, per user, datastore,
filter and with-defaults mode, and a change of any datastore ends it."""

from __future__ import annotations

from agent.datastore.readcache import MAX_CHARS, MAX_ENTRIES, ReadCache

from .support import CALL_HOME_FILTER, client_edit


def test_an_entry_is_bound_to_its_generation_and_policy():
    cache = ReadCache()
    policy = object()
    cache.put("k", policy, cache.generation, "<data/>")
    assert cache.get("k", policy) == "<data/>"
    assert cache.get("k", object()) is None  # NACM re-read its rules: a new policy object
    generation = cache.generation
    cache.changed()
    assert cache.get("k", policy) is None
    cache.put("k", policy, generation, "<data>printed before the change</data>")
    assert cache.get("k", policy) is None  # a read that overlapped a change is not kept


def test_it_holds_a_bounded_number_of_small_replies():
    cache = ReadCache()
    policy = object()
    cache.put("big", policy, cache.generation, "x" * (MAX_CHARS + 1))
    assert cache.get("big", policy) is None
    for i in range(MAX_ENTRIES + 3):
        cache.put(i, policy, cache.generation, str(i))
    held = [i for i in range(MAX_ENTRIES + 3) if cache.get(i, policy) is not None]
    assert held == list(range(3, MAX_ENTRIES + 3))  # the oldest went first


def _max_wait(value: int) -> str:
    return client_edit("nms", f"<reconnect-strategy><max-wait>{value}</max-wait></reconnect-strategy>")


def test_repeated_reads_follow_every_change_and_user(users):
    _, admin, monitor = users

    def read(m, source="running", **kw):
        return m.get_config(source=source, **kw).data_xml

    full = read(admin)
    assert read(admin) == full
    # the monitor's read of the same datastore is pruned by NACM, not admin's reply
    assert "<endpoints>" in full and "<endpoints>" not in read(monitor)
    assert "<endpoints>" not in read(monitor)
    assert "<max-wait>7</max-wait>" not in read(admin, filter=CALL_HOME_FILTER)

    admin.edit_config(target="running", config=_max_wait(7))
    assert "<max-wait>7</max-wait>" in read(admin, filter=CALL_HOME_FILTER)
    assert "<max-wait>7</max-wait>" in read(admin)
    assert "<max-wait>7</max-wait>" in read(monitor)

    # the candidate follows running until it is edited, and again once discarded
    assert "<max-wait>7</max-wait>" in read(admin, "candidate")
    admin.edit_config(target="candidate", config=_max_wait(9))
    assert "<max-wait>9</max-wait>" in read(admin, "candidate")
    assert "<max-wait>7</max-wait>" in read(admin)
    admin.discard_changes()
    assert "<max-wait>7</max-wait>" in read(admin, "candidate")

    # with-defaults modes are told apart
    explicit = read(admin, filter=CALL_HOME_FILTER)
    report_all = admin.get_config(source="running", filter=CALL_HOME_FILTER, with_defaults="report-all").data_xml
    assert report_all != explicit
    assert read(admin, filter=CALL_HOME_FILTER) == explicit

    # startup changes only with copy-config
    assert "<max-wait>7</max-wait>" not in read(admin, "startup")
    admin.copy_config(source="running", target="startup")
    assert "<max-wait>7</max-wait>" in read(admin, "startup")
