"""NMDA (RFC 8342, RFC 8526) over real sessions: <get-data> on every
datastore, with-origin, filters, config-filter, max-depth; <edit-data>;
yang-library 1.1 with its datastores. ncclient 0.7.1 has no get_data: the
RPCs go through its dispatch, as a netopeer2-cli user would send them."""

from __future__ import annotations

import base64
import re

import pytest
from ncclient.operations import RPCError
from ncclient.xml_ import to_ele

from agent.callhome import build

from .support import module_file, yanglint
from .support.nacm import GROUPS_WITHOUT_MEMBERS, NACM

NMDA = "urn:ietf:params:xml:ns:yang:ietf-netconf-nmda"
DS = "urn:ietf:params:xml:ns:yang:ietf-datastores"
NC = "urn:ietf:params:xml:ns:netconf:base:1.0"
YL = "urn:ietf:params:xml:ns:yang:ietf-yang-library"


def get_data(m, datastore: str, inner: str = "") -> str:
    """The content of <data> in the reply."""
    reply = m.dispatch(to_ele(f'<get-data xmlns="{NMDA}" xmlns:ds="{DS}"><datastore>ds:{datastore}</datastore>{inner}</get-data>'))
    xml = reply.xml
    m_ = re.search(r"<data[^>]*?(/>|>(.*)</data>)", xml, re.S)
    assert m_ is not None, xml
    return m_.group(2) or ""


def edit_data(m, datastore: str, config: str) -> None:
    m.dispatch(to_ele(f'<edit-data xmlns="{NMDA}" xmlns:ds="{DS}"><datastore>ds:{datastore}</datastore>'
                      f'<config>{config}</config></edit-data>'))


def max_wait_edit(client: str, value: int) -> str:
    return (f'<netconf-server xmlns="{build.NS_NCS}"><call-home><netconf-client><name>{client}</name>'
            f"<reconnect-strategy><max-wait>{value}</max-wait></reconnect-strategy></netconf-client></call-home></netconf-server>")


def _yang_library(yang_dirs) -> list[str]:
    """yanglint does not implement ietf-yang-library by itself: operational holds it."""
    return [module_file("ietf-yang-library", yang_dirs), module_file("ietf-datastores", yang_dirs)]


def test_yang_library_names_the_datastores_and_nmda(users):
    _harness, admin, _monitor = users
    data = admin.get(filter=("subtree", f'<yang-library xmlns="{YL}"/>')).data_xml
    for ds in ("running", "candidate", "startup", "operational"):
        assert re.search(rf"<datastore><name[^>]*>ds:{ds}</name><schema>complete</schema></datastore>", data), ds
    assert "<name>ietf-netconf-nmda</name>" in data and "<feature>origin</feature>" in data
    assert "<name>ietf-origin</name>" in data


def test_get_data_on_each_datastore_and_edit_data(users, tmp_path, yang_dirs):
    _harness, admin, _monitor = users
    edit_data(admin, "candidate", max_wait_edit("nms2", 7))
    assert "<max-wait>7</max-wait>" in get_data(admin, "candidate")
    assert "<max-wait>7</max-wait>" not in get_data(admin, "running")
    admin.commit()
    assert "<max-wait>7</max-wait>" in get_data(admin, "running")
    edit_data(admin, "running", max_wait_edit("nms2", 8))
    running = get_data(admin, "running")
    assert "<max-wait>8</max-wait>" in running and "<max-wait>8</max-wait>" not in get_data(admin, "startup")
    assert "<netconf-client>" in get_data(admin, "startup")
    operational = get_data(admin, "operational")
    assert "<max-wait>8</max-wait>" in operational and "<oper-status>" in operational  # config and state
    assert "<agent-state" in operational and "or:origin" not in operational
    # what get-data answers validates
    for name, content, kind in (("running", running, "config"), ("operational", operational, "get")):
        f = tmp_path / f"{name}.xml"
        f.write_text(content)
        out = yanglint(kind, f, yang_dirs, *_yang_library(yang_dirs))
        assert out.returncode == 0, f"{name}: {out.stderr}"
    with pytest.raises(RPCError) as e:
        edit_data(admin, "operational", max_wait_edit("nms2", 9))
    assert e.value.tag == "invalid-value"


def test_with_origin_marks_the_configuration_in_operational(users, tmp_path, yang_dirs):
    _harness, admin, _monitor = users
    data = get_data(admin, "operational", "<with-origin/>")
    top = re.search(r"<netconf-server [^>]*>", data).group(0)
    assert 'or:origin="or:intended"' in top and "urn:ietf:params:xml:ns:yang:ietf-origin" in top
    assert data.count("or:origin=") < 10  # only where it changes: inherited below
    state = re.search(r"<interfaces [^>]*>", data)
    f = tmp_path / "origin.xml"
    f.write_text(data)
    out = yanglint("get", f, yang_dirs, *_yang_library(yang_dirs))
    assert out.returncode == 0, out.stderr
    assert state is not None
    with pytest.raises(RPCError) as e:
        get_data(admin, "running", "<with-origin/>")
    assert e.value.tag == "invalid-value"


def test_filters_config_filter_and_max_depth(users):
    _harness, admin, _monitor = users
    sub = get_data(admin, "operational", '<subtree-filter><interfaces xmlns="urn:ietf:params:xml:ns:yang:ietf-interfaces"/></subtree-filter>')
    assert "<interface>" in sub and "<netconf-server" not in sub
    xp = get_data(admin, "running", f'<xpath-filter xmlns:ncs="{build.NS_NCS}">/ncs:netconf-server/ncs:call-home/ncs:netconf-client[ncs:name=\'nms2\']/ncs:name</xpath-filter>')
    assert "<name>nms2</name>" in xp and "<name>nms</name>" not in xp and "<endpoints>" not in xp
    state_only = get_data(admin, "operational", "<config-filter>false</config-filter>")
    assert "<oper-status>" in state_only and "<max-wait>" not in state_only
    config_only = get_data(admin, "operational", "<config-filter>true</config-filter>")
    assert "<max-wait>" in config_only and "<oper-status>" not in config_only
    shallow = get_data(admin, "running", "<max-depth>2</max-depth>")
    assert "<call-home" in shallow and "<netconf-client>" not in shallow
    with pytest.raises(RPCError) as e:
        get_data(admin, "running", "<xpath-filter>//*[count(//*) > 0]</xpath-filter>")
    assert e.value.tag == "invalid-value" and "absolute path inside a predicate" in e.value.message
    with pytest.raises(RPCError) as e:
        get_data(admin, "running", "<max-depth>0</max-depth>")
    assert e.value.tag == "invalid-value"
    with pytest.raises(RPCError) as e:
        admin.dispatch(to_ele(f'<get-data xmlns="{NMDA}"><datastore>running</datastore></get-data>'))
    assert e.value.tag == "invalid-value"


def test_nacm_and_secrets_on_every_datastore(users):
    harness, admin, monitor = users
    secret = base64.b64encode(harness.host_key.export_private_key("pkcs8-der")).decode()
    admin.edit_config(target="running", config=GROUPS_WITHOUT_MEMBERS)
    # on a client of its own: a credential change re-dials the client it is on
    key = (f'<netconf-server xmlns="{build.NS_NCS}"><call-home><netconf-client><name>other</name><endpoints><endpoint><name>a</name>'
           "<ssh><tcp-client-parameters><remote-address>192.0.2.1</remote-address></tcp-client-parameters><ssh-server-parameters><server-identity><host-key><name>device</name><public-key><inline-definition>"
           '<private-key-format xmlns:ct="urn:ietf:params:xml:ns:yang:ietf-crypto-types">ct:one-asymmetric-key-format</private-key-format>'
           f"<cleartext-private-key>{secret}</cleartext-private-key></inline-definition></public-key></host-key>"
           "</server-identity></ssh-server-parameters></ssh></endpoint></endpoints><connection-type><persistent/></connection-type>"
           "</netconf-client></call-home></netconf-server>")
    edit_data(admin, "running", key)
    for ds in ("running", "candidate", "startup", "operational"):
        assert secret not in get_data(admin, ds)
        got = get_data(monitor, ds)
        assert "<endpoints>" not in got and "<user-name>" not in got, ds
        assert "<endpoints>" not in get_data(monitor, ds, f'<xpath-filter xmlns:ncs="{build.NS_NCS}">//ncs:endpoints</xpath-filter>')
        right = get_data(monitor, ds, f"<xpath-filter xmlns:n=\"{NACM}\">/n:nacm/n:groups/n:group[n:user-name='admin']/n:name</xpath-filter>")
        wrong = get_data(monitor, ds, f"<xpath-filter xmlns:n=\"{NACM}\">/n:nacm/n:groups/n:group[n:user-name='nobody']/n:name</xpath-filter>")
        assert right == wrong and "<group>" not in right, ds
    with pytest.raises(RPCError) as e:
        edit_data(monitor, "running", max_wait_edit("nms2", 9))
    assert e.value.tag == "access-denied"


def test_origin_filters(users):
    _harness, admin, _monitor = users
    origin = 'xmlns:or="urn:ietf:params:xml:ns:yang:ietf-origin"'
    intended = get_data(admin, "operational", f"<origin-filter {origin}>or:intended</origin-filter>")
    assert "<max-wait>" in intended and "<oper-status>" in intended  # state is not filtered
    not_intended = get_data(admin, "operational", f"<negated-origin-filter {origin}>or:intended</negated-origin-filter>"
                                                  "<with-defaults>report-all</with-defaults>")
    assert "<remote-address>" not in not_intended and "<oper-status>" in not_intended
    assert "<enable-nacm>true</enable-nacm>" in not_intended  # a default: its origin is or:default
    assert "<enable-nacm>" not in get_data(admin, "operational", f"<origin-filter {origin}>or:intended</origin-filter>"
                                                                 "<with-defaults>report-all</with-defaults>")
    for bad in (f"<origin-filter {origin}>or:nonsense</origin-filter>", "<origin-filter>intended</origin-filter>"):
        with pytest.raises(RPCError) as e:
            get_data(admin, "operational", bad)
        assert e.value.tag == "invalid-value"
    with pytest.raises(RPCError) as e:
        get_data(admin, "running", f"<origin-filter {origin}>or:intended</origin-filter>")
    assert e.value.tag == "invalid-value"


def test_subtree_filters_on_conventional_datastores(users):
    """A subtree filter on running, candidate and startup (answered without a
    copy of the datastore where pruning removes nothing it looks at): the
    selection, with config-filter and max-depth applied to it, and no oracle
    on a private key or on a leaf NACM denies."""
    harness, admin, monitor = users
    secret = base64.b64encode(harness.host_key.export_private_key("pkcs8-der")).decode()
    wrong = base64.b64encode(b"\x01" * len(base64.b64decode(secret))).decode()
    admin.edit_config(target="running", config=GROUPS_WITHOUT_MEMBERS)
    edit_data(admin, "running", (
        f'<netconf-server xmlns="{build.NS_NCS}"><call-home><netconf-client><name>other</name><endpoints><endpoint><name>a</name>'
        "<ssh><tcp-client-parameters><remote-address>192.0.2.1</remote-address></tcp-client-parameters><ssh-server-parameters>"
        "<server-identity><host-key><name>device</name><public-key><inline-definition>"
        '<private-key-format xmlns:ct="urn:ietf:params:xml:ns:yang:ietf-crypto-types">ct:one-asymmetric-key-format</private-key-format>'
        f"<cleartext-private-key>{secret}</cleartext-private-key></inline-definition></public-key></host-key>"
        "</server-identity></ssh-server-parameters></ssh></endpoint></endpoints><connection-type><persistent/></connection-type>"
        "</netconf-client></call-home></netconf-server>"))
    admin.copy_config(source="running", target="startup")

    def key_filter(value: str) -> str:
        return (f'<subtree-filter><netconf-server xmlns="{build.NS_NCS}"><call-home><netconf-client><endpoints><endpoint><ssh>'
                "<ssh-server-parameters><server-identity><host-key><public-key><inline-definition>"
                f"<cleartext-private-key>{value}</cleartext-private-key></inline-definition></public-key></host-key>"
                "</server-identity></ssh-server-parameters></ssh></endpoint></endpoints></netconf-client></call-home>"
                "</netconf-server></subtree-filter>")

    groups = f'<subtree-filter><nacm xmlns="{NACM}"><groups><group><name>admin</name></group></groups></nacm></subtree-filter>'
    member = f'<subtree-filter><nacm xmlns="{NACM}"><groups><group><user-name>admin</user-name></group></groups></nacm></subtree-filter>'
    for ds in ("running", "candidate", "startup"):
        got = get_data(admin, ds, groups)
        assert "<user-name>admin</user-name>" in got and "<rule-list>" not in got and "<netconf-server" not in got, ds
        assert "<name>admin</name>" in get_data(admin, ds, member), ds
        shallow = get_data(admin, ds, groups + "<max-depth>3</max-depth>")
        assert "<group><name>admin</name></group>" in shallow and "<user-name>" not in shallow, ds
        assert get_data(admin, ds, groups + "<config-filter>false</config-filter>") == ""
        right, wrong_guess = get_data(admin, ds, key_filter(secret)), get_data(admin, ds, key_filter(wrong))
        assert right == wrong_guess and secret not in right and "<endpoint>" not in right, ds
        right, wrong_guess = get_data(monitor, ds, member), get_data(monitor, ds, member.replace("admin", "nobody"))
        assert right == wrong_guess and "<group>" not in right, ds
