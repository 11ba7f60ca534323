import pytest

from agent.netconf.xmltree import XmlError, parse, serialize


def test_namespace_declarations_kept_for_prefixed_values():
    root = parse(b'<a xmlns="urn:x" xmlns:ct="urn:ct"><b>ct:thing</b></a>')
    b = root.children[0]
    assert b.ns == "urn:x" and b.text == "ct:thing"
    assert b.nsmap["ct"] == "urn:ct"
    again = parse(serialize(b).encode())
    assert again.nsmap["ct"] == "urn:ct" and again.text == "ct:thing"


def test_attributes_with_namespaces():
    root = parse(b'<a xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" nc:operation="delete" plain="1"/>')
    assert root.attr("operation", "urn:ietf:params:xml:ns:netconf:base:1.0") == "delete"
    assert root.attr("plain") == "1"


@pytest.mark.parametrize(
    "doc",
    [
        b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
        b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><a>&lol2;</a>',
        b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>',
        b'<?xml-stylesheet href="x"?><a/>',
        b"<a><b></a>",
        b"",
        b"<a/><b/>",
    ],
)
def test_hostile_or_malformed_xml_refused(doc):
    with pytest.raises(XmlError):
        parse(doc)


def test_depth_and_attribute_limits():
    with pytest.raises(XmlError, match="nested"):
        parse(b"<a>" * 200 + b"</a>" * 200)
    attrs = " ".join(f'a{i}="1"' for i in range(100))
    with pytest.raises(XmlError, match="attributes"):
        parse(f"<a {attrs}/>".encode())
