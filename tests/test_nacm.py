"""NACM (RFC 8341) with two users of different rights, over real sessions."""

from __future__ import annotations

import asyncio
import re

import pytest
from ncclient.operations import RPCError

from agent.callhome import build

from .support import CALL_HOME_FILTER, client_edit, rawclient
from .support.rawclient import NC, chunk


def test_reads_are_filtered_per_user(users):
    _, admin, monitor = users
    a = admin.get_config(source="running").data_xml
    m = monitor.get_config(source="running").data_xml
    assert "<endpoints>" in a and "<endpoints>" not in m
    assert "<reconnect-strategy>" in m  # the rest of the client is readable
    # the nacm container is default-deny-all: only an explicit rule opens it
    assert "<nacm" in a and "<nacm" not in m
    assert "<endpoints>" not in monitor.get().data_xml


def test_writes_need_a_permit(users):
    _, admin, monitor = users
    edit = client_edit("nms2", "<reconnect-strategy><max-wait>4</max-wait></reconnect-strategy>")
    with pytest.raises(RPCError) as e:
        monitor.edit_config(target="running", config=edit)  # write-default is deny
    assert e.value.tag == "access-denied"
    assert "max-wait" in e.value.path
    with pytest.raises(RPCError) as e:
        monitor.edit_config(target="candidate", config=edit)
    assert e.value.tag == "access-denied"
    admin.edit_config(target="running", config=client_edit("nms", "<reconnect-strategy><max-wait>4</max-wait></reconnect-strategy>"))
    assert "<max-wait>4</max-wait>" in admin.get_config(source="running", filter=CALL_HOME_FILTER).data_xml
    with pytest.raises(RPCError) as e:
        monitor.copy_config(source="running", target="startup")
    assert e.value.tag == "access-denied"


def test_operations_need_exec(users):
    _, admin, monitor = users
    with pytest.raises(RPCError) as e:
        monitor.kill_session(admin.session_id)  # RFC 8341 3.2.6: denied unless permitted
    assert e.value.tag == "access-denied"
    with pytest.raises(RPCError) as e:
        monitor.delete_config(target="startup")
    assert e.value.tag == "access-denied"
    monitor.lock("running")  # exec-default permit
    monitor.unlock("running")


def test_notifications_follow_the_rules(users):
    harness, admin, monitor = users
    admin.create_subscription()
    monitor.create_subscription()
    admin.edit_config(target="running", config=client_edit("nms", "<reconnect-strategy><max-wait>2</max-wait></reconnect-strategy>"))
    n = admin.take_notification(timeout=10)
    assert n is not None and "netconf-config-change" in n.notification_xml
    assert monitor.take_notification(timeout=2) is None


def test_private_keys_stay_hidden_even_with_a_permit_all_rule(users):
    harness, admin, _ = users
    import base64

    secret = base64.b64encode(harness.host_key.export_private_key("pkcs8-der")).decode()
    admin.edit_config(target="candidate", config=client_edit("nms2",
        "<endpoints><endpoint><name>a</name><ssh><ssh-server-parameters><server-identity><host-key><name>device</name>"
        "<public-key><inline-definition>"
        '<private-key-format xmlns:ct="urn:ietf:params:xml:ns:yang:ietf-crypto-types">ct:one-asymmetric-key-format</private-key-format>'
        f"<cleartext-private-key>{secret}</cleartext-private-key></inline-definition></public-key></host-key>"
        "</server-identity></ssh-server-parameters></ssh></endpoint></endpoints>"))
    for source in ("candidate", "running"):
        assert secret not in admin.get_config(source=source).data_xml


def test_replayed_notifications_follow_the_rules(users):
    """The replay log holds every event; each subscriber gets what NACM lets it read."""
    harness, admin, monitor = users
    admin.edit_config(target="running", config=client_edit("nms", "<reconnect-strategy><max-wait>2</max-wait></reconnect-strategy>"))

    def replay(m) -> list[str]:
        m.create_subscription(start_time="2000-01-01T00:00:00Z")
        got = []
        while not got or "replayComplete" not in got[-1]:
            n = m.take_notification(timeout=10)
            assert n is not None
            got.append(n.notification_xml)
        return got

    a, m = replay(admin), replay(monitor)
    assert sum("netconf-config-change" in x for x in a) >= 2
    assert not any("netconf-config-change" in x for x in m)
    assert any("netconf-session-start" in x for x in m)


def _nacm_config(action: str, comment: str) -> str:
    import json

    rule = {"name": "r1", "module-name": "*", "access-operations": "read", "action": action, "comment": comment}
    return json.dumps({"ietf-netconf-acm:nacm": {"rule-list": [{"name": "l", "group": ["g"], "rule": [rule]}]}})


def test_only_changes_the_policy_holds_make_nacm_and_call_home_read_running_again(schema):
    """The change listener re-reads NACM's policy and call home's clients only
    when the diff of running says their subtree changed in a way they hold."""
    from agent.callhome.config import affects_clients
    from agent.nacm import affects_policy, read_policy

    old = schema.parse(_nacm_config("permit", "one"), "json")
    comment = schema.parse(_nacm_config("permit", "two"), "json")
    action = schema.parse(_nacm_config("deny", "two"), "json")
    try:
        changed = [path for path, _ in old.diff(comment)]
        assert changed and not affects_policy(changed) and not affects_clients(changed)
        assert read_policy(old) == read_policy(comment)
        changed = [path for path, _ in comment.diff(action)]
        assert affects_policy(changed) and not affects_clients(changed)
        assert read_policy(comment) != read_policy(action)
        assert affects_policy(["/ietf-netconf-acm:nacm"])  # the diff past its limit
        assert affects_clients(["/ietf-netconf-server:netconf-server"])
    finally:
        for t in (old, comment, action):
            t.free()


def test_a_pipelined_rpc_meets_the_policy_the_edit_before_it_set(harness):
    """Part of what follows a change is done after its reply is queued
    (Datastore.after_reply): NACM must have read the new policy before the
    next RPC all the same, even one that was already waiting behind the edit."""
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]))
    nacm = f'<nacm xmlns="{build.NS_NACM}"/>'
    read_nacm = f"<get-config><source><running/></source><filter>{nacm}</filter></get-config>"
    # admin out of the admin group: only the defaults are left, and the nacm
    # container is default-deny-all
    leave_group = (
        f'<edit-config><target><running/></target><config><nacm xmlns="{build.NS_NACM}"><groups><group>'
        f'<name>{build.ADMIN_GROUP}</name><user-name xmlns:nc="{NC}" nc:operation="delete">admin</user-name>'
        "</group></groups></nacm></config></edit-config>"
    )

    async def pipelined(s, *bodies):
        s.writer.write(b"".join(chunk(f'<rpc xmlns="{NC}" message-id="{i}">{b}</rpc>') for i, b in enumerate(bodies)))
        replies = []
        while len(replies) < len(bodies):
            msg = await s.message()
            if "<rpc-reply" in msg:
                replies.append(msg)
        return replies

    async def run():
        sock = await asyncio.get_running_loop().run_in_executor(None, lst.accept_raw)
        async with await rawclient.connect(sock, "admin", harness.client_key) as conn:
            s = await rawclient.open_session(conn)
            before, edited, after = await pipelined(s, read_nacm, leave_group, read_nacm)
            assert "<rule-list>" in before
            assert "<ok/>" in edited
            assert "<data" in after and "<rule-list>" not in after

    asyncio.run(run())


def test_a_deny_rule_inserted_first_takes_effect(users):
    """Rule-lists and rules are tried in their configured order, first match
    wins (RFC 8341 3.4.5): yang:insert must put a new deny ahead of a permit."""
    _, admin, monitor = users
    ncs = f'xmlns:ncs="{build.NS_NCS}"'
    path = "/ncs:netconf-server/ncs:call-home/ncs:netconf-client/ncs:reconnect-strategy"

    def rule(name, action, attrs=""):
        return (f"<rule {attrs}><name>{name}</name><module-name>ietf-netconf-server</module-name><path {ncs}>{path}</path>"
                f"<access-operations>update</access-operations><action>{action}</action></rule>")

    def nacm(body):
        return (f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><nacm xmlns="{build.NS_NACM}" '
                f'xmlns:yang="urn:ietf:params:xml:ns:yang:1" xmlns:nacm="{build.NS_NACM}">{body}</nacm></config>')

    waits = iter(range(5, 20))

    def change():  # a new value each time: a write that changes nothing needs no right
        return client_edit("nms2", f"<reconnect-strategy><max-wait>{next(waits)}</max-wait></reconnect-strategy>")

    admin.edit_config(target="running", config=nacm(
        f"<rule-list><name>open</name><group>monitors</group>{rule('may-retune', 'permit')}</rule-list>"))
    monitor.edit_config(target="running", config=change())  # permitted

    admin.edit_config(target="running", config=nacm(
        f'<rule-list yang:insert="first"><name>lockdown</name><group>monitors</group>{rule("no-retune", "deny")}</rule-list>'))
    lists = admin.get_config(source="running", filter=("subtree", f'<nacm xmlns="{build.NS_NACM}"/>')).data_xml
    assert re.findall(r"<rule-list><name>([^<]*)</name>", lists)[0] == "lockdown"
    with pytest.raises(RPCError) as e:
        monitor.edit_config(target="running", config=change())
    assert e.value.tag == "access-denied"

    # moved to the end, the deny no longer decides; a deny rule put before
    # the permit inside its rule-list does again
    admin.edit_config(target="running", config=nacm('<rule-list yang:insert="last"><name>lockdown</name></rule-list>'))
    monitor.edit_config(target="running", config=change())
    admin.edit_config(target="running", config=nacm(
        "<rule-list><name>open</name>"
        + rule("no-retune-either", "deny", '''yang:insert="before" yang:key="[nacm:name='may-retune']"''')
        + "</rule-list>"))
    with pytest.raises(RPCError) as e:
        monitor.edit_config(target="running", config=change())
    assert e.value.tag == "access-denied"

    # a reference to no rule-list: nothing applied
    with pytest.raises(RPCError) as e:
        admin.edit_config(target="running", config=nacm(
            '''<rule-list yang:insert="after" yang:key="[nacm:name='nope']"><name>x</name><group>g</group></rule-list>'''))
    assert e.value.tag == "bad-attribute"
    assert "<name>x</name>" not in admin.get_config(source="running").data_xml
