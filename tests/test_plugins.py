"""Vendor plugins: the reference G.fast plugin on the simulated board, with
the Broadband Forum modules, in transactions driven over NETCONF."""

from __future__ import annotations

import threading
import time

import pytest
from ncclient.operations import RPCError

from agent import modset
from agent.callhome import build
from agent.hal.sim import LineSettings, SimBoard
from agent.plugins import Change, Plugin
from agent.plugins.gfast_sim import GfastSimPlugin
from agent.yang import Schema

from .support import SHARED_YANG, two_managers, wait_for

BBF = SHARED_YANG.parent / "yang-bbf"
EXAMPLE = BBF / "examples" / "fast-line.json"
GOOD = LineSettings(downstream_max_kbps=1000000, upstream_max_kbps=500000, tdd_total_symbols=36, tdd_downstream_symbols=28)

pytestmark = pytest.mark.skipif(not EXAMPLE.exists(), reason="the Broadband Forum modules (../shared/yang-bbf) are not here")


@pytest.fixture(scope="module")
def example_xml(yang_dirs) -> str:
    """The Broadband Forum example line configuration, as an edit-config <config>."""
    modules = dict(modset.MODULES, **GfastSimPlugin.modules)
    schema = Schema(modset.search_dirs([str(BBF)] + yang_dirs), modules)
    tree = schema.parse(EXAMPLE.read_text(), "json")
    try:
        return f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">{tree.to_xml()}</config>'
    finally:
        tree.free()


class Refuser(Plugin):
    """A second plugin whose hardware refuses every interface change."""

    name = "refuser"
    subtrees = ("/ietf-interfaces:interfaces/interface",)
    priority = 200

    def __init__(self) -> None:
        self.aborted = 0

    async def apply(self, change: Change) -> None:
        raise RuntimeError("register write failed")

    async def abort(self, change: Change) -> None:
        self.aborted += 1


class Counting(GfastSimPlugin):
    state_calls = 0

    async def state(self, paths):
        type(self).state_calls += 1
        return await super().state(paths)


def start(harness, plugins, board=None):
    board = board or SimBoard()
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]),
                  board=board, plugins=plugins, yang_dirs=(str(BBF), *harness.yang_dirs))
    return board, lst, lst.accept(harness)


def test_example_line_is_applied_once_with_the_right_values(harness, example_xml):
    board, _, m = start(harness, [GfastSimPlugin()])
    m.edit_config(target="running", config=example_xml)
    assert board.gfast.calls == [("configure", "fast-line-1", GOOD)]
    state = m.get(filter=("subtree", '<interfaces-state xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"/>')).data_xml
    assert "<name>fast-line-1</name>" in state and "<link-state>l0-link-state</link-state>" in state
    # 28 of 36 symbols downstream: the simulated line trains at the configured maxima
    assert "<net-data-rate>1000000</net-data-rate>" in state
    m.edit_config(target="running", config=example_xml)  # nothing changed: no hardware call
    assert len(board.gfast.calls) == 1
    m.close_session()


def test_invalid_profile_is_vetoed_and_nothing_applied(harness, example_xml):
    board, _, m = start(harness, [GfastSimPlugin()])
    before = m.get_config(source="running").data_xml
    too_fast = example_xml.replace("<maximum-net-data-rate>1000000</maximum-net-data-rate>",
                                   "<maximum-net-data-rate>3000000</maximum-net-data-rate>")
    assert too_fast != example_xml
    with pytest.raises(RPCError) as e:
        m.edit_config(target="running", config=too_fast)
    assert e.value.tag == "invalid-value" and "2000000 kbit/s" in e.value.message
    assert "downstream-data-rate-profile" in e.value.path and "maximum-net-data-rate" in e.value.path
    assert board.gfast.calls == []
    assert m.get_config(source="running").data_xml == before
    m.close_session()


def test_a_failing_second_plugin_undoes_the_first(harness, example_xml):
    refuser = Refuser()
    board, _, m = start(harness, [GfastSimPlugin(), refuser])
    before = m.get_config(source="running").data_xml
    with pytest.raises(RPCError) as e:
        m.edit_config(target="running", config=example_xml)
    assert e.value.tag == "operation-failed" and "refuser" in e.value.message
    assert board.gfast.calls == [("configure", "fast-line-1", GOOD), ("remove", "fast-line-1", None)]
    assert board.gfast.lines == {} and refuser.aborted == 0  # the refuser never applied
    assert m.get_config(source="running").data_xml == before
    m.close_session()


def test_confirmed_commit_rollback_and_restart_replay_through_plugins(harness, example_xml):
    board, lst, m = start(harness, [GfastSimPlugin()])
    m.edit_config(target="candidate", config=example_xml)
    m.commit(confirmed=True, timeout="1")
    assert "fast-line-1" in board.gfast.lines
    assert wait_for(lambda: "fast-line-1" not in board.gfast.lines, timeout=5)  # rolled back
    assert board.gfast.calls[-1] == ("remove", "fast-line-1", None)
    m.edit_config(target="running", config=example_xml)
    m.copy_config(source="running", target="startup")
    m.close_session()
    harness.stop()
    lst.reset()
    fresh = SimBoard()
    harness.start(None, board=fresh, plugins=[GfastSimPlugin()], yang_dirs=(str(BBF), *harness.yang_dirs))
    assert fresh.gfast.calls == [("configure", "fast-line-1", GOOD)]  # startup applied once at start
    lst.accept(harness).close_session()


def test_a_slow_plugin_does_not_block_other_sessions(harness, example_xml):
    board = SimBoard()
    board.gfast.delay = 2.0  # every chip call takes 2 s
    (_, m), (_, m2) = two_managers(harness, ("nms", "nms2"), board=board, plugins=[GfastSimPlugin()],
                                   yang_dirs=(str(BBF), *harness.yang_dirs))
    t = threading.Thread(target=m.edit_config, kwargs={"target": "running", "config": example_xml})
    t.start()
    assert wait_for(lambda: harness.agent.datastore.write_lock.locked(), timeout=5)
    t0 = time.monotonic()
    m2.get_config(source="running")
    m2.get()
    assert time.monotonic() - t0 < 1.5, "reads waited for the slow plugin"
    t.join(10)
    assert "fast-line-1" in board.gfast.lines
    m.close_session()
    m2.close_session()


def test_plugin_state_is_asked_only_when_selected(harness, example_xml):
    Counting.state_calls = 0
    board, _, m = start(harness, [Counting()])
    m.edit_config(target="running", config=example_xml)
    m.get(filter=("subtree", f'<netconf-server xmlns="{build.NS_NCS}"/>'))
    assert Counting.state_calls == 0
    m.get(filter=("subtree", '<interfaces-state xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"/>'))
    assert Counting.state_calls == 1
    m.get()
    assert Counting.state_calls == 2
    m.close_session()


def test_plugins_named_in_a_settings_file(tmp_path, yang_dirs, harness):
    from agent.settings import read_file

    f = tmp_path / "agent.toml"
    f.write_text(f'[yang]\ndirs = ["{BBF}"]\n[yang.modules]\nbbf-if-type = []\n'
                 '[plugins]\nload = ["agent.plugins.gfast_sim:GfastSimPlugin"]\ndiscover = false\n'
                 '[agent]\nboard = "sim"\nwatchdog_timeout = 10\n')
    values = read_file(f)
    assert values["plugins"] == ("agent.plugins.gfast_sim:GfastSimPlugin",)
    assert values["modules"] == (("bbf-if-type", ()),) and values["yang_dirs"] == (str(BBF),)
    assert values["watchdog_timeout"] == 10 and values["discover_plugins"] is False
    from agent.plugins.host import load

    (plugin,) = load(list(values["plugins"]), discover=False)
    assert isinstance(plugin, GfastSimPlugin)


def test_plugins_discovered_by_entry_point_as_importlib_metadata_finds_them(tmp_path, monkeypatch):
    """agent/plugins/entrypoints.py (the running agent does without
    importlib.metadata) finds what importlib.metadata finds: the group of an
    installed distribution's entry_points.txt, the first of two
    distributions of one name on sys.path, .dist-info and .egg-info."""
    import importlib.metadata

    from agent.plugins import ENTRY_POINT_GROUP, entrypoints
    from agent.plugins.host import load

    first, second = tmp_path / "first", tmp_path / "second"
    for where, dist, value in [
        (first, "lab_plugin-1.0.dist-info", "agent.plugins.gfast_sim:GfastSimPlugin"),
        (second, "Lab.Plugin-2.0.dist-info", "nowhere:nothing"),  # the same name, later: hidden
        (second, "other_plugin.egg-info", "agent.plugins.gfast_sim : GfastSimPlugin [extra]"),
    ]:
        (where / dist).mkdir(parents=True)
        (where / dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist.split('-')[0].split('.egg')[0]}\n")
        (where / dist / "entry_points.txt").write_text(
            f"[console_scripts]\nx = y:z\n\n[{ENTRY_POINT_GROUP}]\n{dist[:5]} = {value}\n")
    monkeypatch.syspath_prepend(str(second))
    monkeypatch.syspath_prepend(str(first))

    ours = sorted((e.name, e.value) for e in entrypoints.entry_points(ENTRY_POINT_GROUP))
    theirs = sorted((e.name, e.value) for e in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    assert ours == theirs == [("lab_p", "agent.plugins.gfast_sim:GfastSimPlugin"),
                              ("other", "agent.plugins.gfast_sim : GfastSimPlugin [extra]")]
    plugins = load([], discover=True)
    assert [type(p) for p in plugins] == [GfastSimPlugin, GfastSimPlugin]
