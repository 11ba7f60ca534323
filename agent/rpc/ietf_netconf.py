"""The RFC 6241 operations: base, :candidate, :confirmed-commit:1.1,
:startup, :validate:1.1, :rollback-on-error, with-defaults (RFC 6243)."""

from __future__ import annotations

from typing import Literal, overload

from ..datastore.edit import apply_edit
from ..datastore.store import CANDIDATE, DATASTORES, DEFAULT_CONFIRM_TIMEOUT, RUNNING, STARTUP, ChangedBy
from ..datastore.view import copy_to_read, filter_type, filter_xpaths, print_in_place, readable, state_selection
from ..netconf.errors import (
    BadElement,
    InvalidValue,
    MissingElement,
    OperationNotSupported,
)
from ..netconf.xmltree import NS_BASE, Element
from ..yang import Tree
from . import RpcContext, handler

NS_WITH_DEFAULTS = "urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults"


def changed_by(ctx: RpcContext) -> ChangedBy:
    s = ctx.session
    return ChangedBy(s.id, s.username, s.source_host)


@overload
def _datastore(op: Element, param: str, allow_config: Literal[False] = False,
               allowed: tuple[str, ...] = DATASTORES) -> str: ...
@overload
def _datastore(op: Element, param: str, allow_config: bool, allowed: tuple[str, ...] = DATASTORES) -> str | Element: ...
def _datastore(op: Element, param: str, allow_config: bool = False, allowed: tuple[str, ...] = DATASTORES) -> str | Element:
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
    if choice.name not in allowed:
        raise InvalidValue(f"<{op.name}> cannot use the {choice.name} datastore as <{param}>", type="protocol",
                           info={"bad-element": choice.name})
    return choice.name


def _with_defaults(op: Element) -> str:
    el = op.find("with-defaults", NS_WITH_DEFAULTS)
    if el is None:
        return "explicit"
    mode = el.text.strip()
    if mode not in ("explicit", "trim", "report-all", "report-all-tagged"):
        raise InvalidValue(f"with-defaults mode {mode!r} is not supported", info={"bad-element": "with-defaults"})
    return mode


def _render(ctx: RpcContext, tree: Tree, mode: str, xpaths: list[str] | None) -> str:
    """``tree`` (consumed) as the user may read it, filtered, printed as XML.
    It touches only ``tree``, a copy: it may run in a worker thread."""
    with readable(ctx.server.schema, ctx.server.nacm, ctx.session.username, tree, xpaths) as out:
        return out.to_xml(mode)


@handler(NS_BASE, "get-config")
async def get_config(ctx: RpcContext, op: Element) -> str:
    source = _datastore(op, "source")
    mode = _with_defaults(op)
    xpaths = filter_xpaths(ctx.server.schema, op)
    if xpaths == []:
        return "<data></data>"  # an empty filter selects nothing: no walk at all
    ds = ctx.server.datastore
    # a manager polling an unchanged datastore: the reply printed last time
    key = (source, ctx.session.username, mode, None if xpaths is None else tuple(xpaths))
    policy, generation = ctx.server.nacm.policy, ds.reads.generation
    text = ds.reads.get(key, policy)
    if text is None:
        text = f"<data>{await _read_config(ctx, ds.get(source), op, mode, xpaths)}</data>"
        ds.reads.put(key, policy, generation, text)
    return text


async def _read_config(ctx: RpcContext, source: Tree, op: Element, mode: str, xpaths: list[str] | None) -> str:
    """``source`` as the user may read it, filtered, printed: a small
    datastore read with a subtree filter straight from the datastore where
    that answers the same (the usual poll of one subtree: no copy of the
    whole datastore), otherwise from a copy (of only the subtrees the
    filter names, where that answers the same), in a worker thread when large."""
    server = ctx.server
    subtree = xpaths is not None and filter_type(op) == "subtree"
    if subtree and xpaths is not None and not (ctx.large or server.datastore.large):
        text = print_in_place(server.schema, server.nacm, ctx.session.username, source, xpaths, mode)
        if text is not None:
            return text
    tree = copy_to_read(server.nacm, ctx.session.username, source, xpaths, subtree)
    return await ctx.offload(_render, ctx, tree, mode, xpaths)


@handler(NS_BASE, "get")
async def get(ctx: RpcContext, op: Element) -> str:
    mode = _with_defaults(op)
    xpaths = filter_xpaths(ctx.server.schema, op)
    if xpaths == []:
        return "<data></data>"
    state = await ctx.server.state(state_selection(op, xpaths))
    # a subtree filter looks only inside the top-level nodes it names: state
    # merged elsewhere is neither selected nor tested, nor changes NACM there
    combined = copy_to_read(ctx.server.nacm, ctx.session.username, ctx.server.datastore.running, xpaths,
                            filter_type(op) == "subtree")
    combined.merge(state)
    return f"<data>{await ctx.offload(_render, ctx, combined, mode, xpaths)}</data>"


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
    target = _datastore(op, "target", allowed=(RUNNING, CANDIDATE))
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
    await edit_target(ctx, target, config, default_op, test_only=test_option == "test-only")
    return None


async def edit_target(ctx: RpcContext, target: str, config: Element, default_op: str, *, test_only: bool = False) -> None:
    """Apply an edit (<config> with nc:operation attributes) to a
    conventional datastore, all or nothing: <edit-config>, <edit-data>."""
    ds = ctx.server.datastore
    ds.check_writable(target, ctx.session.id)
    async with ds.write_lock:
        new = ds.get(target).duplicate()
        try:
            # off the event loop when large: an edit of many entries takes seconds (``new`` is ours alone)
            await ctx.offload(apply_edit, ctx.server.schema, new, config, default_op)
            if test_only:
                await ctx.offload(ds.validate, new)
                new.free()
                return None
        except BaseException:
            new.free()
            raise
        # "set" still validates running: an invalid configuration is never applied.
        await _write(ctx, target, new)
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
    if source == target:
        return None
    async with ds.write_lock:
        new = ds.get(source).duplicate() if isinstance(source, str) else await ctx.offload(_config_tree, ctx, source)
        await _write(ctx, target, new)
    return None


@handler(NS_BASE, "delete-config")
async def delete_config(ctx: RpcContext, op: Element) -> None:
    ds = ctx.server.datastore
    target = _datastore(op, "target", allowed=(STARTUP,))
    ds.check_writable(target, ctx.session.id)
    async with ds.write_lock:
        await _write(ctx, target, ctx.server.schema.empty())
    return None


@handler(NS_BASE, "validate")
async def validate(ctx: RpcContext, op: Element) -> None:
    source = _datastore(op, "source", allow_config=True)
    if isinstance(source, str):
        tree = ctx.server.datastore.get(source).duplicate()
    else:
        tree = await ctx.offload(_config_tree, ctx, source)
    with tree:
        await ctx.offload(ctx.server.datastore.validate, tree)
    return None


@handler(NS_BASE, "commit")
async def commit(ctx: RpcContext, op: Element) -> None:
    ds = ctx.server.datastore
    ds.check_writable(RUNNING, ctx.session.id)
    confirmed = op.find("confirmed", NS_BASE) is not None
    timeout = DEFAULT_CONFIRM_TIMEOUT
    el = op.find("confirm-timeout", NS_BASE)
    if el is not None:
        try:
            timeout = int(el.text.strip())
        except ValueError:
            timeout = 0
        if not 1 <= timeout <= 4294967295:
            raise InvalidValue("confirm-timeout must be 1..4294967295 seconds", info={"bad-element": "confirm-timeout"})
    persist = _text(op, "persist")
    persist_id = _text(op, "persist-id")
    async with ds.write_lock:
        ctx.server.nacm.check_write(ctx.session.username, ds.running, ds.candidate)
        await ds.commit(ctx.session.id, changed_by(ctx), confirmed=confirmed, timeout=timeout, persist=persist,
                        persist_id=persist_id)
    return None


@handler(NS_BASE, "cancel-commit")
async def cancel_commit(ctx: RpcContext, op: Element) -> None:
    await ctx.server.datastore.cancel_commit(ctx.session.id, _text(op, "persist-id"))
    return None


@handler(NS_BASE, "discard-changes")
async def discard_changes(ctx: RpcContext, op: Element) -> None:
    ds = ctx.server.datastore
    ds.check_writable(CANDIDATE, ctx.session.id)
    async with ds.write_lock:
        ds.discard_candidate()
    return None


async def _write(ctx: RpcContext, target: str, new: Tree) -> None:
    """NACM, then the datastore; ``new`` is consumed either way."""
    try:
        ctx.server.nacm.check_write(ctx.session.username, ctx.server.datastore.get(target), new)
    except BaseException:
        new.free()
        raise
    await ctx.server.datastore.replace(target, new, changed_by(ctx), offload=ctx.large)


def _text(op: Element, name: str) -> str | None:
    el = op.find(name, NS_BASE)
    return None if el is None else el.text.strip()


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
    ctx.server.end_session(victim, f"killed by session {ctx.session.id}", "killed", killed_by=ctx.session.id)
    victim.close_transport()
    return None
