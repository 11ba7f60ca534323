"""A small namespace-aware XML tree on expat, hardened for untrusted peers.

Why not ElementTree: it drops namespace declarations that no element name
uses, yet YANG identityref and instance-identifier values carry prefixes that
only those declarations resolve. Every :class:`Element` keeps the
declarations made on it and reaches those of its ancestors through a chain
of scopes, so a prefix resolves as in the document while no element holds a
copy of what it inherits (a copy per element let a 277 kB message of
namespace declarations take gigabytes). Elements do not point to their
parents: a tree without reference cycles is freed the moment its message
is done with, where a cyclic one waited for the garbage collector's rare
full collection and kept hundreds of megabytes meanwhile. Document type declarations (and
with them every entity trick) are refused; nesting depth, attributes and
namespace declarations per element are bounded. What a parse costs is a
small multiple of the message, whatever its shape: elements without
attributes, children or text share empty values, and element names are
shared between elements.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import NoReturn, TypeAlias
from xml.parsers import expat

NS_BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
XML_NS = "http://www.w3.org/XML/1998/namespace"

MAX_DEPTH = 128
#: attributes and namespace declarations of one element, together
MAX_ATTRIBUTES = 64
#: distinct element names shared between elements; past this each element keeps its own
_MAX_SHARED_NAMES = 4096
#: element names split once for every message (the schema's few hundred names
#: come back in every request): at most this many, each at most _MAX_KNOWN_NAME
#: characters, so that what a peer's names can make the agent keep stays small
_MAX_KNOWN_NAMES = 1024
_MAX_KNOWN_NAME = 128
_KNOWN_NAMES: dict[str, tuple[str, str]] = {}

_NO_ATTRS: Mapping[tuple[str, str], str] = MappingProxyType({})
_NO_NSMAP: Mapping[str, str] = MappingProxyType({})
#: an element's children until it has one: saves a list per leaf (never appended to)
_NO_CHILDREN: list[Element] = ()  # type: ignore[assignment]

#: the namespace declarations in scope: (innermost declarations, the scope around them)
Scope: TypeAlias = tuple[dict[str, str], "Scope | None"]


class XmlError(Exception):
    """The message is not acceptable XML."""


class Element:
    __slots__ = ("ns", "name", "attrs", "children", "text", "decls", "scope")

    def __init__(
        self,
        ns: str,
        name: str,
        attrs: dict[tuple[str, str], str] | None = None,
        decls: dict[str, str] | None = None,
        scope: Scope | None = None,
    ) -> None:
        self.ns = ns
        self.name = name
        #: (namespace or "", local name) -> value; read-only and shared when empty
        self.attrs: Mapping[tuple[str, str], str] = attrs or _NO_ATTRS
        self.children: list[Element] = []
        self.text = ""
        #: the namespace declarations made on this element: prefix ("" for the default namespace) -> namespace
        self.decls = decls
        #: the declarations in scope here: (innermost declarations, the scope around them), or None
        self.scope: Scope | None = (decls, scope) if decls else scope

    def namespace_for(self, prefix: str) -> str | None:
        """The namespace ``prefix`` ("" for the default) stands for here."""
        scope = self.scope
        while scope is not None:
            decls, scope = scope
            if prefix in decls:
                return decls[prefix]
        return None

    @property
    def nsmap(self) -> dict[str, str]:
        """Every prefix in scope here, as a new dict (walks the scopes: not for loops)."""
        chain = []
        scope = self.scope
        while scope is not None:
            decls, scope = scope
            chain.append(decls)
        out: dict[str, str] = {}
        for decls in reversed(chain):
            out.update(decls)
        return out

    def find(self, name: str, ns: str | None = None) -> Element | None:
        for child in self.children:
            if child.name == name and (ns is None or child.ns == ns):
                return child
        return None

    def findall(self, name: str, ns: str | None = None) -> list[Element]:
        return [c for c in self.children if c.name == name and (ns is None or c.ns == ns)]

    def attr(self, name: str, ns: str = "") -> str | None:
        return self.attrs.get((ns, name))

    def iter(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            yield from child.iter()

    def __repr__(self) -> str:
        return f"<Element {{{self.ns}}}{self.name} children={len(self.children)}>"


def _split(qname: str) -> tuple[str, str]:
    ns, sep, local = qname.rpartition(" ")
    return (ns, local) if sep else ("", qname)


def _refuse(what: str) -> Callable[..., NoReturn]:
    def handler(*_args: object) -> NoReturn:
        raise XmlError(f"{what} not allowed in NETCONF messages")

    return handler


_REFUSE_DOCTYPE = _refuse("a document type declaration is")
_REFUSE_ENTITY = _refuse("entity declarations are")
_REFUSE_EXTERNAL = _refuse("external entities are")
_REFUSE_PI = _refuse("processing instructions are")
_new_element = object.__new__


def parse(data: bytes | bytearray | memoryview, *, max_depth: int = MAX_DEPTH,
          max_attributes: int = MAX_ATTRIBUTES) -> Element:
    """Parse one XML document. Raises :class:`XmlError` for anything malformed or hostile."""
    # The handlers run once per element of every request: closures over
    # locals, elements made without a call to __init__, and an element's
    # text kept as its first piece (buffer_text makes that all of it but
    # where children or expat's buffer split it; further pieces wait in
    # ``more_text`` and are joined once, at the element's end).
    stack: list[Element] = []
    push, pop = stack.append, stack.pop
    known = _KNOWN_NAMES
    #: names split for this message only, once _KNOWN_NAMES is full
    names: dict[str, tuple[str, str]] = {}
    more_text: dict[Element, list[str]] = {}
    pending_ns: dict[str, str] | None = None
    root: Element | None = None

    def split_name(qname: str) -> tuple[str, str]:
        split = names.get(qname)
        if split is None:
            split = _split(qname)
            if len(known) < _MAX_KNOWN_NAMES and len(qname) <= _MAX_KNOWN_NAME:
                known[qname] = split
            elif len(names) < _MAX_SHARED_NAMES:
                names[qname] = split
        return split

    def start_ns(prefix: str | None, uri: str | None) -> None:
        nonlocal pending_ns
        if pending_ns is None:
            pending_ns = {}
        elif len(pending_ns) >= max_attributes:
            # refused as they come: expat reports every declaration before the element
            raise XmlError(f"more than {max_attributes} attributes and namespace declarations on one element")
        pending_ns[prefix or ""] = uri or ""

    def start(qname: str, attributes: list[str]) -> None:
        nonlocal pending_ns, root
        if len(stack) >= max_depth:
            raise XmlError(f"elements nested deeper than {max_depth}")
        decls = pending_ns
        attrs = _NO_ATTRS
        if decls is not None or attributes:
            pending_ns = None
            if len(attributes) // 2 + (len(decls) if decls else 0) > max_attributes:
                raise XmlError(f"more than {max_attributes} attributes and namespace declarations on one element")
            if attributes:
                attrs = {(known.get(attributes[i]) or split_name(attributes[i])): attributes[i + 1]
                         for i in range(0, len(attributes), 2)}
        el = _new_element(Element)
        el.ns, el.name = known.get(qname) or split_name(qname)
        el.attrs = attrs
        el.children = _NO_CHILDREN  # a list once there is a child
        el.text = ""
        el.decls = decls
        if stack:
            parent = stack[-1]
            scope = parent.scope
            el.scope = (decls, scope) if decls else scope
            children = parent.children
            if children is _NO_CHILDREN:
                parent.children = [el]
            else:
                children.append(el)
        elif root is not None:
            raise XmlError("more than one root element")
        else:
            root = el
            el.scope = (decls, None) if decls else None
        push(el)

    def end(_qname: str) -> None:
        el = pop()
        if more_text:
            parts = more_text.pop(el, None)
            if parts is not None:
                el.text = "".join(parts)

    def text(piece: str) -> None:
        if stack:
            el = stack[-1]
            if not el.text:
                el.text = piece
            else:
                parts = more_text.get(el)
                if parts is None:
                    more_text[el] = [el.text, piece]
                else:
                    parts.append(piece)

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.ordered_attributes = True
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartNamespaceDeclHandler = start_ns
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.StartDoctypeDeclHandler = _REFUSE_DOCTYPE
    parser.EntityDeclHandler = _REFUSE_ENTITY
    parser.ExternalEntityRefHandler = _REFUSE_EXTERNAL
    parser.ProcessingInstructionHandler = _REFUSE_PI
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise XmlError(f"not well-formed XML: {expat.ErrorString(exc.code)} at line {exc.lineno}") from None
    except RecursionError:
        raise XmlError("XML too deeply nested") from None
    if root is None:
        raise XmlError("no root element")
    return root


#: what escaping changes: most values hold none of it, and one search is
#: cheaper than the replacements that would find nothing
_TEXT_SPECIAL = re.compile("[&<>]")
_ATTR_SPECIAL = re.compile('[&<>"\n\r\t]')


def escape_text(s: str) -> str:
    if _TEXT_SPECIAL.search(s) is None:
        return s
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attr(s: str) -> str:
    if _ATTR_SPECIAL.search(s) is None:
        return s
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
    nsmap: Mapping[str, str] = el.nsmap if root or el.attrs else _NO_NSMAP
    prefix: str | None
    if root:
        for prefix, uri in sorted(nsmap.items()):
            if prefix and prefix != "xml":
                decl.append(f' xmlns:{prefix}="{escape_attr(uri)}"')
    attrs = []
    for (ans, aname), value in el.attrs.items():
        if ans:
            prefix = next((p for p, u in nsmap.items() if u == ans and p), None)
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
