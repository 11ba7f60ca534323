"""edit-config semantics and validation errors, on libyang trees."""

import base64

import asyncssh
import pytest

from agent.callhome import build
from agent.datastore.edit import apply_edit
from agent.datastore.store import Datastore
from agent.netconf.errors import RpcError
from agent.netconf.xmltree import parse

NCS = build.NS_NCS
HOST = base64.b64encode(asyncssh.generate_private_key("ssh-ed25519").public_data).decode()
CLIENT_PATH = "/ietf-netconf-server:netconf-server/call-home/netconf-client[name='nms']"


def base_config(schema):
    xml = build.config_xml(
        [build.Client("nms", [build.Endpoint("a", "192.0.2.1", 4334, keepalives=(60, 3, 10)), build.Endpoint("b", "192.0.2.2")],
                      users={"admin": [HOST]})],
        HOST,
    )
    tree = schema.empty()
    apply_edit(schema, tree, parse(xml.encode()), "merge")
    tree.validate()
    return tree


def edit(schema, tree, body, default_op="merge"):
    cfg = f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0">' \
          f'<netconf-server xmlns="{NCS}"><call-home>{body}</call-home></netconf-server></config>'
    new = tree.duplicate()
    try:
        apply_edit(schema, new, parse(cfg.encode()), default_op)
        Datastore(schema, schema.empty()).validate(new)
    except BaseException:
        new.free()
        raise
    return new


def value(tree, path):
    node = tree.find(CLIENT_PATH + path)
    return None if node is None else tree.value_of(node)


@pytest.fixture
def tree(schema):
    t = base_config(schema)
    yield t
    t.free()


def nc(body):
    return f"<netconf-client><name>nms</name>{body}</netconf-client>"


def test_merge_changes_a_leaf(schema, tree):
    new = edit(schema, tree, nc("<reconnect-strategy><max-wait>9</max-wait></reconnect-strategy>"))
    assert value(new, "/reconnect-strategy/max-wait") == "9"
    assert value(new, "/reconnect-strategy/max-attempts") == "3"  # untouched sibling
    assert value(new, "/reconnect-strategy/start-with") == "first-listed"
    new.free()


def test_create_fails_when_present_and_succeeds_when_absent(schema, tree):
    with pytest.raises(RpcError) as e:
        edit(schema, tree, nc('<endpoints><endpoint nc:operation="create"><name>a</name></endpoint></endpoints>'))
    assert e.value.tag == "data-exists"
    assert "endpoint" in e.value.path and "'a'" in e.value.path
    new = edit(schema, tree, nc('<endpoints><endpoint nc:operation="create"><name>c</name><ssh><tcp-client-parameters>'
                                '<remote-address>192.0.2.3</remote-address></tcp-client-parameters>'
                                '<ssh-server-parameters><server-identity><host-key><name>k</name><public-key><inline-definition>'
                                '<hidden-private-key/></inline-definition></public-key></host-key></server-identity>'
                                '</ssh-server-parameters></ssh></endpoint></endpoints>'))
    assert new.find(CLIENT_PATH + "/endpoints/endpoint[name='c']") is not None
    new.free()


def test_delete_and_remove(schema, tree):
    new = edit(schema, tree, nc('<endpoints><endpoint nc:operation="delete"><name>b</name></endpoint></endpoints>'))
    assert new.find(CLIENT_PATH + "/endpoints/endpoint[name='b']") is None
    with pytest.raises(RpcError) as e:
        edit(schema, new, nc('<endpoints><endpoint nc:operation="delete"><name>b</name></endpoint></endpoints>'))
    assert e.value.tag == "data-missing"
    again = edit(schema, new, nc('<endpoints><endpoint nc:operation="remove"><name>b</name></endpoint></endpoints>'))
    assert again.find(CLIENT_PATH + "/endpoints/endpoint[name='a']") is not None
    new.free()
    again.free()


def test_delete_a_leaf_without_value(schema, tree):
    new = edit(schema, tree, nc('<endpoints><endpoint><name>a</name><ssh><tcp-client-parameters>'
                                '<remote-port nc:operation="delete"/></tcp-client-parameters></ssh></endpoint></endpoints>'))
    assert new.find(CLIENT_PATH + "/endpoints/endpoint[name='a']/ssh/tcp-client-parameters/remote-port") is None
    new.free()


def test_replace_drops_what_is_not_given(schema, tree):
    new = edit(schema, tree, nc('<endpoints><endpoint nc:operation="replace"><name>a</name><ssh><tcp-client-parameters>'
                                '<remote-address>198.51.100.7</remote-address></tcp-client-parameters>'
                                '<ssh-server-parameters><server-identity><host-key><name>k</name><public-key><inline-definition>'
                                '<hidden-private-key/></inline-definition></public-key></host-key></server-identity>'
                                '</ssh-server-parameters></ssh></endpoint></endpoints>'))
    ep = "/endpoints/endpoint[name='a']/ssh/tcp-client-parameters"
    assert value(new, ep + "/remote-address") == "198.51.100.7"
    assert new.find(CLIENT_PATH + ep + "/keepalives") is None
    new.free()


def test_choice_case_switch_replaces_the_old_case(schema, tree):
    new = edit(schema, tree, nc("<connection-type><periodic><period>5</period></periodic></connection-type>"))
    assert new.find(CLIENT_PATH + "/connection-type/persistent") is None
    assert value(new, "/connection-type/periodic/period") == "5"
    new.free()


def test_default_operation_none_needs_existing_nodes(schema, tree):
    new = edit(schema, tree, nc('<reconnect-strategy><max-wait nc:operation="merge">7</max-wait></reconnect-strategy>'), "none")
    assert value(new, "/reconnect-strategy/max-wait") == "7"
    new.free()
    with pytest.raises(RpcError) as e:
        edit(schema, tree, "<netconf-client><name>other</name></netconf-client>", "none")
    assert e.value.tag == "data-missing"


@pytest.mark.parametrize("idle", ["0", "40000"])
def test_keepalive_idle_time_outside_linux_range(schema, tree, idle):
    with pytest.raises(RpcError) as e:
        edit(schema, tree, nc(f"<endpoints><endpoint><name>a</name><ssh><tcp-client-parameters><keepalives>"
                              f"<idle-time>{idle}</idle-time></keepalives></tcp-client-parameters></ssh></endpoint></endpoints>"))
    assert e.value.tag == "invalid-value"
    assert e.value.path.endswith("keepalives/ietf-netconf-server:idle-time")
    assert e.value.path_namespaces["ietf-netconf-server"] == NCS


def test_max_probes_limit(schema, tree):
    with pytest.raises(RpcError) as e:
        edit(schema, tree, nc("<endpoints><endpoint><name>a</name><ssh><tcp-client-parameters><keepalives>"
                              "<max-probes>128</max-probes></keepalives></tcp-client-parameters></ssh></endpoint></endpoints>"))
    assert e.value.tag == "invalid-value"


def test_unknown_element(schema, tree):
    with pytest.raises(RpcError) as e:
        edit(schema, tree, nc("<no-such-leaf>1</no-such-leaf>"))
    assert e.value.tag == "unknown-element"
    assert e.value.info["bad-element"] == "no-such-leaf"
    assert e.value.path.endswith("netconf-client[ietf-netconf-server:name='nms']")


def test_unknown_namespace(schema, tree):
    cfg = '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><thing xmlns="urn:nowhere"/></config>'
    with pytest.raises(RpcError) as e:
        apply_edit(schema, tree.duplicate(), parse(cfg.encode()), "merge")
    assert e.value.tag == "unknown-namespace"


def test_wrong_type(schema, tree):
    with pytest.raises(RpcError) as e:
        edit(schema, tree, nc("<reconnect-strategy><max-wait>soon</max-wait></reconnect-strategy>"))
    assert e.value.tag == "invalid-value"
    assert e.value.path.endswith("reconnect-strategy/ietf-netconf-server:max-wait")


def test_missing_mandatory_remote_address(schema, tree):
    with pytest.raises(RpcError) as e:
        edit(schema, tree, nc('<endpoints><endpoint><name>a</name><ssh><tcp-client-parameters>'
                              '<remote-address nc:operation="delete"/></tcp-client-parameters></ssh></endpoint></endpoints>'))
    assert e.value.tag == "data-missing"
    assert e.value.path == (
        "/ietf-netconf-server:netconf-server/ietf-netconf-server:call-home/ietf-netconf-server:netconf-client"
        "[ietf-netconf-server:name='nms']/ietf-netconf-server:endpoints/ietf-netconf-server:endpoint"
        "[ietf-netconf-server:name='a']/ietf-netconf-server:ssh/ietf-netconf-server:tcp-client-parameters"
        "/ietf-netconf-server:remote-address"
    )


def test_missing_list_key(schema, tree):
    with pytest.raises(RpcError) as e:
        edit(schema, tree, "<netconf-client><endpoints/></netconf-client>")
    assert e.value.tag == "missing-element"


def test_bad_operation_attribute(schema, tree):
    with pytest.raises(RpcError) as e:
        edit(schema, tree, nc('<reconnect-strategy nc:operation="frobnicate"/>'))
    assert e.value.tag == "bad-attribute"


def test_rejected_change_leaves_datastore_as_it_was(schema, tree):
    import asyncio

    ds = Datastore(schema, tree.duplicate())
    before = ds.running.to_xml()
    bad = ds.running.duplicate()
    bad.remove_paths([CLIENT_PATH + "/endpoints/endpoint[name='a']/ssh/tcp-client-parameters/remote-address"])
    with pytest.raises(RpcError):
        asyncio.run(ds.replace("running", bad))
    assert ds.running.to_xml() == before
    assert ds.version == 0


def test_work_after_a_reply_runs_once_in_order(schema, tree):
    """With reply_first (the daemon's), what after_reply() is given waits for
    the next turn of the loop, or for settle() (called before the next RPC and
    before any event is published); it runs once, in the order given, also
    when a piece of it calls settle() itself (as publishing an event does),
    and a failing piece stops neither the others nor the caller."""
    import asyncio

    ds = Datastore(schema, tree.duplicate(), reply_first=True)
    done: list[str] = []

    def work(name):
        def run():
            ds.settle()  # as Notifications.publish does
            done.append(name)
        return run

    def fails():
        raise RuntimeError("boom")

    async def run():
        ds.after_reply(work("a"))
        ds.after_reply(fails)
        ds.after_reply(work("b"))
        assert done == []  # not before the reply is out
        await asyncio.sleep(0)
        assert done == ["a", "b"]
        ds.after_reply(work("c"))
        ds.settle()
        ds.settle()
        await asyncio.sleep(0)
        assert done == ["a", "b", "c"]

    asyncio.run(run())
    now = Datastore(schema, tree.duplicate())
    now.after_reply(work("d"))
    assert done[-1] == "d"
