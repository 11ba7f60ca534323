"""YANG 1.1 actions and nested notifications in the core (RFC 7950 7.15,
7.16; RFC 8341 3.4.4), with a test plugin and module (tests/data/yang)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ncclient.operations import RPCError
from ncclient.xml_ import to_ele

from agent.callhome import build
from agent.hal.sim import SimBoard
from agent.netconf.errors import InUse
from agent.plugins import ActionCall, Plugin

from .support import yanglint

TEST_YANG = Path(__file__).parent / "data" / "yang"
NS = "urn:dpu-agent:yang:dpu-test-actions"
NS_YANG = "urn:ietf:params:xml:ns:yang:1"
MODULE = "dpu-test-actions"


class Widgets(Plugin):
    """Serves /widgets/widget (operational) and runs their actions."""

    name = "widgets"
    modules = {MODULE: []}
    state_subtrees = (f"/{MODULE}:widgets",)
    action_subtrees = (f"/{MODULE}:widgets",)

    def __init__(self) -> None:
        self.resets = {"w1": 0, "stuck": 0}
        self.calls: list[ActionCall] = []

    async def state(self, paths):
        return {f"{MODULE}:widgets": {"widget": [{"name": n, "resets": c} for n, c in self.resets.items()]}}

    async def action(self, call: ActionCall):
        self.calls.append(call)
        name = call.keys["widget"]["name"]
        if call.name == "ping":
            return None
        if name == "stuck":
            raise InUse("the widget is busy", app_tag="widget-busy",
                        path=f"/{MODULE}:widgets/widget[name='{name}']")
        if call.input["delay"] == 9:
            return {"took": "soon"}  # not a uint32: the agent must not send it
        self.resets[name] += 1
        self.ctx.notify({f"{MODULE}:widgets": {"widget": [{"name": name, "reset-done": {"count": self.resets[name]}}]}})
        return {"took": call.input["delay"] * 1000}


def action_xml(widget: str, body: str) -> str:
    return f'<action xmlns="{NS_YANG}"><widgets xmlns="{NS}"><widget><name>{widget}</name>{body}</widget></widgets></action>'


@pytest.fixture
def widgets(harness):
    plugin = Widgets()
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]),
                  board=SimBoard(), plugins=[plugin], yang_dirs=(str(TEST_YANG), *harness.yang_dirs))
    m = lst.accept(harness)
    yield plugin, m
    m.close_session()


def test_action_runs_with_validated_input_and_output_and_a_nested_notification(widgets):
    plugin, m = widgets
    m.create_subscription()
    reply = m.dispatch(to_ele(action_xml("w1", "<reset><delay>3</delay></reset>")))
    assert f'<took xmlns="{NS}">3000</took>' in reply.xml or "<took>3000</took>" in reply.xml
    call = plugin.calls[-1]
    assert (call.module, call.name, call.input) == (MODULE, "reset", {"delay": 3})
    assert call.keys == {"widget": {"name": "w1"}}
    assert call.path == f"/{MODULE}:widgets/widget[name='w1']/reset"
    n = m.take_notification(timeout=10)
    assert n is not None
    # nested: sent inside its parent instance (RFC 7950 7.16.2)
    assert "<widget><name>w1</name><reset-done><count>1</count></reset-done></widget>" in n.notification_xml
    # an action without input or output: <ok/>
    assert m.dispatch(to_ele(action_xml("w1", "<ping/>"))).ok


@pytest.mark.parametrize("widget, body, tag", [
    ("w1", "<reset><delay>11</delay></reset>", "invalid-value"),  # out of range
    ("w1", "<reset/>", "data-missing"),  # mandatory input missing
    ("w1", "<reset><delay>1</delay><speed>2</speed></reset>", "unknown-element"),
    ("nosuch", "<reset><delay>1</delay></reset>", "data-missing"),  # no such instance
    ("stuck", "<reset><delay>1</delay></reset>", "in-use"),  # the plugin's own typed error
    ("w1", "<reset><delay>9</delay></reset>", "operation-failed"),  # the plugin's output is invalid
    ("w1", "<resets>1</resets>", "missing-element"),  # a leaf, not an action
])
def test_bad_actions_get_typed_errors_and_nothing_runs(widgets, widget, body, tag):
    plugin, m = widgets
    before = len(plugin.calls)
    with pytest.raises(RPCError) as err:
        m.dispatch(to_ele(action_xml(widget, body)))
    assert err.value.tag == tag, err.value.message
    if tag in ("in-use", "operation-failed"):
        assert len(plugin.calls) == before + 1  # reached the plugin
    else:
        assert len(plugin.calls) == before
    if tag == "in-use":
        assert err.value.app_tag == "widget-busy" and "widget" in err.value.path
    assert m.get(filter=("subtree", f'<widgets xmlns="{NS}"/>')).ok  # and the session goes on


def test_nacm_exec_on_the_action_node(widgets):
    plugin, m = widgets
    m.edit_config(target="running", config=f"""<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"
        xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">
      <nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm">
        <exec-default>deny</exec-default>
        <rule-list nc:operation="replace"><name>{build.ADMIN_GROUP}</name><group>{build.ADMIN_GROUP}</group>
          <rule><name>ping-only</name><module-name>{MODULE}</module-name>
            <path xmlns:ta="{NS}">/ta:widgets/ta:widget/ta:ping</path>
            <access-operations>exec</access-operations><action>permit</action></rule>
          <rule><name>no-resets</name><module-name>{MODULE}</module-name>
            <path xmlns:ta="{NS}">/ta:widgets/ta:widget/ta:reset</path>
            <access-operations>exec</access-operations><action>deny</action></rule>
          <rule><name>rest</name><module-name>*</module-name><access-operations>create read update delete</access-operations>
            <action>permit</action></rule>
          <rule><name>base</name><module-name>ietf-netconf</module-name><access-operations>exec</access-operations>
            <action>permit</action></rule>
        </rule-list>
      </nacm></config>""")
    with pytest.raises(RPCError) as err:
        m.dispatch(to_ele(action_xml("w1", "<reset><delay>1</delay></reset>")))
    assert err.value.tag == "access-denied"
    assert not plugin.calls
    # exec-default deny does not stop an action that a rule permits (nor does <action> itself need a rule)
    assert m.dispatch(to_ele(action_xml("w1", "<ping/>"))).ok
    assert [c.name for c in plugin.calls] == ["ping"]


def test_a_nested_notification_needs_read_access_to_its_parents(harness, widgets):
    """RFC 8341 3.4.6 with RFC 7950 7.16: a user who may not read the widget
    gets no notification nested in it (it would tell what happened to an entry
    the user cannot see), while other notifications keep coming."""
    plugin, m = widgets
    m.edit_config(target="running", config=f"""<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"
        xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">
      <nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm">
        <rule-list nc:operation="replace"><name>{build.ADMIN_GROUP}</name><group>{build.ADMIN_GROUP}</group>
          <rule><name>hidden-widgets</name><module-name>{MODULE}</module-name>
            <path xmlns:ta="{NS}">/ta:widgets/ta:widget</path>
            <access-operations>read</access-operations><action>deny</action></rule>
          <rule><name>rest</name><module-name>*</module-name><access-operations>*</access-operations>
            <action>permit</action></rule>
        </rule-list>
      </nacm></config>""")
    m.create_subscription()
    # the widget's hardware reports a reset by itself (the user could not have run the action:
    # an action needs read access to its instance too)
    harness.call(lambda: plugin.ctx.notify({f"{MODULE}:widgets": {"widget": [{"name": "w1", "reset-done": {"count": 7}}]}}))
    # then a top-level notification: a configuration change
    m.edit_config(target="running", config="""<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">
      <nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm"><exec-default>deny</exec-default></nacm></config>""")
    n = m.take_notification(timeout=10)
    assert n is not None
    assert "netconf-config-change" in n.notification_xml and "reset-done" not in n.notification_xml
    assert m.take_notification(block=False) is None


class StateOnly(Widgets):
    action_subtrees = ()


@pytest.mark.parametrize("plugins, tag", [
    ([], "data-missing"),  # nothing serves the widgets: the instance does not exist
    ([StateOnly()], "operation-not-supported"),  # it exists, but no plugin runs its actions
], ids=["no-plugin", "state-only-plugin"])
def test_an_action_nobody_runs(harness, plugins, tag):
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]),
                  board=SimBoard(), plugins=plugins, yang_dirs=(str(TEST_YANG), *harness.yang_dirs),
                  modules=((MODULE, ()),))
    m = lst.accept(harness)
    with pytest.raises(RPCError) as err:
        m.dispatch(to_ele(action_xml("w1", "<ping/>")))
    assert err.value.tag == tag
    assert not any(p.calls for p in plugins)
    m.close_session()


def test_action_and_reply_validate_with_yanglint(widgets, tmp_path, yang_dirs):
    plugin, m = widgets
    request = action_xml("w1", "<reset><delay>4</delay></reset>")
    reply = m.dispatch(to_ele(request))
    rpc_file = tmp_path / "rpc.xml"
    rpc_file.write_text(f'<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="1">{request}</rpc>')
    reply_file = tmp_path / "reply.xml"
    reply_file.write_text(reply.xml)
    ops = tmp_path / "operational.xml"
    ops.write_text(f'<widgets xmlns="{NS}"><widget><name>w1</name></widget></widgets>')
    module = ["-p", str(TEST_YANG), str(TEST_YANG / f"{MODULE}@2026-12-01.yang")]
    checked = yanglint("nc-rpc", rpc_file, yang_dirs, *module, "-O", str(ops))
    assert checked.returncode == 0, checked.stderr
    checked = yanglint("nc-reply", reply_file, yang_dirs, *module, "-O", str(ops), "-R", str(rpc_file))
    assert checked.returncode == 0, checked.stderr
    # and yanglint does catch a bad one
    reply_file.write_text(reply.xml.replace(">4000<", ">four<"))
    assert yanglint("nc-reply", reply_file, yang_dirs, *module, "-O", str(ops), "-R", str(rpc_file)).returncode != 0


def test_when_prefixes_become_module_names(schema):
    """What lyd_eval_xpath reads: module names for the prefixes, ambiguous ones refused."""
    out = schema._json_xpath("derived-from(../if:type, 'ianaift:ethernetCsmacd') and ancestor::if:interface",
                             "ietf-interfaces")
    assert out == ("derived-from(../ietf-interfaces:type, 'iana-if-type:ethernetCsmacd') "
                   "and ancestor::ietf-interfaces:interface")
    assert schema._json_xpath("../nosuchprefix:x", "ietf-interfaces") is None
