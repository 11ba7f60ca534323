"""The RFC 6241 base operations on the running datastore."""

from __future__ import annotations

from ..datastore.edit import apply_edit
from ..datastore.filter import subtree_to_xpaths
from ..datastore.store import RUNNING
from ..netconf.errors import (
    BadElement,
    InvalidValue,
    MissingElement,
    OperationFailed,
    OperationNotSupported,
)
from ..netconf.xmltree import NS_BASE, Element
from ..yang import Tree
from . import RpcContext, handler

NS_WITH_DEFAULTS = "urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults"
DATASTORES = ("running", "candidate", "startup")


def _datastore(op: Element, param: str, allow_config: bool = False) -> str | Element:
    """The datastore named by <target>/<source>, or the inline <config> element."""
    el = op.find(param, NS_BASE)
    if el is None or not el.children:
        raise MissingElement(f"<{op.name}> needs <{param}>", info={"bad-element": param})
    choice = el.children[0]
    if choice.ns == NS_BASE and choice.name == "config" and allow_config:
        return choice
    if choice.ns == NS_BASE and choice.name == "url":
        raise OperationNotSupported("the :url capability is not supported", info={"bad-element": "url"})
    if choice.ns != NS_BASE or choice.name not in DATASTORES:
        raise BadElement(f"<{param}> names an unknown datastore <{choice.name}>", info={"bad-element": choice.name})
    if choice.name != RUNNING:
        raise OperationNotSupported(f"the {choice.name} datastore is not supported", info={"bad-element": choice.name})
    return choice.name


def _with_defaults(op: Element) -> str:
    el = op.find("with-defaults", NS_WITH_DEFAULTS)
    if el is None:
        return "explicit"
    mode = el.text.strip()
    if mode not in ("explicit", "trim", "report-all", "report-all-tagged"):
        raise InvalidValue(f"with-defaults mode {mode!r} is not supported", info={"bad-element": "with-defaults"})
    return mode


def _render(ctx: RpcContext, source: Tree, op: Element, owned: bool) -> str:
    """Filter, strip what nobody may read, and print ``source`` as XML."""
    schema = ctx.server.schema
    filter_el = op.find("filter", NS_BASE)
    mode = _with_defaults(op)
    try:
        if filter_el is not None:
            ftype = filter_el.attr("type") or "subtree"
            if ftype != "subtree":
                raise OperationNotSupported(f"filter type {ftype!r} is not supported", type="protocol",
                                            info={"bad-attribute": "type", "bad-element": "filter"})
            if not filter_el.children:
                return ""  # an empty filter selects nothing: no walk at all
            selected = source.select(subtree_to_xpaths(schema, filter_el))
        else:
            selected = source if owned else source.duplicate()
            owned = False  # now owned by ``selected``
        try:
            selected.remove_paths(schema.deny_all_paths())
            return selected.to_xml(mode)
        finally:
            selected.free()
    finally:
        if owned:
            source.free()


@handler(NS_BASE, "get-config")
async def get_config(ctx: RpcContext, op: Element) -> str:
    _datastore(op, "source")
    return f"<data>{_render(ctx, ctx.server.datastore.running, op, owned=False)}</data>"


@handler(NS_BASE, "get")
async def get(ctx: RpcContext, op: Element) -> str:
    filter_el = op.find("filter", NS_BASE)
    if filter_el is not None and not filter_el.children:
        _with_defaults(op)
        return "<data></data>"
    combined = ctx.server.datastore.running.duplicate()
    combined.merge(ctx.server.state())
    return f"<data>{_render(ctx, combined, op, owned=True)}</data>"


def _config_tree(ctx: RpcContext, config: Element) -> Tree:
    tree = ctx.server.schema.empty()
    try:
        apply_edit(ctx.server.schema, tree, config, "merge")
    except BaseException:
        tree.free()
        raise
    return tree


@handler(NS_BASE, "edit-config")
async def edit_config(ctx: RpcContext, op: Element) -> None:
    ds = ctx.server.datastore
    target = _datastore(op, "target")
    ds.check_writable(target, ctx.session.id)
    default_op = _leaf(op, "default-operation", "merge", ("merge", "replace", "none"))
    test_option = _leaf(op, "test-option", "test-then-set", ("test-then-set", "set", "test-only"))
    # Every edit is all-or-nothing: a box out of reach must never be left
    # half-configured, so continue-on-error behaves like rollback-on-error.
    _leaf(op, "error-option", "stop-on-error", ("stop-on-error", "continue-on-error", "rollback-on-error"))
    config = op.find("config", NS_BASE)
    if config is None:
        if op.find("url", NS_BASE) is not None:
            raise OperationNotSupported("the :url capability is not supported", info={"bad-element": "url"})
        raise MissingElement("<edit-config> needs <config>", info={"bad-element": "config"})
    new = ds.running.duplicate()
    try:
        apply_edit(ctx.server.schema, new, config, default_op)
        if test_option == "test-only":
            ds.validate(new)
            new.free()
            return None
    except BaseException:
        new.free()
        raise
    # "set" still validates: an invalid configuration is never stored.
    ds.commit(new)
    return None


def _leaf(op: Element, name: str, default: str, allowed: tuple[str, ...]) -> str:
    el = op.find(name, NS_BASE)
    if el is None:
        return default
    value = el.text.strip()
    if value not in allowed:
        raise InvalidValue(f"<{name}> must be one of {', '.join(allowed)}, not {value!r}", type="protocol",
                           info={"bad-element": name})
    return value


@handler(NS_BASE, "copy-config")
async def copy_config(ctx: RpcContext, op: Element) -> None:
    ds = ctx.server.datastore
    target = _datastore(op, "target")
    source = _datastore(op, "source", allow_config=True)
    ds.check_writable(target, ctx.session.id)
    if isinstance(source, str):
        return None  # running onto running: nothing to copy
    ds.commit(_config_tree(ctx, source))
    return None


@handler(NS_BASE, "delete-config")
async def delete_config(ctx: RpcContext, op: Element) -> None:
    target = _datastore(op, "target")
    raise OperationFailed(f"the {target} datastore cannot be deleted (RFC 6241 7.4)", type="protocol")


@handler(NS_BASE, "validate")
async def validate(ctx: RpcContext, op: Element) -> None:
    source = _datastore(op, "source", allow_config=True)
    if isinstance(source, str):
        return None  # running is valid by construction
    tree = _config_tree(ctx, source)
    try:
        ctx.server.datastore.validate(tree)
    finally:
        tree.free()
    return None


@handler(NS_BASE, "lock")
async def lock(ctx: RpcContext, op: Element) -> None:
    ctx.server.datastore.lock(_datastore(op, "target"), ctx.session.id)


@handler(NS_BASE, "unlock")
async def unlock(ctx: RpcContext, op: Element) -> None:
    ctx.server.datastore.unlock(_datastore(op, "target"), ctx.session.id)


@handler(NS_BASE, "close-session")
async def close_session(ctx: RpcContext, op: Element) -> None:
    ctx.close_after_reply = True


@handler(NS_BASE, "kill-session")
async def kill_session(ctx: RpcContext, op: Element) -> None:
    el = op.find("session-id", NS_BASE)
    if el is None:
        raise MissingElement("<kill-session> needs <session-id>", info={"bad-element": "session-id"})
    try:
        sid = int(el.text.strip())
    except ValueError:
        raise InvalidValue(f"session-id {el.text.strip()!r} is not a number", info={"bad-element": "session-id"}) from None
    if sid == ctx.session.id:
        raise InvalidValue("a session cannot kill itself; use <close-session>", info={"bad-element": "session-id"})
    victim = ctx.server.sessions.get(sid)
    if victim is None:
        raise InvalidValue(f"no session {sid}", info={"bad-element": "session-id"})
    ctx.server.end_session(victim, f"killed by session {ctx.session.id}")
    victim.close_transport()
    return None
