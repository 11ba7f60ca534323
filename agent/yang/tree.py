"""Data trees: :class:`Tree` owns a libyang data tree and frees it on
:meth:`Tree.free` or at the end of a ``with`` block."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING

from .bindings import CData, _s, _str, _union_member_type, ffi, lib
from .errors import _drain
from .issue import Issue, YangError
from .nodes import LeafType, SchemaNode, _leaf_type
from .scope import validate_module

if TYPE_CHECKING:
    from .schema import Schema

WITH_DEFAULTS = {
    "explicit": lib.LYD_PRINT_WD_EXPLICIT,
    "trim": lib.LYD_PRINT_WD_TRIM,
    "report-all": lib.LYD_PRINT_WD_ALL,
    "report-all-tagged": lib.LYD_PRINT_WD_ALL_TAG,
}


def quote(value: str) -> str:
    """Quote a value for a libyang path predicate."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise YangError([Issue("invalid-value", "a key value holding both quote characters cannot be addressed")])



class _TooManyChanges(Exception):
    """A diff has more changed nodes than its caller wants listed."""


def _diff_op(node: CData) -> str | None:
    """The yang:operation a lyd_diff node carries, if any (an enumeration)."""
    meta = node.meta
    while meta != ffi.NULL:
        if ffi.string(meta.name) == b"operation":
            return str(ffi.string(meta.value.enum_item.name).decode())
        meta = meta.next
    return None

#: deletions after which :meth:`Tree.compact` rebuilds the tree
COMPACT_AFTER = 4096

_serials = itertools.count(1)
#: changed subtrees of a top-level node a tree keeps apart; past it, a diff compares the whole top-level subtree
MAX_REGIONS = 16


def _first_non_key(node: CData) -> CData:
    child = lib.lyd_child(node)
    while child != ffi.NULL and child.schema != ffi.NULL and child.schema.flags & lib.LYS_KEY:
        child = child.next
    return child


def _top(node: CData) -> CData:
    while node.parent != ffi.NULL:
        node = ffi.cast("struct lyd_node *", node.parent)
    return node


class Tree:
    """A data tree (a list of top-level siblings) owned by this object.

    Free it when done, with :meth:`free` or by using the tree as a context
    manager (``with schema.parse(...) as tree:``); trees are not garbage
    collected because libyang nodes cannot be tracked by Python's allocator."""

    __slots__ = ("schema", "first", "deleted", "_serial", "_version", "_origin", "_touched", "_valid")

    def __init__(self, schema: Schema, first: CData, deleted: int = 0) -> None:
        self.schema = schema
        self.first = first
        #: nodes deleted from this tree and the trees it was duplicated from
        #: since the last :meth:`compact`
        self.deleted = deleted
        # What changed since this tree was duplicated, so that a diff against
        # the tree it came from compares only the subtrees that can differ
        # (an edit of one NACM rule compares that rule, not the other rules
        # nor the call-home configuration). Every change of content goes
        # through a method here and names the node it changed; a change that
        # cannot name it makes the record None (compare all).
        self._serial = next(_serials)
        #: bumped by every change of content (a copy's origin is a version of its source)
        self._version = 0
        #: (serial, version) of the tree this one was duplicated from
        self._origin: tuple[int, int] | None = None
        #: address of the schema node of each top-level node that changed ->
        #: paths of the nodes below it whose subtrees hold every change there
        #: (None: the whole top-level subtree); None: unknown, anywhere
        self._touched: dict[int, set[str] | None] | None = None
        #: validated as it is now (a copy of it then needs validating only where it changed)
        self._valid = False

    def _changed(self, node: CData = None) -> None:
        """Content changed at ``node`` (created, deleted, moved or given a
        value; None: anywhere): the change is within its parent's subtree."""
        self._version += 1
        self._valid = False
        touched = self._touched
        if touched is None:
            return
        if node is None or node == ffi.NULL:
            self._touched = None
            return
        top = _top(node)
        if top.schema == ffi.NULL or top.schema.nodetype & (lib.LYS_LIST | lib.LYS_LEAFLIST):
            self._touched = None  # instances of one schema node: not paired by schema node alone
            return
        key = int(ffi.cast("uintptr_t", top.schema))
        regions = touched.get(key, set())
        if regions is None:
            return
        parent = ffi.cast("struct lyd_node *", node.parent)
        if parent == ffi.NULL or len(regions) >= MAX_REGIONS:
            touched[key] = None
            return
        regions.add(self.path_of(parent))
        touched[key] = regions

    # lifecycle

    def free(self) -> None:
        if self.first != ffi.NULL:
            lib.lyd_free_all(self.first)
            self.first = ffi.NULL
            self._changed()

    def __enter__(self) -> Tree:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.free()

    def duplicate(self) -> Tree:
        out = ffi.new("struct lyd_node **")
        if self.first != ffi.NULL:
            ret = lib.lyd_dup_siblings(self.first, ffi.NULL, lib.LYD_DUP_RECURSIVE | lib.LYD_DUP_WITH_FLAGS, out)
            if ret != lib.LY_SUCCESS:
                raise YangError(_drain(self.schema, self))
        copy = Tree(self.schema, out[0], self.deleted)
        copy._origin = (self._serial, self._version)
        copy._touched = {}
        copy._valid = self._valid
        return copy

    def duplicate_tops(self, tops: set[str]) -> Tree:
        """A copy of the top-level nodes named in ``tops`` (``/module:name``)
        with everything below them; the others are left out."""
        result = Tree(self.schema, ffi.NULL)
        node = self.first
        while node != ffi.NULL:
            if node.schema != ffi.NULL and f"/{_s(node.schema.module.name)}:{_s(node.schema.name)}" in tops:
                out = ffi.new("struct lyd_node **")
                if lib.lyd_dup_single(node, ffi.NULL, lib.LYD_DUP_RECURSIVE | lib.LYD_DUP_WITH_FLAGS, out) != lib.LY_SUCCESS:
                    result.free()
                    raise YangError(_drain(self.schema, self))
                result.merge(Tree(self.schema, out[0]))
            node = node.next
        return result

    def compact(self) -> None:
        """Rebuild the tree once many nodes have gone from it (libyang 3).

        libyang 3 gives a duplicated node a children hash table as large as
        the original's, and that table only ever grows: a list that once
        held 100 000 entries keeps a 3 MB table for its (now empty) parent
        in every later copy of the datastore. Printed and parsed again
        (LYB: every node, default and flag as it is) each table is sized
        for the children there are. Costs about six validations of the
        tree (0.8 s for 100 000 groups on the development machine; a tree
        that large is edited in a worker thread), so only once per
        COMPACT_AFTER deletions, counted across copies of the datastore."""
        if self.deleted < COMPACT_AFTER:
            return
        self.deleted = 0
        if self.first == ffi.NULL:
            return
        buf = ffi.new("char **")
        flags = lib.LYD_PRINT_WITHSIBLINGS | lib.LYD_PRINT_WD_ALL | lib.LYD_PRINT_KEEPEMPTYCONT
        if lib.lyd_print_mem(buf, self.first, lib.LYD_LYB, flags) != lib.LY_SUCCESS:
            raise YangError(_drain(self.schema, self))
        out = ffi.new("struct lyd_node **")
        try:
            ret = lib.lyd_parse_data_mem(self.schema.cdata, buf[0], lib.LYD_LYB,
                                         lib.LYD_PARSE_ONLY | lib.LYD_PARSE_STRICT | lib.LYD_PARSE_ORDERED, 0, out)
        finally:
            lib.free(buf[0])
        if ret != lib.LY_SUCCESS:
            if out[0] != ffi.NULL:
                lib.lyd_free_all(out[0])
            raise YangError(_drain(self.schema, self))
        lib.lyd_free_all(self.first)
        self.first = out[0]
        self._refirst()

    @property
    def empty(self) -> bool:
        return bool(self.first == ffi.NULL)

    def _refirst(self) -> None:
        if self.first != ffi.NULL:
            self.first = lib.lyd_first_sibling(self.first)

    # reading

    def find(self, path: str, include_defaults: bool = False, below: CData = None) -> CData | None:
        """The node at ``path`` (JSON form, absolute; or relative to the node
        ``below``: libyang then parses and walks only the last steps) or
        None. Implicit default nodes count as absent unless ``include_defaults``."""
        if self.first == ffi.NULL:
            return None
        out = ffi.new("struct lyd_node **")
        ret = lib.lyd_find_path(self.first if below is None else below, path.encode(), 0, out)
        if ret != lib.LY_SUCCESS:
            lib.ly_err_clean(self.schema.cdata, ffi.NULL)
            return None
        node = out[0]
        if node.flags & lib.LYD_DEFAULT and not include_defaults:
            return None
        return node

    @staticmethod
    def node_id(node: CData) -> int:
        """A node's identity while the tree lives (its address)."""
        return int(ffi.cast("uintptr_t", node))

    @staticmethod
    def lineage(node: CData, stop: CData = None) -> list[CData]:
        """The node's ancestors from the top (or from below ``stop``) down to itself."""
        chain = []
        while node != ffi.NULL and (stop is None or node != stop):
            chain.append(node)
            node = ffi.cast("struct lyd_node *", node.parent)
        return chain[::-1]

    def descendants(self, node: CData) -> list[CData]:
        out = []
        stack = list(self.children(node))
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(self.children(n))
        return out

    def xpath(self, expr: str) -> list[CData]:
        if self.first == ffi.NULL:
            return []
        out = ffi.new("struct ly_set **")
        ret = lib.lyd_find_xpath(self.first, expr.encode(), out)
        if ret != lib.LY_SUCCESS:
            lib.ly_err_clean(self.schema.cdata, ffi.NULL)
            return []
        s = out[0]
        try:
            return [s.dnodes[i] for i in range(s.count)]
        finally:
            lib.ly_set_free(s, ffi.NULL)

    def find_child(self, node: CData, name: str) -> CData | None:
        child = lib.lyd_child(node)
        while child != ffi.NULL:
            if child.schema != ffi.NULL and _s(child.schema.name) == name and not child.flags & lib.LYD_DEFAULT:
                return child
            child = child.next
        return None

    def path_of(self, node: CData) -> str:
        p = lib.lyd_path(node, lib.LYD_PATH_STD, ffi.NULL, 0)
        try:
            return _str(p)
        finally:
            lib.free(p)

    def value_of(self, node: CData) -> str | None:
        return _s(lib.lyd_get_value(node))

    def children(self, node: CData = None) -> Iterator[CData]:
        child = self.first if node is None else lib.lyd_child(node)
        while child != ffi.NULL:
            yield child
            child = child.next

    def value_type(self, node: CData) -> LeafType:
        """The type of this leaf's value; for a union, the member it matched."""
        declared = _leaf_type(ffi.cast("struct lysc_node_leaf *", node.schema).type)
        if declared.base != "union":
            return declared
        realtype = _union_member_type(self.schema.cdata, node)
        return LeafType("string") if realtype == ffi.NULL else _leaf_type(realtype)

    @staticmethod
    def schema_of(node: CData) -> SchemaNode:
        return SchemaNode(node.schema)

    @staticmethod
    def is_key(node: CData) -> bool:
        return bool(node.schema.flags & lib.LYS_KEY)

    @staticmethod
    def is_default(node: CData) -> bool:
        return bool(node.flags & lib.LYD_DEFAULT)

    # writing

    def create(self, path: str, value: str | None = None, below: CData = None) -> None:
        """Create ``path`` (and missing parents), or update a leaf's value;
        ``path`` is absolute, or relative to the node ``below`` (cheaper)."""
        out = ffi.new("struct lyd_node **")
        ret = lib.lyd_new_path(
            below if below is not None else self.first if self.first != ffi.NULL else ffi.NULL,
            self.schema.cdata,
            path.encode(),
            value.encode() if value is not None else ffi.NULL,
            lib.LYD_NEW_PATH_UPDATE,
            out,
        )
        if out[0] != ffi.NULL:  # the first node created, or the leaf updated; NULL: nothing changed
            self._changed(out[0])
        if ret != lib.LY_SUCCESS:
            self._changed()  # it may have created parents before it failed
            issues = _drain(self.schema, self)
            raise YangError([Issue(i.tag, i.message, i.path or path, i.app_tag) for i in issues])
        if self.first == ffi.NULL and out[0] != ffi.NULL:
            root = out[0]
            while root.parent != ffi.NULL:
                root = ffi.cast("struct lyd_node *", root.parent)
            self.first = root
        self._refirst()

    def instances(self, node: CData) -> list[CData]:
        """The entries of the list or leaf-list ``node`` belongs to, in order."""
        parent = ffi.cast("struct lyd_node *", node.parent)
        return [c for c in self.children(None if parent == ffi.NULL else parent) if c.schema == node.schema]

    def place(self, node: CData, before: CData = None) -> None:
        """Move an entry of a user-ordered list or leaf-list just before its
        sibling ``before`` (None: after the last one), subtree and all.

        python-libyang 2.8 declares neither lyd_insert_before nor
        lyd_insert_after; lyd_insert_child, in both generations, moves a
        linked node behind the last instance of its schema node. So the
        instances from the first one out of place on are moved to the end,
        in their new order."""
        parent = ffi.cast("struct lyd_node *", node.parent)
        if parent == ffi.NULL:
            raise YangError([Issue("operation-not-supported", "top-level entries cannot be reordered")])
        self._changed(node)
        instances = self.instances(node)
        order = [c for c in instances if c != node]
        order.insert(len(order) if before is None else order.index(before), node)
        first = next((i for i, (a, b) in enumerate(zip(instances, order, strict=True)) if a != b), len(order))
        for moved in order[first:]:
            if lib.lyd_insert_child(parent, moved) != lib.LY_SUCCESS:
                raise YangError(_drain(self.schema, self))

    def delete(self, node: CData) -> None:
        self.deleted += 1
        self._changed(node)
        if node == self.first:
            nxt = node.next
            lib.lyd_free_tree(node)
            self.first = nxt if nxt != ffi.NULL else ffi.NULL
            self._refirst()
        else:
            lib.lyd_free_tree(node)

    def validate(self, since: Tree | None = None) -> None:
        """Validate as a whole configuration datastore; adds default nodes.

        ``since``: the valid tree this one is a copy of: then only the
        modules whose data changed since, and those whose constraints can
        read them, are validated (agent/yang/scope.py); the others are as
        valid as they were."""
        modules = self._modules_to_validate(since)
        # what validation changes (defaults added, nodes whose when is false
        # or whose case was left removed) is told only to a tree that tracks its changes
        track = self._touched is not None
        self._version += 1
        if modules is None:
            p = ffi.new("struct lyd_node **", self.first)
            diff = ffi.new("struct lyd_node **") if track else ffi.NULL
            ret = lib.lyd_validate_all(p, self.schema.cdata, lib.LYD_VALIDATE_NO_STATE, diff)
            self.first = p[0]
            self._validated(ret, diff[0] if track else ffi.NULL)
        else:
            for module in modules:
                ret, self.first, changes = validate_module(self.first, module, lib.LYD_VALIDATE_NO_STATE)
                self._validated(ret, changes if track else ffi.NULL, changes)
        self._refirst()
        self._valid = True

    def _modules_to_validate(self, since: Tree | None) -> list[CData] | None:
        """The modules a validation since ``since`` covers; None: all."""
        if (since is None or not since._valid or self._touched is None or self.first == ffi.NULL
                or self._origin != (since._serial, since._version)):
            return None
        changed = {int(ffi.cast("uintptr_t", ffi.cast("struct lysc_node *", key).module)) for key in self._touched}
        return self.schema.validation_scope.affected(changed)

    def _validated(self, ret: int, diff: CData, free: CData = ffi.NULL) -> None:
        """After a validation call: record and free its diff, raise its error."""
        node = diff
        while node != ffi.NULL:
            self._changed(node)  # a top-level diff node: its whole top-level subtree
            node = node.next
        if diff != ffi.NULL or free != ffi.NULL:
            lib.lyd_free_all(diff if diff != ffi.NULL else free)
        if ret != lib.LY_SUCCESS:
            self._refirst()
            raise YangError(_drain(self.schema, self))

    def merge(self, other: Tree) -> None:
        """Move ``other``'s nodes into this tree (``other`` ends empty)."""
        if other.first == ffi.NULL:
            return
        for top in other.children():
            self._changed(top)
        other._changed()
        if self.first == ffi.NULL:
            self.first, other.first = other.first, ffi.NULL
            return
        p = ffi.new("struct lyd_node **", self.first)
        ret = lib.lyd_merge_siblings(p, other.first, lib.LYD_MERGE_DESTRUCT | lib.LYD_MERGE_WITH_FLAGS)
        other.first = ffi.NULL
        self.first = p[0]
        if ret != lib.LY_SUCCESS:
            raise YangError(_drain(self.schema, self))
        self._refirst()

    def select(self, xpaths: list[str]) -> Tree:
        """A new tree with the nodes the xpaths select, with their parents and subtrees."""
        return self.select_nodes([self.xpath(expr) for expr in xpaths])

    def select_nodes(self, selections: list[list[CData]]) -> Tree:
        """:meth:`select` of the nodes the xpaths selected (``selections``)."""
        result = Tree(self.schema, ffi.NULL)
        seen = set()
        for nodes in selections:
            for node in nodes:
                key = int(ffi.cast("uintptr_t", node))
                if key in seen:
                    continue
                seen.add(key)
                out = ffi.new("struct lyd_node **")
                flags = lib.LYD_DUP_RECURSIVE | lib.LYD_DUP_WITH_PARENTS | lib.LYD_DUP_WITH_FLAGS
                if lib.lyd_dup_single(node, ffi.NULL, flags, out) != lib.LY_SUCCESS:
                    lib.ly_err_clean(self.schema.cdata, ffi.NULL)
                    continue
                top = out[0]
                while top.parent != ffi.NULL:
                    top = ffi.cast("struct lyd_node *", top.parent)
                result.merge(Tree(self.schema, top))
        return result

    def print_selected(self, selections: list[list[CData]], with_defaults: str = "explicit") -> str | None:
        """The XML that :meth:`select` would print for the location paths
        whose results are ``selections`` (each in document order), printed
        from this tree itself, no copy: the selected nodes with their
        subtrees inside their ancestors' elements (a list entry's with its
        keys). Only for nodes of one parent, where at most one path selects
        other nodes than the parent's keys (those come with the parent), all
        of one schema node: the order of the copy is then theirs. None
        otherwise, or where a selected node prints nothing (whether its
        ancestors print then depends on the with-defaults mode): the caller
        selects a copy instead.

        libyang prints a node's default namespace unless its parent's is the
        same, and any other namespace where it is used, in scope only below
        that element: so a subtree prints alike alone and in its ancestors,
        but for its root's ``xmlns`` when the parent's namespace is the same."""
        parent = None
        entries: list[CData] = []
        for nodes in selections:
            if not nodes:
                continue
            if parent is None:
                parent = ffi.cast("struct lyd_node *", nodes[0].parent)
            for node in nodes:
                if node.schema != nodes[0].schema or ffi.cast("struct lyd_node *", node.parent) != parent:
                    return None
            if nodes[0].schema.flags & lib.LYS_KEY:
                continue  # printed with their list entry
            if entries:
                return None
            entries = nodes
        if parent is None:
            return ""
        wd = WITH_DEFAULTS[with_defaults]
        head: list[str] = []
        tail: list[str] = []
        outer = None  # the default namespace in scope
        for anc in self.lineage(parent):
            name, ns = self.schema.xml_name(anc.schema)
            head.append(f"<{name}>" if ns == outer else f'<{name} xmlns="{ns}">')
            tail.append(f"</{name}>")
            outer = ns
            key = lib.lyd_child(anc) if anc.schema.nodetype == lib.LYS_LIST else ffi.NULL
            while key != ffi.NULL and key.schema.flags & lib.LYS_KEY:
                head.append(self._print_under(key, wd, ns))
                key = key.next
        for node in entries:
            text = self._print_under(node, wd, outer)
            if not text:
                return None
            head.append(text)
        head.extend(reversed(tail))
        return "".join(head)

    def _print_under(self, node: CData, wd: int, outer: str | None) -> str:
        """``node`` and its subtree as XML, as printed inside an element
        whose default namespace is ``outer``: alone, its root element
        declares its default namespace right after its name, always."""
        text = self._print(lib.LYD_XML, wd, node)
        declared = f' xmlns="{outer}"'
        at = text.find(" ")
        if outer is not None and text.startswith(declared, at):
            return text[:at] + text[at + len(declared):]
        return text

    def diff(self, other: Tree, limit: int | None = None) -> list[tuple[str, str]]:
        """What changed from this tree to ``other``: (path, operation) for the
        top-most created, deleted or replaced nodes (RFC 6470 edit list).

        With ``limit``, a change of more nodes than that is reported as one
        "replace" per changed top-level node: an edit of 100 000 entries must
        not cost 100 000 paths (and a notification of megabytes) on the loop."""
        roots = self._diff_roots(other)
        changes: list[tuple[str, str]] = []
        try:
            try:
                for root in roots:
                    node = root
                    while node != ffi.NULL:
                        self._diff_walk(node, changes, limit)
                        node = node.next
            except _TooManyChanges:
                tops: dict[str, str] = {}  # changed subtrees of one top-level node name it once
                for root in roots:
                    node = root
                    while node != ffi.NULL:
                        op = _diff_op(node)
                        # "none": changed below (not an edit-operation-type of RFC 6470)
                        tops.setdefault(self.path_of(node), "replace" if op in (None, "none") else op)
                        node = node.next
                changes = list(tops.items())
        finally:
            for root in roots:
                lib.lyd_free_all(root)
        return changes

    def _diff_roots(self, other: Tree) -> list[CData]:
        """libyang's diff from this tree to ``other``, as lists of top-level
        diff nodes (the caller frees them). Of a copy of this tree (as it is
        now) only the subtrees the copy changed are compared."""
        touched = other._touched
        out = ffi.new("struct lyd_node **")
        if touched is None or other._origin != (self._serial, self._version):
            if lib.lyd_diff_siblings(self.first, other.first, 0, out) != lib.LY_SUCCESS:
                raise YangError(_drain(self.schema, self))
            return [] if out[0] == ffi.NULL else [out[0]]
        pairs: list[tuple[CData, CData, bool]] = []  # (old, new, with their following siblings)
        whole: set[int] = set()
        for key, regions in touched.items():
            found = None if regions is None else self._region_pairs(other, regions, out)
            if found is None:
                whole.add(key)
            else:
                pairs.extend((old, new, True) for old, new in found)
        if whole:
            # as lyd_diff_siblings goes: this tree's order, then the other's new nodes; a
            # default node counts as absent (and lyd_diff_tree, skipping it, would go on to its siblings)
            olds = {k: n for n in self.children()
                    if (k := int(ffi.cast("uintptr_t", n.schema))) in whole and not n.flags & lib.LYD_DEFAULT}
            news = {k: n for n in other.children()
                    if (k := int(ffi.cast("uintptr_t", n.schema))) in whole and not n.flags & lib.LYD_DEFAULT}
            for key in [*olds, *(k for k in news if k not in olds)]:
                pairs.append((olds.get(key, ffi.NULL), news.get(key, ffi.NULL), False))
        roots: list[CData] = []
        try:
            for old, new, siblings in pairs:
                diff = lib.lyd_diff_siblings if siblings else lib.lyd_diff_tree
                if diff(old, new, 0, out) != lib.LY_SUCCESS:
                    raise YangError(_drain(self.schema, self))
                if out[0] != ffi.NULL:
                    roots.append(out[0])
        except BaseException:
            for root in roots:
                lib.lyd_free_all(root)
            raise
        return roots

    def _region_pairs(self, other: Tree, regions: set[str], out: CData) -> list[tuple[CData, CData]] | None:
        """The children (but keys) of the nodes of this tree and of ``other``
        at the changed subtrees ``regions`` of one top-level node, none below
        another; None: compare the whole top-level node.

        lyd_diff_siblings of those children says what it says of the whole
        trees below such a node when the node is in both trees and explicit
        (a default node counts as absent: its parent then shows as created or
        deleted): else its parent is compared. The node itself then shows no
        change: it has no value, and an entry of a user-ordered list did not
        move (a move, or an entry created or deleted beside it, records its parent)."""
        found: dict[str, tuple[CData, CData]] = {}
        try:
            for path in regions:
                while True:
                    old, new = self._at(path, out), other._at(path, out)
                    if old == ffi.NULL and new == ffi.NULL:
                        # created and deleted again (or a path libyang cannot read back): the whole top-level node
                        return None
                    if old != ffi.NULL and new != ffi.NULL and not (old.flags | new.flags) & lib.LYD_DEFAULT:
                        found[path] = (_first_non_key(old), _first_non_key(new))
                        break
                    parent = ffi.cast("struct lyd_node *", (new if old == ffi.NULL else old).parent)
                    if parent == ffi.NULL:
                        return None
                    path = self.path_of(parent)
        finally:
            lib.ly_err_clean(self.schema.cdata, ffi.NULL)  # what a missing path left
        if len(found) == 1:
            return list(found.values())
        paths = sorted(found)
        return [found[p] for i, p in enumerate(paths) if not any(p.startswith(q + "/") for q in paths[:i])]

    def _at(self, path: str, out: CData) -> CData:
        """:meth:`find` with defaults, without its allocation (``out``: a
        ``struct lyd_node **``); NULL when absent."""
        if self.first == ffi.NULL or lib.lyd_find_path(self.first, path.encode(), 0, out) != lib.LY_SUCCESS:
            return ffi.NULL
        return out[0]

    def _diff_walk(self, node: CData, changes: list[tuple[str, str]], limit: int | None) -> None:
        op = _diff_op(node)
        if op is not None and op != "none":
            if limit is not None and len(changes) >= limit:
                raise _TooManyChanges
            changes.append((self.path_of(node), op))
            return
        child = _first_non_key(node)  # a key changes with its entry only
        while child != ffi.NULL:
            self._diff_walk(child, changes, limit)
            child = child.next

    def remove_paths(self, paths: list[str]) -> None:
        for path in paths:
            for node in self.xpath(path):
                self.delete(node)

    # NMDA views (RFC 8342, RFC 8526)

    def prune(self, keep: Callable[[CData], bool]) -> None:
        """Keep the nodes ``keep(node)`` says yes to, with their ancestors;
        list keys stay with their entries (config-filter, origin filters)."""

        def walk(node: CData) -> bool:  # does anything stay under or at node
            below = False
            for child in list(self.children(node)):
                if walk(child):
                    below = True
            if node.schema.flags & lib.LYS_KEY:
                return False  # stays with its entry, decides nothing
            if below or keep(node):
                return True
            self.delete(node)
            return False

        for top in list(self.children()):
            walk(top)

    def limit_depth(self, depth: int) -> None:
        """Drop the nodes more than ``depth`` levels down (top level is 1);
        list keys stay with their entries."""

        def walk(node: CData, level: int) -> None:
            for child in list(self.children(node)):
                if level >= depth and not child.schema.flags & lib.LYS_KEY:
                    self.delete(child)
                else:
                    walk(child, level + 1)

        for top in list(self.children()):
            walk(top, 1)

    def annotate_origin(self) -> None:
        """RFC 8342 ``origin`` metadata on the configuration of an operational
        tree: ``or:intended``, ``or:default`` for default nodes, set where a
        node's origin differs from its parent's (RFC 8527 3.2)."""
        self._changed()  # metadata: no diff tells it

        def walk(node: CData, parent_origin: str | None) -> None:
            origin = None
            if node.schema.flags & lib.LYS_CONFIG_W:
                origin = "default" if node.flags & lib.LYD_DEFAULT else "intended"
                if origin != parent_origin:
                    value = f"ietf-origin:{origin}".encode()
                    if lib.lyd_new_meta(self.schema.cdata, node, ffi.NULL, b"ietf-origin:origin", value, 0, ffi.NULL):
                        raise YangError(_drain(self.schema, self))
            for child in self.children(node):
                walk(child, origin)

        for top in self.children():
            walk(top, None)

    # printing

    def to_xml(self, with_defaults: str = "explicit") -> str:
        return self._print(lib.LYD_XML, WITH_DEFAULTS[with_defaults])

    def to_json(self, with_defaults: str = "explicit") -> str:
        return self._print(lib.LYD_JSON, WITH_DEFAULTS[with_defaults])

    def subtree_json(self, path: str, with_defaults: str = "explicit") -> str:
        """The node at ``path`` with everything below it, as RFC 7951 JSON
        ("{}" when absent): reading one top-level subtree costs what that
        subtree holds, not what the whole tree does."""
        node = self.find(path, include_defaults=True)
        if node is None:
            return "{}"
        return self._print(lib.LYD_JSON, WITH_DEFAULTS[with_defaults], node)

    def _print(self, fmt: int, wd: int, node: CData = None) -> str:
        if self.first == ffi.NULL:
            return "" if fmt == lib.LYD_XML else "{}"
        out = ffi.new("char **")
        flags = lib.LYD_PRINT_SHRINK | wd
        if node is None:
            node, flags = self.first, flags | lib.LYD_PRINT_WITHSIBLINGS
        ret = lib.lyd_print_mem(out, node, fmt, flags)
        if ret != lib.LY_SUCCESS:
            raise YangError(_drain(self.schema, self))
        try:
            return _s(out[0]) or ("" if fmt == lib.LYD_XML else "{}")
        finally:
            lib.free(out[0])
