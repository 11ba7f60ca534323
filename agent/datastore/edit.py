"""<edit-config> semantics (RFC 6241 7.2) applied to a data tree.

The edit arrives as XML elements; each is matched to its schema node here
(so unknown nodes, bad operations and missing keys get precise NETCONF
errors) and applied with :mod:`agent.yang` primitives to a scratch copy of
the target. Validation of the result as a whole is the caller's job: an edit
either yields a tree that validates or changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

from .. import modset
from ..netconf.errors import (
    TAG_TO_CLASS,
    BadAttribute,
    BadElement,
    DataExists,
    DataMissing,
    InvalidValue,
    MissingAttribute,
    MissingElement,
    OperationFailed,
    OperationNotSupported,
    RpcError,
    UnknownElement,
    UnknownNamespace,
)
from ..netconf.xmltree import NS_BASE, Element
from ..yang import Kind, Schema, SchemaNode, Tree, YangError, quote

OPERATIONS = ("merge", "replace", "create", "delete", "remove")
DEFAULT_OPERATIONS = ("merge", "replace", "none")
#: RFC 7950 7.8.6 / 7.7.9: the insert, key and value attributes
NS_YANG = "urn:ietf:params:xml:ns:yang:1"
INSERTS = ("first", "last", "before", "after")


class EditContext:
    def __init__(self, schema: Schema, tree: Tree) -> None:
        self.schema = schema
        self.tree = tree

    def error_path(self, path: str) -> tuple[str, dict[str, str]]:
        return self.schema.xml_path(path)


def apply_edit(schema: Schema, tree: Tree, config: Element, default_operation: str = "merge") -> None:
    """Apply the children of ``<config>`` to ``tree`` in place.

    Raises :class:`RpcError` at the first problem; the caller discards the tree."""
    if default_operation not in DEFAULT_OPERATIONS:
        raise InvalidValue(f"default-operation {default_operation!r} is not merge, replace or none", type="protocol")
    ctx = EditContext(schema, tree)
    if default_operation == "replace":
        # The whole datastore is replaced by <config> (RFC 6241 7.2).
        for node in list(tree.children()):
            tree.delete(node)
        default_operation = "merge"
    for el in config.children:
        snode = schema.top_node(el.ns, el.name)
        _apply(ctx, "", None, snode, el, default_operation, None)
    # an edit that removed many nodes leaves libyang's tables sized for them
    tree.compact()


def _fail(ctx: EditContext, cls: type[RpcError], message: str, path: str | None, **kw: Any) -> RpcError:
    if path:
        xpath, nsmap = ctx.error_path(path)
        return cls(message, path=xpath, path_namespaces=nsmap, **kw)
    return cls(message, **kw)


def _step(parent: SchemaNode | None, snode: SchemaNode) -> str:
    if parent is None or parent.module != snode.module:
        return f"{snode.module}:{snode.name}"
    return snode.name


def _value(ctx: EditContext, snode: SchemaNode, el: Element, path: str) -> str | None:
    if el.children:
        raise _fail(ctx, BadElement, f"{snode.name} is a {snode.kind} and cannot hold elements", path, info={"bad-element": snode.name})
    if snode.is_empty_type:
        return None
    text = el.text
    if snode.value_has_prefixes(ctx.schema.xpath_plugin):
        text = _json_prefixes(ctx, el, text, path)
    return text


def _json_prefixes(ctx: EditContext, el: Element, text: str, path: str) -> str:
    """XML values name identities and schema nodes with namespace prefixes;
    libyang takes the JSON form (RFC 7951 6.8, 6.11): module names, and in a
    path only where the module changes."""

    def module_of(prefix: str) -> str | None:
        ns = el.namespace_for(prefix)
        if ns is None:
            return None
        module = ctx.schema.module_for_namespace(ns)
        if module is None:
            raise _fail(ctx, UnknownNamespace, f"namespace {ns} is not implemented here", path, info={"bad-namespace": ns})
        return module

    value = text.strip()
    if not value.startswith("/"):  # an identity: prefix:name
        prefix, sep, rest = value.partition(":")
        module = module_of(prefix) if sep else None
        return f"{module}:{rest}" if module else value
    out = []
    current = None  # module of the step we are in
    in_predicate = False
    i = 0
    for m in _TOKEN.finditer(value):
        out.append(value[i : m.start()])
        i = m.end()
        token = m.group(0)
        if token[0] in "'\"":
            out.append(token)
            continue
        if token == "[":
            in_predicate = True
        elif token == "]":
            in_predicate = False
        if token in "[]":
            out.append(token)
            continue
        prefix, name = m.group("prefix"), m.group("name")
        module = module_of(prefix) if prefix else None
        if module is None and prefix:
            out.append(token)  # not a namespace prefix we know: leave it to libyang
            continue
        if not in_predicate and out and out[-1].endswith("/"):
            if module is not None and module != current:
                out.append(f"{module}:{name}")
            else:
                out.append(name)
            current = module or current
        else:  # a key or expression name inside a predicate
            out.append(name if module in (None, current) else f"{module}:{name}")
    out.append(value[i:])
    return "".join(out)


_TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|\[|\]|(?:(?P<prefix>[A-Za-z_][\w.-]*):)?(?P<name>[A-Za-z_][\w.-]*|\*)")


def _apply(
    ctx: EditContext,
    parent_path: str,
    parent: SchemaNode | None,
    snode: SchemaNode | None,
    el: Element,
    inherited: str,
    below: Any,
) -> None:
    """``below``: the data node of ``parent`` when known (libyang is then
    given paths relative to it, which it parses and walks in a fraction of
    the time); None: absolute paths (``parent_path``)."""
    if snode is None:
        if ctx.schema.module_for_namespace(el.ns) is None:
            raise _fail(
                ctx, UnknownNamespace, f"unknown namespace {el.ns!r} on <{el.name}>", parent_path or None,
                info={"bad-element": el.name, "bad-namespace": el.ns},
            )
        message = _unsupported(ctx, parent, el) or f"unknown element <{el.name}>"
        raise _fail(ctx, UnknownElement, message, parent_path or None, info={"bad-element": el.name})
    if not snode.config:
        raise _fail(ctx, UnknownElement, f"<{el.name}> is state data, not configuration", parent_path or None, info={"bad-element": el.name})

    op = el.attr("operation", NS_BASE)
    if op is None:
        op = inherited
    elif op not in OPERATIONS:
        raise _fail(ctx, BadAttribute, f"operation {op!r} is not one of {', '.join(OPERATIONS)}", parent_path or None,
                    info={"bad-attribute": "operation", "bad-element": el.name})

    step = _step(parent, snode)
    tree = ctx.tree
    insert = _insert_attr(ctx, snode, el, op, parent_path)

    if snode.kind in (Kind.LEAF, Kind.LEAFLIST):
        if snode.kind == Kind.LEAF:
            path = f"{parent_path}/{step}"
            value = None if op in ("delete", "remove") and not el.text.strip() else _value(ctx, snode, el, path)
        else:
            value = _value(ctx, snode, el, f"{parent_path}/{step}")
            path = f"{parent_path}/{step}[.={quote(value or '')}]"
        rel = path[len(parent_path) + 1:]
        if op in ("merge", "replace"):
            # sets the value whether or not the node is there: no lookup first
            _create(ctx, path, value if snode.kind == Kind.LEAF else None, below, rel)
            if insert:
                _insert(ctx, snode, el, insert, parent_path, step, path, below, rel)
            return
        existing, done = _delete_or_check(ctx, snode, path, op, below, rel)
        if done:
            return
        if op == "none":
            if existing is None:
                raise _fail(ctx, DataMissing, f"{snode.name} does not exist (default-operation none)", path)
            return
        _create(ctx, path, value if snode.kind == Kind.LEAF else None)
        if insert:
            _insert(ctx, snode, el, insert, parent_path, step, path, below, rel)
        return

    if snode.kind == Kind.ANY:
        raise _fail(ctx, OperationNotSupported, f"editing anydata/anyxml <{el.name}> is not supported", parent_path or None)
    if snode.kind not in (Kind.CONTAINER, Kind.LIST):
        raise _fail(ctx, UnknownElement, f"<{el.name}> cannot be configured", parent_path or None, info={"bad-element": el.name})

    path = f"{parent_path}/{step}"
    key_els: set[int] = set()
    if snode.kind == Kind.LIST:
        preds = []
        for key in snode.keys:
            kel = el.find(key)
            if kel is None:
                raise _fail(ctx, MissingElement, f"list entry <{el.name}> lacks its key <{key}>", parent_path or None,
                            info={"bad-element": key})
            kschema = ctx.schema.child_node(snode, kel.ns, key)
            kval = _value(ctx, kschema, kel, path) if kschema is not None else kel.text
            preds.append(f"[{key}={quote(kval or '')}]")
            key_els.add(id(kel))
        path += "".join(preds)
    rel = path[len(parent_path) + 1:]

    existing, done = _delete_or_check(ctx, snode, path, op, below, rel)
    if done:
        return
    node = existing
    if op == "none":
        if existing is None and not (snode.kind == Kind.CONTAINER and not snode.presence):
            raise _fail(ctx, DataMissing, f"{snode.name} does not exist (default-operation none)", path)
    elif op == "replace" and existing is not None and snode.kind == Kind.LIST and snode.user_ordered:
        # emptied rather than created anew: a replaced entry keeps its place
        for child in list(tree.children(existing)):
            if not tree.is_key(child):
                tree.delete(child)
    elif op == "replace" or existing is None:
        if existing is not None:
            tree.delete(existing)
        _create(ctx, path, None, below, rel)
        node = tree.find(path, include_defaults=True) if below is None else tree.find(rel, True, below)
    if insert and op != "none":
        _insert(ctx, snode, el, insert, parent_path, step, path, below, rel)

    child_op = "merge" if op in ("create", "replace") else op
    for child in el.children:
        if id(child) in key_els:
            if child.attr("operation", NS_BASE) in ("delete", "remove", "replace", "create"):
                raise _fail(ctx, BadAttribute, f"key <{child.name}> cannot carry an operation", path,
                            info={"bad-attribute": "operation", "bad-element": child.name})
            continue
        csnode = ctx.schema.child_node(snode, child.ns, child.name)
        _apply(ctx, path, snode, csnode, child, child_op, node)


def _unsupported(ctx: EditContext, parent: SchemaNode | None, el: Element) -> str | None:
    """Why a node of a standard module is left out of this agent, if it is on purpose."""
    if parent is None:
        return None
    module = ctx.schema.module_for_namespace(el.ns)
    step = el.name if module == parent.module else f"{module}:{el.name}"
    return modset.UNSUPPORTED_NODES.get(f"{parent.data_path}/{step}")


def _delete_or_check(ctx: EditContext, snode: SchemaNode, path: str, op: str, below: Any, rel: str) -> tuple[Any, bool]:
    """What delete, remove and create share for every kind of node: returns
    the existing node and whether the operation is already done."""
    existing = ctx.tree.find(path) if below is None else ctx.tree.find(rel, below=below)
    if op in ("delete", "remove"):
        if existing is not None:
            ctx.tree.delete(existing)
        elif op == "delete":
            raise _fail(ctx, DataMissing, f"cannot delete {snode.name}: it does not exist", path)
        return None, True
    if op == "create" and existing is not None:
        raise _fail(ctx, DataExists, f"cannot create {snode.name}: it already exists", path)
    return existing, False


def _create(ctx: EditContext, path: str, value: str | None, below: Any = None, rel: str = "") -> None:
    if below is not None:
        try:
            ctx.tree.create(rel, value, below)
            return
        except YangError:
            pass  # again with the absolute path: the error then names the node as it always did
    try:
        ctx.tree.create(path, value)
    except YangError as exc:
        issue = exc.issues[0]
        cls = TAG_TO_CLASS.get(issue.tag, OperationFailed)
        raise _fail(ctx, cls, issue.message, issue.path or path, app_tag=issue.app_tag) from None


def _insert_attr(ctx: EditContext, snode: SchemaNode, el: Element, op: str, parent_path: str) -> str | None:
    """The checked yang:insert attribute of ``el`` (RFC 7950 7.8.6, 7.7.9),
    None when absent or when the operation deletes the entry."""
    insert = el.attr("insert", NS_YANG)
    if insert is None:
        return None
    info = {"bad-attribute": "insert", "bad-element": el.name}
    if snode.kind not in (Kind.LIST, Kind.LEAFLIST) or not snode.user_ordered:
        raise _fail(ctx, BadAttribute, f"insert is only allowed on an ordered-by user list or leaf-list, not on <{el.name}>",
                    parent_path or None, info=info)
    if insert not in INSERTS:
        raise _fail(ctx, BadAttribute, f"insert {insert!r} is not one of {', '.join(INSERTS)}", parent_path or None, info=info)
    if insert in ("before", "after"):
        ref = "key" if snode.kind == Kind.LIST else "value"
        if el.attr(ref, NS_YANG) is None:
            raise _fail(ctx, MissingAttribute, f"insert {insert!r} needs the {ref} attribute", parent_path or None,
                        info={"bad-attribute": ref, "bad-element": el.name})
    return None if op in ("delete", "remove") else insert


_KEY_PREDICATE = re.compile(r"""\s*\[\s*(?:[A-Za-z_][\w.-]*:)?(?P<name>[A-Za-z_][\w.-]*)\s*=\s*(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)")\s*\]""")


def _insert(ctx: EditContext, snode: SchemaNode, el: Element, insert: str, parent_path: str, step: str,
            path: str, below: Any, rel: str) -> None:
    """Move the entry just created or merged at ``path`` where yang:insert says."""
    tree = ctx.tree
    node = tree.find(path) if below is None else tree.find(rel, below=below)
    if node is None:
        return
    instances = tree.instances(node)
    if insert == "first":
        target = instances[0]
    elif insert == "last":
        target = None
    else:
        ref = _reference(ctx, snode, el, parent_path, step, below)
        if ref == node:
            return
        if insert == "before":
            target = ref
        else:
            after = [c for c in instances if c != node]
            i = after.index(ref) + 1
            target = after[i] if i < len(after) else None
    if target == node:
        return
    try:
        tree.place(node, target)
    except YangError as exc:  # a top-level entry
        raise _fail(ctx, OperationNotSupported, exc.issues[0].message, path) from None


def _reference(ctx: EditContext, snode: SchemaNode, el: Element, parent_path: str, step: str, below: Any) -> Any:
    """The entry the key (list) or value (leaf-list) attribute names."""
    tree = ctx.tree
    if snode.kind == Kind.LIST:
        attr = "key"
        text = el.attr("key", NS_YANG) or ""
        given: dict[str, str] = {}
        pos = 0
        for m in _KEY_PREDICATE.finditer(text):
            if m.start() != pos:
                break
            given[m.group("name")] = m.group("sq") if m.group("sq") is not None else m.group("dq")
            pos = m.end()
        if text[pos:].strip() or set(given) != set(snode.keys):
            raise _fail(ctx, BadAttribute, f"key {text!r} does not give the keys {', '.join(snode.keys)} of <{el.name}>",
                        parent_path or None, info={"bad-attribute": "key", "bad-element": el.name})
        try:
            rel = step + "".join(f"[{k}={quote(given[k])}]" for k in snode.keys)
        except YangError as exc:
            raise _fail(ctx, BadAttribute, exc.issues[0].message, parent_path or None,
                        info={"bad-attribute": "key", "bad-element": el.name}) from None
    else:
        attr = "value"
        text = el.attr("value", NS_YANG) or ""
        if snode.value_has_prefixes(ctx.schema.xpath_plugin):
            text = _json_prefixes(ctx, el, text, parent_path)
        try:
            rel = f"{step}[.={quote(text)}]"
        except YangError as exc:
            raise _fail(ctx, BadAttribute, exc.issues[0].message, parent_path or None,
                        info={"bad-attribute": "value", "bad-element": el.name}) from None
    ref = tree.find(f"{parent_path}/{rel}") if below is None else tree.find(rel, below=below)
    if ref is None:
        # RFC 7950 15.7
        raise _fail(ctx, BadAttribute, f"the {attr} {text!r} names no existing <{el.name}>", parent_path or None,
                    app_tag="missing-instance", info={"bad-attribute": attr, "bad-element": el.name})
    return ref
