"""What a read returns: the one pipeline of <get> and <get-config> (and of
any read to come, such as <get-data>).

    build (the caller: a copy of a datastore, plus state for <get>)
      → NACM read pruning → secret removal → selection by the filter

Selection comes last (RFC 8341 3.4.5): a filter selects only from what the
user may read, so a content match on a leaf NACM denies, or on a private
key nobody may read, answers the same whether the guess was right or not.

A filter becomes a list of XPaths (``Tree.select`` keeps the nodes they
select, with their ancestors and subtrees); a new filter kind is one more
entry in :data:`FILTER_KINDS`.

:func:`select_in_place` is the same pipeline's answer without the copy,
where the pruning provably removes nothing the filter could look at;
:func:`print_in_place` prints it without even a copy of what is selected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

from ..netconf.errors import OperationNotSupported
from ..netconf.xmltree import NS_BASE, Element
from ..yang import Schema, Tree
from . import xpath
from .filter import subtree_to_xpaths

if TYPE_CHECKING:
    from ..nacm import Nacm

#: filter type -> the XPaths a <filter> of that type selects
FILTER_KINDS: dict[str, Callable[[Schema, Element], list[str]]] = {
    "subtree": subtree_to_xpaths,
    "xpath": xpath.filter_xpaths,
}


def filter_type(op: Element) -> str | None:
    """The type of the <filter> of ``op`` (None without one)."""
    filter_el = op.find("filter", NS_BASE)
    if filter_el is None:
        return None
    return filter_el.attr("type") or "subtree"


def filter_xpaths(schema: Schema, op: Element) -> list[str] | None:
    """The XPaths the <filter> of ``op`` selects; None without a filter
    (everything), [] for one that selects nothing. An unknown filter type
    is refused here, whether the filter is empty or not."""
    filter_el = op.find("filter", NS_BASE)
    if filter_el is None:
        return None
    ftype = filter_el.attr("type") or "subtree"
    kind = FILTER_KINDS.get(ftype)
    if kind is None:
        raise OperationNotSupported(f"filter type {ftype!r} is not supported", type="protocol",
                                    info={"bad-attribute": "type", "bad-element": "filter"})
    return kind(schema, filter_el)


def state_selection(op: Element, xpaths: list[str] | None) -> list[str] | None:
    """What to tell the state providers a <get> selects: a subtree filter's
    paths; for an XPath filter everything (a provider cannot read an
    arbitrary expression, and the expression may test any node)."""
    if filter_type(op) == "xpath":
        return None
    return xpaths


def readable(schema: Schema, nacm: Nacm, user: str, tree: Tree, xpaths: list[str] | None) -> Tree:
    """What ``user`` gets of ``tree`` for a filter selecting ``xpaths`` (None:
    everything). ``tree`` is consumed: the result is a tree the caller frees."""
    try:
        nacm.filter_read(user, tree)
        # private keys stay on the box, whatever the NACM rules say
        tree.remove_paths(schema.secret_paths())
        if xpaths is None:
            return tree
        selected = tree.select(xpaths)
    except BaseException:
        tree.free()
        raise
    tree.free()
    return selected


def _top(path: str) -> str:
    """The first step of an absolute path: ``/module:name``."""
    end = len(path)
    for stop in ("/", "["):
        i = path.find(stop, 1)
        if 0 < i < end:
            end = i
    return path[:end]


def select_in_place(schema: Schema, nacm: Nacm, user: str, source: Tree, subtree_xpaths: list[str]) -> Tree | None:
    """What :func:`readable` answers for a copy of ``source`` and the XPaths
    of a *subtree* filter, selected from ``source`` itself (neither copied
    whole nor changed: the caller frees only the result); None where the
    answers could differ, and the caller copies and prunes as usual.

    A subtree filter's XPaths look only inside the top-level nodes they name
    (absolute paths whose predicates test child leaves). Where NACM lets the
    user read everything and no secret is stored under those nodes, pruning
    removes nothing the filter can see or select, so selecting first selects
    the same nodes; anything else takes the general path. ``source`` must not
    change meanwhile: call this on the event loop, not in a worker thread."""
    if not _prunes_nothing_selected(schema, nacm, user, source, subtree_xpaths):
        return None
    return source.select(subtree_xpaths)


def print_in_place(schema: Schema, nacm: Nacm, user: str, source: Tree, subtree_xpaths: list[str],
                   with_defaults: str) -> str | None:
    """:func:`select_in_place`'s answer printed as XML (``with_defaults``
    mode). Where the filter selects siblings (a list entry by its keys, or
    one node below it), printed straight from ``source`` with their
    ancestors, no copy at all (Tree.print_selected). None where
    select_in_place answers None."""
    if not _prunes_nothing_selected(schema, nacm, user, source, subtree_xpaths):
        return None
    selections = [source.xpath(x) for x in subtree_xpaths]
    text = source.print_selected(selections, with_defaults)
    if text is not None:
        return text
    with source.select_nodes(selections) as selected:
        return selected.to_xml(with_defaults)


def _prunes_nothing_selected(schema: Schema, nacm: Nacm, user: str, source: Tree, subtree_xpaths: list[str]) -> bool:
    """Whether NACM read pruning and secret removal leave everything under
    the top-level nodes the XPaths of a subtree filter name (see
    :func:`select_in_place`)."""
    if not nacm.reads_everything(user):
        return False
    secrets = _secrets_by_top(schema)
    for top in {_top(x) for x in subtree_xpaths}:
        for path in secrets.get(top, ()):
            if source.xpath(path):
                return False
    return True


_secret_tops: WeakKeyDictionary[Schema, dict[str, list[str]]] = WeakKeyDictionary()


def _secrets_by_top(schema: Schema) -> dict[str, list[str]]:
    """The schema's secret paths by the top-level node they are under."""
    found = _secret_tops.get(schema)
    if found is None:
        found = {}
        for path in schema.secret_paths():
            found.setdefault(_top(path), []).append(path)
        _secret_tops[schema] = found
    return found


def copy_to_read(nacm: Nacm, user: str, source: Tree, xpaths: list[str] | None, subtree: bool) -> Tree:
    """The copy of ``source`` for :func:`readable` (the caller hands it on):
    for a subtree filter (``subtree``, ``xpaths`` its XPaths) only the
    top-level nodes it names, where every NACM rule that can decide the
    user's reads looks only down from the top (Nacm.read_rules_look_down):
    pruning and selection inside those nodes then go as in a whole copy,
    at the cost of what they hold. The whole datastore otherwise."""
    if subtree and xpaths and nacm.read_rules_look_down(user):
        return source.duplicate_tops({_top(x) for x in xpaths})
    return source.duplicate()
