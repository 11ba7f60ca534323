"""XPath filters (:xpath, RFC 6241 8.9) on <get> and <get-config>, over real
sessions: evaluated by libyang on what the user may read, and bounded."""

from __future__ import annotations

import base64

import pytest
from ncclient.operations import RPCError

from agent.callhome import build
from agent.datastore import xpath
from agent.netconf.xmltree import parse

from .support import client_edit, data_content, yanglint
from .support.nacm import GROUPS_WITHOUT_MEMBERS, NACM

NS = {"ncs": build.NS_NCS, "nacm": NACM, "if": "urn:ietf:params:xml:ns:yang:ietf-interfaces"}
CLIENT = "/ncs:netconf-server/ncs:call-home/ncs:netconf-client"


def xp(select: str):
    return ("xpath", (NS, select))


def test_xpath_capability_and_selection_on_get_config_and_get(users, tmp_path, yang_dirs):
    _harness, admin, _monitor = users
    assert "urn:ietf:params:netconf:capability:xpath:1.0" in admin.server_capabilities
    data = admin.get_config(source="running", filter=xp(f"{CLIENT}[ncs:name='nms2']/ncs:reconnect-strategy")).data_xml
    assert "<name>nms2</name>" in data and "<reconnect-strategy>" in data
    assert "<name>nms</name>" not in data and "<endpoints>" not in data
    for source in ("candidate", "startup"):
        assert "<name>nms2</name>" in admin.get_config(source=source, filter=xp(f"{CLIENT}/ncs:name")).data_xml
    # <get>: configuration and state, a predicate on a state leaf
    state = admin.get(filter=xp("/if:interfaces/if:interface[if:oper-status]/if:name")).data_xml
    assert "<interface>" in state and "<oper-status>" not in state and "<netconf-server" not in state
    both = admin.get(filter=xp(f"{CLIENT}[ncs:name='nms']/ncs:name | //nacm:group/nacm:name")).data_xml
    assert "<name>nms</name>" in both and "<groups>" in both
    # what <get> answers validates
    f = tmp_path / "get.xml"
    f.write_text(data_content(admin.get(filter=xp("/if:interfaces")).data_xml))
    out = yanglint("get", f, yang_dirs)
    assert out.returncode == 0, out.stderr


def test_a_denied_node_is_never_selected_nor_tested(users):
    _harness, admin, monitor = users
    admin.edit_config(target="running", config=GROUPS_WITHOUT_MEMBERS)
    # monitor may not read the endpoints (test_nacm's rules) nor group members
    for read in (lambda f: monitor.get_config(source="running", filter=f), lambda f: monitor.get(filter=f)):
        assert "<endpoint>" not in read(xp("//ncs:endpoint")).data_xml
        assert "<name>nms</name>" in read(xp(f"{CLIENT}/ncs:name")).data_xml
        right = read(xp("/nacm:nacm/nacm:groups/nacm:group[nacm:user-name='admin']/nacm:name")).data_xml
        wrong = read(xp("/nacm:nacm/nacm:groups/nacm:group[nacm:user-name='nobody']/nacm:name")).data_xml
        assert right == wrong and "<group>" not in right
        assert "<user-name>" not in read(xp("//nacm:user-name")).data_xml
    assert "<name>admin</name>" in admin.get_config(
        source="running", filter=xp("/nacm:nacm/nacm:groups/nacm:group[nacm:user-name='admin']/nacm:name")).data_xml


def test_a_private_key_is_no_xpath_oracle(users):
    harness, admin, _monitor = users
    secret = base64.b64encode(harness.host_key.export_private_key("pkcs8-der")).decode()
    admin.edit_config(target="running", config=client_edit("nms2",
        "<endpoints><endpoint><name>a</name><ssh><ssh-server-parameters><server-identity><host-key><name>device</name>"
        "<public-key><inline-definition>"
        '<private-key-format xmlns:ct="urn:ietf:params:xml:ns:yang:ietf-crypto-types">ct:one-asymmetric-key-format</private-key-format>'
        f"<cleartext-private-key>{secret}</cleartext-private-key></inline-definition></public-key></host-key>"
        "</server-identity></ssh-server-parameters></ssh></endpoint></endpoints>"))
    key = "ncs:endpoints/ncs:endpoint/ncs:ssh/ncs:ssh-server-parameters/ncs:server-identity/ncs:host-key/ncs:public-key/ncs:inline-definition/ncs:cleartext-private-key"
    for guess in (secret, "AAAA"):
        got = admin.get_config(source="running", filter=xp(f"{CLIENT}[{key}='{guess}']/ncs:name")).data_xml
        assert "<netconf-client>" not in got, guess
    assert secret not in admin.get_config(source="running", filter=xp(f"{CLIENT}/{key}")).data_xml


@pytest.mark.parametrize("select,why", [
    ("//*[count(//*) > 0]", "absolute path inside a predicate"),
    ("//ncs:endpoint//ncs:name", "more than one descendant step"),
    (f"{CLIENT}[ncs:endpoints[ncs:endpoint[ncs:name]]]", "nested deeper"),
    ("/ncs:netconf-server/following::*", "following axis"),
    (f"{CLIENT}/ancestor::*", "ancestor axis"),  # libyang 2.1.30 crashes on it
    (f"{CLIENT}[preceding-sibling::ncs:netconf-client]", "preceding-sibling axis"),  # and on this
    (f"{CLIENT}[../ncs:netconf-client/ncs:name = 'x']", "step up (..) inside a predicate"),  # quadratic
    (f"{CLIENT}[parent::*]", "step up (parent) inside a predicate"),
    (f"{CLIENT}[re-match(ncs:name, '(a+)+$')]", "function re-match()"),
    (f"{CLIENT}[ncs:name = current()]", "function current()"),
    ("/x:netconf-server", "prefix 'x' is not declared"),
    (f"{CLIENT}[", "unbalanced"),
    ("/ncs:netconf-server/ncs:call-home/", "Unexpected XPath expression end"),
    ("a" * 2000, "longer than 1024"),
])
def test_bad_or_costly_expressions_end_with_an_error(users, select, why):
    _harness, admin, _monitor = users
    for read in (lambda: admin.get(filter=xp(select)), lambda: admin.get_config(source="running", filter=xp(select))):
        with pytest.raises(RPCError) as e:
            read()
        assert e.value.tag == "invalid-value" and why in e.value.message, e.value.message
    assert "<netconf-client>" in admin.get_config(source="running").data_xml  # and the agent goes on


def test_a_filter_without_select_is_refused(users):
    _harness, admin, _monitor = users
    with pytest.raises(RPCError) as e:
        admin.get_config(source="running", filter='<filter xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" type="xpath"/>')
    assert e.value.tag == "missing-attribute"


def test_prefixes_become_module_names(schema):
    el = parse(f'<filter xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" xmlns:n="{build.NS_NCS}"/>'.encode())
    assert xpath.translate(schema, el, "/n:netconf-server/n:call-home/n:netconf-client[n:name='n:x']/n:*") == (
        "/ietf-netconf-server:netconf-server/ietf-netconf-server:call-home/ietf-netconf-server:netconf-client"
        "[ietf-netconf-server:name='n:x']/ietf-netconf-server:*")
    assert xpath.translate(schema, el, "count(//n:endpoint) > 1 and child::n:x or 2 div 1") == (
        "count(//ietf-netconf-server:endpoint) > 1 and child::ietf-netconf-server:x or 2 div 1")
    # what stays allowed
    for ok in ("//n:endpoint/..", "/n:a/n:b[not(n:c) and (n:d or n:e/n:f = 'x')]/parent::*",
               "/n:a[n:b[string-length(n:c) > 2]]/self::node()", "/n:a/n:b[position() = last()]/text()"):
        xpath.translate(schema, el, ok)
