import pytest

from agent.netconf.xmltree import NS_BASE, XmlError, parse, serialize


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


def test_namespace_declarations_count_toward_the_attribute_cap():
    decls = " ".join(f'xmlns:p{i}="urn:{i}"' for i in range(40))
    attrs = " ".join(f'a{i}="1"' for i in range(30))
    with pytest.raises(XmlError, match="namespace declarations"):
        parse(f"<a {decls} {attrs}/>".encode())
    with pytest.raises(XmlError, match="namespace declarations"):
        parse(("<a " + " ".join(f'xmlns:p{i}="u"' for i in range(500_000)) + "/>").encode())
    ok = parse(f"<a {decls}/>".encode())
    assert len(ok.decls) == 40


def test_prefixes_resolve_through_the_ancestors_without_copies():
    root = parse(b'<a xmlns="urn:a" xmlns:x="urn:x1"><b xmlns:y="urn:y"><c xmlns:x="urn:x2">v</c></b><d/></a>')
    b, d = root.children
    c = b.children[0]
    assert c.namespace_for("x") == "urn:x2" and c.namespace_for("y") == "urn:y" and c.namespace_for("") == "urn:a"
    assert d.namespace_for("x") == "urn:x1" and d.namespace_for("y") is None
    assert c.nsmap == {"": "urn:a", "x": "urn:x2", "y": "urn:y"}
    assert d.decls is None and c.decls == {"x": "urn:x2"}  # each element holds only its own


def _bomb(n: int, m: int) -> bytes:
    """n declarations on the top element, m children declaring one more each."""
    top = " ".join(f'xmlns:p{i}="urn:p{i}"' for i in range(n))
    kids = "".join(f'<c xmlns:q{j}="urn:q"/>' for j in range(m))
    return f'<rpc xmlns="{NS_BASE}" message-id="1" {top}><get>{kids}</get></rpc>'.encode()


SHAPES = {
    **{f"namespace bomb {n}x{m}": (n, m) for n, m in ((10, 1_000), (60, 10_000), (60, 30_000))},
    "100 000 empty elements": b"<r>" + b"<a/>" * 30_000 + b"</r>",
    "64 attributes x 5 000": b"<r>" + b"".join(b"<a " + b" ".join(b'a%d="v"' % i for i in range(64)) + b"/>"
                                                for _ in range(5_000)) + b"</r>",
    "128 deep x 500": b"<r>" + (b"<a>" * 127 + b"</a>" * 127) * 500 + b"</r>",
    "mixed text": b"<r>" + b"<a>text<b/>more</a>" * 30_000 + b"</r>",
}


@pytest.mark.parametrize("shape", SHAPES)
def test_parse_memory_is_a_small_multiple_of_the_message(shape):
    import time
    import tracemalloc

    data = SHAPES[shape]
    if isinstance(data, tuple):
        data = _bomb(*data)
    tracemalloc.start()
    try:
        t0 = time.monotonic()
        root = parse(data)
        seconds = time.monotonic() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del root
    print(f"{shape}: {len(data)} bytes, parser peak {peak / 1e6:.1f} MB ({peak / len(data):.0f}x), {seconds:.2f} s")
    assert peak < 32 * len(data) + 1_000_000


def test_names_kept_across_messages_are_bounded():
    """Element names are split once for all messages, but what a peer's names
    make the parser keep is bounded, in count and in length."""
    from agent.netconf import xmltree

    long_name = "n" * (xmltree._MAX_KNOWN_NAME + 1)
    for batch in range(3):
        names = "".join(f"<e{batch}x{i}/>" for i in range(xmltree._MAX_KNOWN_NAMES))
        root = parse(f'<r xmlns="urn:x"><{long_name}/>{names}</r>'.encode())
        assert root.children[-1].name == f"e{batch}x{xmltree._MAX_KNOWN_NAMES - 1}" and root.children[-1].ns == "urn:x"
    assert len(xmltree._KNOWN_NAMES) <= xmltree._MAX_KNOWN_NAMES
    assert all(len(qname) <= xmltree._MAX_KNOWN_NAME for qname in xmltree._KNOWN_NAMES)
    assert f"urn:x {long_name}" not in xmltree._KNOWN_NAMES
