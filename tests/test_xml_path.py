"""libyang's JSON-style paths as XML instance-identifiers (error-path, the
edit lists of netconf-config-change), converted once per path and kept."""

from __future__ import annotations

NACM_NS = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm"
PATH = "/ietf-netconf-acm:nacm/rule-list[name='a/b']/rule[name='r']/comment"
XML = ("/ietf-netconf-acm:nacm/ietf-netconf-acm:rule-list[ietf-netconf-acm:name='a/b']"
       "/ietf-netconf-acm:rule[ietf-netconf-acm:name='r']/ietf-netconf-acm:comment")


def test_every_step_carries_its_module_as_prefix(schema):
    assert schema.xml_path(PATH) == (XML, {"ietf-netconf-acm": NACM_NS})


def test_a_kept_conversion_is_the_same_and_the_caller_owns_its_map(schema):
    first = schema.xml_path(PATH)
    first[1]["x"] = "changed by a caller"
    assert schema.xml_path(PATH) == (XML, {"ietf-netconf-acm": NACM_NS})


def test_long_and_many_paths_are_converted_all_the_same(schema):
    long_key = "k" * 5000
    assert schema.xml_path(f"/ietf-netconf-acm:nacm/groups/group[name='{long_key}']")[0].endswith(
        f"[ietf-netconf-acm:name='{long_key}']")
    for i in range(1500):
        path = f"/ietf-netconf-acm:nacm/groups/group[name='g{i}']"
        assert schema.xml_path(path)[0] == f"/ietf-netconf-acm:nacm/ietf-netconf-acm:groups/ietf-netconf-acm:group[ietf-netconf-acm:name='g{i}']"
    assert schema.xml_path(PATH)[0] == XML
