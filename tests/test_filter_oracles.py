"""A filter selects only from what the user may read (RFC 8341 3.4.5): a
content match on a private key or on a leaf NACM denies answers the same
whether the guess is right or wrong, so it cannot be used as an oracle."""

from __future__ import annotations

import base64

from agent.callhome import build

from .support import client_edit
from .support.nacm import GROUPS_WITHOUT_MEMBERS, NACM

NC = "urn:ietf:params:xml:ns:netconf:base:1.0"



def _key_filter(key_b64: str) -> tuple[str, str]:
    return ("subtree", f'<netconf-server xmlns="{build.NS_NCS}"><call-home><netconf-client><endpoints><endpoint>'
                       "<ssh><ssh-server-parameters><server-identity><host-key><public-key><inline-definition>"
                       f"<cleartext-private-key>{key_b64}</cleartext-private-key>"
                       "</inline-definition></public-key></host-key></server-identity></ssh-server-parameters></ssh>"
                       "</endpoint></endpoints></netconf-client></call-home></netconf-server>")


def test_a_content_match_on_a_private_key_is_no_oracle(users):
    harness, admin, _monitor = users
    secret = base64.b64encode(harness.host_key.export_private_key("pkcs8-der")).decode()
    wrong = base64.b64encode(b"\x00" * len(base64.b64decode(secret))).decode()
    admin.edit_config(target="running", config=client_edit("nms2",
        "<endpoints><endpoint><name>a</name><ssh><ssh-server-parameters><server-identity><host-key><name>device</name>"
        "<public-key><inline-definition>"
        '<private-key-format xmlns:ct="urn:ietf:params:xml:ns:yang:ietf-crypto-types">ct:one-asymmetric-key-format</private-key-format>'
        f"<cleartext-private-key>{secret}</cleartext-private-key></inline-definition></public-key></host-key>"
        "</server-identity></ssh-server-parameters></ssh></endpoint></endpoints>"))
    for read in (lambda f: admin.get_config(source="running", filter=f), lambda f: admin.get(filter=f)):
        right_guess = read(_key_filter(secret)).data_xml
        wrong_guess = read(_key_filter(wrong)).data_xml
        print(f"content match on cleartext-private-key: right guess {len(right_guess)} bytes, wrong {len(wrong_guess)}")
        assert right_guess == wrong_guess
        assert secret not in right_guess and "<endpoint>" not in right_guess


def test_a_content_match_on_a_denied_leaf_is_no_oracle(users):
    _harness, admin, monitor = users
    admin.edit_config(target="running", config=GROUPS_WITHOUT_MEMBERS)
    assert "<name>monitors</name>" in monitor.get_config(source="running").data_xml  # the group is readable ...
    assert "<user-name>" not in monitor.get_config(source="running").data_xml  # ... its members are not

    def member_filter(name: str) -> tuple[str, str]:
        return ("subtree", f'<nacm xmlns="{NACM}"><groups><group><user-name>{name}</user-name></group></groups></nacm>')

    for read in (lambda f: monitor.get_config(source="running", filter=f), lambda f: monitor.get(filter=f)):
        right_guess = read(member_filter("admin")).data_xml
        wrong_guess = read(member_filter("nobody")).data_xml
        print(f"content match on a denied user-name: right guess {len(right_guess)} bytes, wrong {len(wrong_guess)}")
        assert right_guess == wrong_guess
        assert "<group>" not in right_guess
    # the administrator, allowed to read members, still gets the match
    assert "<name>admin</name>" in admin.get_config(source="running", filter=member_filter("admin")).data_xml


def test_an_unsupported_filter_type_is_refused_by_get_and_get_config_alike(users):
    import pytest
    from ncclient.operations import RPCError

    _harness, admin, _monitor = users
    # empty of elements, like an XPath filter: it must not read as "select nothing"
    unknown = f'<filter xmlns="{NC}" type="regexp" select="nacm"/>'
    for read in (lambda: admin.get(filter=unknown), lambda: admin.get_config(source="running", filter=unknown)):
        with pytest.raises(RPCError) as e:
            read()
        assert e.value.tag == "operation-not-supported"
