"""RFC 6241 section 6 subtree filtering, by translation to XPath selections.

Each filter branch becomes one libyang XPath: content-match nodes turn into
predicates on their parent, selection nodes into the selected path, and a
parent holding only content-match nodes selects its whole subtree. The
selected nodes are then copied with their ancestors (``Tree.select``).

A manager polls with the same few filters: each schema remembers the
translations of the last :data:`MAX_REMEMBERED` small filters, by their
elements' namespaces, names and texts (all the translation reads); a large
filter (a peer's namespace bomb, say) is translated every time, never kept.
"""

from __future__ import annotations

from collections.abc import Hashable
from weakref import WeakKeyDictionary

from ..netconf.errors import BadElement
from ..netconf.xmltree import Element
from ..yang import Kind, Schema, SchemaNode, quote

#: filters whose translation each schema remembers
MAX_REMEMBERED = 32
#: translations longer than this (XPath characters) are not remembered
MAX_REMEMBERED_CHARS = 2048
#: filters larger than this are not remembered (see _shape)
MAX_REMEMBERED_SIZE = 2048
ELEMENT_SIZE = 32

_remembered: WeakKeyDictionary[Schema, dict[Hashable, tuple[str, ...]]] = WeakKeyDictionary()


def subtree_to_xpaths(schema: Schema, filter_el: Element) -> list[str]:
    """XPaths selecting what ``<filter type="subtree">`` asks for.

    Elements naming nothing in the schema select nothing (RFC 6241 6.2.1)."""
    try:
        key = _shape(filter_el, [MAX_REMEMBERED_SIZE])
    except _TooLarge:
        return _translate(schema, filter_el)
    known = _remembered.get(schema)
    if known is None:
        known = _remembered[schema] = {}
    xpaths = known.get(key)
    if xpaths is not None:
        return list(xpaths)
    out = _translate(schema, filter_el)
    if sum(map(len, out)) <= MAX_REMEMBERED_CHARS:
        if len(known) >= MAX_REMEMBERED:
            del known[next(iter(known))]
        known[key] = tuple(out)
    return out


class _TooLarge(Exception):
    """A filter too large to be remembered."""


def _shape(el: Element, budget: list[int]) -> Hashable:
    """What the translation reads of ``el``'s children and below, within
    ``budget`` (characters, an element counting for its name and text and
    :data:`ELEMENT_SIZE` more; raises _TooLarge past it)."""
    out = []
    for child in el.children:
        budget[0] -= ELEMENT_SIZE + len(child.name) + len(child.text)
        if budget[0] < 0:
            raise _TooLarge
        out.append((child.ns, child.name, child.text, _shape(child, budget) if child.children else ()))
    return tuple(out)


def _translate(schema: Schema, filter_el: Element) -> list[str]:
    out: list[str] = []
    for top in filter_el.children:
        snode = schema.top_node(top.ns, top.name)
        if snode is None:
            continue
        _branch(schema, top, snode, f"/{snode.module}:{snode.name}", out)
    return out


def _is_content_match(el: Element) -> bool:
    return not el.children and el.text.strip() != ""


def _branch(schema: Schema, el: Element, snode: SchemaNode, path: str, out: list[str]) -> None:
    if not el.children:
        out.append(path)  # selection node: the whole subtree
        return
    if _is_content_match(el):
        return  # handled by the parent as a predicate
    content: list[tuple[SchemaNode, str]] = []
    others: list[tuple[Element, SchemaNode]] = []
    for child in el.children:
        csnode = schema.child_node(snode, child.ns or snode.namespace, child.name)
        if csnode is None:
            if _is_content_match(child):
                return  # a content match on a node that cannot exist: nothing matches
            continue
        if _is_content_match(child):
            if csnode.kind not in (Kind.LEAF, Kind.LEAFLIST):
                raise BadElement(f"content match on non-leaf <{child.name}> in filter", type="protocol", info={"bad-element": child.name})
            content.append((csnode, child.text.strip()))
        else:
            others.append((child, csnode))
    preds = "".join(f"[{_step(snode, c)}={quote(v)}]" for c, v in content)
    here = path + preds
    if not others:
        out.append(here)
        return
    for c, _v in content:
        out.append(f"{here}/{_step(snode, c)}")
    for child, csnode in others:
        _branch(schema, child, csnode, f"{here}/{_step(snode, csnode)}", out)


def _step(parent: SchemaNode, child: SchemaNode) -> str:
    if parent.module != child.module:
        return f"{child.module}:{child.name}"
    return child.name
