"""A small namespace-aware XML tree on expat, hardened for untrusted peers.

Why not ElementTree: it drops namespace declarations that no element name
uses, yet YANG identityref and instance-identifier values carry prefixes that
only those declarations resolve. Every :class:`Element` here keeps the prefix
map in scope. Document type declarations (and with them every entity trick)
are refused, and nesting depth and attribute count are bounded.
"""

from __future__ import annotations

from xml.parsers import expat

NS_BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
XML_NS = "http://www.w3.org/XML/1998/namespace"

MAX_DEPTH = 128
MAX_ATTRIBUTES = 64


class XmlError(Exception):
    """The message is not acceptable XML."""


class Element:
    __slots__ = ("ns", "name", "attrs", "children", "text", "nsmap", "parent")

    def __init__(
        self,
        ns: str,
        name: str,
        attrs: dict[tuple[str, str], str] | None = None,
        nsmap: dict[str, str] | None = None,
        parent: Element | None = None,
    ) -> None:
        self.ns = ns
        self.name = name
        #: (namespace or "", local name) -> value
        self.attrs = attrs or {}
        self.children: list[Element] = []
        self.text = ""
        #: prefix ("" for the default namespace) -> namespace, all in scope here
        self.nsmap = nsmap or {}
        self.parent = parent

    def find(self, name: str, ns: str | None = None) -> Element | None:
        for child in self.children:
            if child.name == name and (ns is None or child.ns == ns):
                return child
        return None

    def findall(self, name: str, ns: str | None = None) -> list[Element]:
        return [c for c in self.children if c.name == name and (ns is None or c.ns == ns)]

    def attr(self, name: str, ns: str = "") -> str | None:
        return self.attrs.get((ns, name))

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def __repr__(self) -> str:
        return f"<Element {{{self.ns}}}{self.name} children={len(self.children)}>"


def _split(qname: str) -> tuple[str, str]:
    ns, sep, local = qname.rpartition(" ")
    return (ns, local) if sep else ("", qname)


class _Builder:
    def __init__(self, max_depth: int, max_attributes: int) -> None:
        self.root: Element | None = None
        self.stack: list[Element] = []
        self.pending_ns: dict[str, str] = {}
        self.max_depth = max_depth
        self.max_attributes = max_attributes
        self.text_parts: list[list[str]] = []

    def start_ns(self, prefix: str | None, uri: str | None) -> None:
        self.pending_ns[prefix or ""] = uri or ""

    def start(self, qname: str, attributes: list[str]) -> None:
        if len(self.stack) >= self.max_depth:
            raise XmlError(f"elements nested deeper than {self.max_depth}")
        if len(attributes) > 2 * self.max_attributes:
            raise XmlError(f"more than {self.max_attributes} attributes on one element")
        parent = self.stack[-1] if self.stack else None
        if self.root is not None and parent is None:
            raise XmlError("more than one root element")
        nsmap = parent.nsmap if parent else {}
        if self.pending_ns:
            nsmap = {**nsmap, **self.pending_ns}
            self.pending_ns = {}
        ns, name = _split(qname)
        attrs = {_split(attributes[i]): attributes[i + 1] for i in range(0, len(attributes), 2)}
        el = Element(ns, name, attrs, nsmap, parent)
        if parent is None:
            self.root = el
        else:
            parent.children.append(el)
        self.stack.append(el)
        self.text_parts.append([])

    def end(self, qname: str) -> None:
        el = self.stack.pop()
        parts = self.text_parts.pop()
        if parts:
            el.text = "".join(parts)

    def data(self, text: str) -> None:
        if self.text_parts:
            self.text_parts[-1].append(text)


def _refuse(what: str):
    def handler(*_args):
        raise XmlError(f"{what} not allowed in NETCONF messages")

    return handler


def parse(data: bytes, *, max_depth: int = MAX_DEPTH, max_attributes: int = MAX_ATTRIBUTES) -> Element:
    """Parse one XML document. Raises :class:`XmlError` for anything malformed or hostile."""
    builder = _Builder(max_depth, max_attributes)
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.ordered_attributes = True
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartNamespaceDeclHandler = builder.start_ns
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = _refuse("a document type declaration is")
    parser.EntityDeclHandler = _refuse("entity declarations are")
    parser.ExternalEntityRefHandler = _refuse("external entities are")
    parser.ProcessingInstructionHandler = _refuse("processing instructions are")
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise XmlError(f"not well-formed XML: {expat.ErrorString(exc.code)} at line {exc.lineno}") from None
    except RecursionError:
        raise XmlError("XML too deeply nested") from None
    if builder.root is None:
        raise XmlError("no root element")
    return builder.root


def escape_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attr(s: str) -> str:
    return escape_text(s).replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")


def text_element(name: str, value: str, ns: str | None = None) -> str:
    xmlns = f' xmlns="{escape_attr(ns)}"' if ns else ""
    return f"<{name}{xmlns}>{escape_text(value)}</{name}>"


def serialize(el: Element) -> str:
    """Serialise a subtree, declaring at its root every prefix in scope so that
    prefixed values (identityrefs) keep their meaning."""
    out: list[str] = []
    _serialize(el, out, None, True)
    return "".join(out)


def _serialize(el: Element, out: list[str], parent_ns: str | None, root: bool) -> None:
    decl = []
    if el.ns != parent_ns:
        decl.append(f' xmlns="{escape_attr(el.ns)}"')
    if root:
        for prefix, uri in sorted(el.nsmap.items()):
            if prefix and prefix != "xml":
                decl.append(f' xmlns:{prefix}="{escape_attr(uri)}"')
    attrs = []
    for (ans, aname), value in el.attrs.items():
        if ans:
            prefix = next((p for p, u in el.nsmap.items() if u == ans and p), None)
            if prefix is None:
                prefix = "a%d" % len(decl)
                decl.append(f' xmlns:{prefix}="{escape_attr(ans)}"')
            attrs.append(f' {prefix}:{aname}="{escape_attr(value)}"')
        else:
            attrs.append(f' {aname}="{escape_attr(value)}"')
    out.append(f"<{el.name}{''.join(decl)}{''.join(attrs)}")
    if not el.children and not el.text:
        out.append("/>")
        return
    out.append(">")
    if el.children:
        for child in el.children:
            _serialize(child, out, el.ns, False)
    else:
        out.append(escape_text(el.text))
    out.append(f"</{el.name}>")
