"""Data trees: :class:`Tree` owns a libyang data tree and frees it on
:meth:`Tree.free` or at the end of a ``with`` block."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING

from .bindings import CData, _s, _str, _union_member_type, ffi, lib
from .errors import _drain
from .issue import Issue, YangError
from .nodes import LeafType, SchemaNode, _leaf_type

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


def _diff_op(schema: Schema, node: CData) -> str | None:
    """The yang:operation a lyd_diff node carries, if any."""
    meta = node.meta
    while meta != ffi.NULL:
        if _s(meta.name) == "operation":
            return _s(lib.lyd_value_get_canonical(schema.cdata, ffi.addressof(meta.value)))
        meta = meta.next
    return None

#: deletions after which :meth:`Tree.compact` rebuilds the tree
COMPACT_AFTER = 4096


class Tree:
    """A data tree (a list of top-level siblings) owned by this object.

    Free it when done, with :meth:`free` or by using the tree as a context
    manager (``with schema.parse(...) as tree:``); trees are not garbage
    collected because libyang nodes cannot be tracked by Python's allocator."""

    __slots__ = ("schema", "first", "deleted")

    def __init__(self, schema: Schema, first: CData, deleted: int = 0) -> None:
        self.schema = schema
        self.first = first
        #: nodes deleted from this tree and the trees it was duplicated from
        #: since the last :meth:`compact`
        self.deleted = deleted

    # lifecycle

    def free(self) -> None:
        if self.first != ffi.NULL:
            lib.lyd_free_all(self.first)
            self.first = ffi.NULL

    def __enter__(self) -> Tree:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.free()

    def duplicate(self) -> Tree:
        if self.first == ffi.NULL:
            return Tree(self.schema, ffi.NULL)
        out = ffi.new("struct lyd_node **")
        ret = lib.lyd_dup_siblings(self.first, ffi.NULL, lib.LYD_DUP_RECURSIVE | lib.LYD_DUP_WITH_FLAGS, out)
        if ret != lib.LY_SUCCESS:
            raise YangError(_drain(self.schema, self))
        return Tree(self.schema, out[0], self.deleted)

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
        if ret != lib.LY_SUCCESS:
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
        instances = self.instances(node)
        order = [c for c in instances if c != node]
        order.insert(len(order) if before is None else order.index(before), node)
        first = next((i for i, (a, b) in enumerate(zip(instances, order, strict=True)) if a != b), len(order))
        for moved in order[first:]:
            if lib.lyd_insert_child(parent, moved) != lib.LY_SUCCESS:
                raise YangError(_drain(self.schema, self))

    def delete(self, node: CData) -> None:
        self.deleted += 1
        if node == self.first:
            nxt = node.next
            lib.lyd_free_tree(node)
            self.first = nxt if nxt != ffi.NULL else ffi.NULL
            self._refirst()
        else:
            lib.lyd_free_tree(node)

    def validate(self) -> None:
        """Validate as a whole configuration datastore; adds default nodes."""
        p = ffi.new("struct lyd_node **", self.first)
        ret = lib.lyd_validate_all(p, self.schema.cdata, lib.LYD_VALIDATE_NO_STATE, ffi.NULL)
        self.first = p[0]
        if ret != lib.LY_SUCCESS:
            raise YangError(_drain(self.schema, self))
        self._refirst()

    def merge(self, other: Tree) -> None:
        """Move ``other``'s nodes into this tree (``other`` ends empty)."""
        if other.first == ffi.NULL:
            return
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
        out = ffi.new("struct lyd_node **")
        ret = lib.lyd_diff_siblings(self.first, other.first, 0, out)
        if ret != lib.LY_SUCCESS:
            raise YangError(_drain(self.schema, self))
        changes: list[tuple[str, str]] = []
        try:
            node = out[0]
            try:
                while node != ffi.NULL:
                    self._diff_walk(node, changes, limit)
                    node = node.next
            except _TooManyChanges:
                changes = []
                node = out[0]
                while node != ffi.NULL:
                    changes.append((self.path_of(node), _diff_op(self.schema, node) or "replace"))
                    node = node.next
        finally:
            if out[0] != ffi.NULL:
                lib.lyd_free_all(out[0])
        return changes

    def _diff_walk(self, node: CData, changes: list[tuple[str, str]], limit: int | None) -> None:
        op = _diff_op(self.schema, node)
        if op in ("create", "delete", "replace"):
            if limit is not None and len(changes) >= limit:
                raise _TooManyChanges
            changes.append((self.path_of(node), op))
            return
        child = lib.lyd_child(node)
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
