"""RFC 8526 NMDA operations: <get-data> on running, candidate, startup and
operational (RFC 8342), <edit-data> on running and candidate.

Reads go through the one read pipeline (agent/datastore/view.py): NACM
pruning and secret removal before any filter selects; the NMDA views
(config-filter, max-depth, origin) are applied to what remains.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..datastore import xpath
from ..datastore.filter import subtree_to_xpaths
from ..datastore.store import CANDIDATE, RUNNING
from ..datastore.view import copy_to_read, print_in_place, readable, select_in_place
from ..netconf.errors import InvalidValue, MissingElement, OperationNotSupported
from ..netconf.xmltree import Element
from ..yang import Tree
from . import RpcContext, handler
from .ietf_netconf import edit_target

NS_NMDA = "urn:ietf:params:xml:ns:yang:ietf-netconf-nmda"
NS_DATASTORES = "urn:ietf:params:xml:ns:yang:ietf-datastores"
NS_WITH_DEFAULTS = "urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults"
NS_ORIGIN = "urn:ietf:params:xml:ns:yang:ietf-origin"
#: ietf-origin identities; "origin" is their base
ORIGINS = ("origin", "intended", "dynamic", "system", "learned", "default", "unknown")
OPERATIONAL = "operational"
CONVENTIONAL = ("running", "candidate", "startup")


def _datastore(op: Element, allowed: tuple[str, ...]) -> str:
    el = op.find("datastore", NS_NMDA)
    if el is None:
        raise MissingElement(f"<{op.name}> needs <datastore>", info={"bad-element": "datastore"})
    text = el.text.strip()
    prefix, colon, name = text.rpartition(":")
    if not colon or el.namespace_for(prefix) != NS_DATASTORES:
        raise InvalidValue(f"<datastore> {text!r} is not an ietf-datastores identity", info={"bad-element": "datastore"})
    if name not in allowed:
        raise InvalidValue(f"<{op.name}> works on {', '.join(allowed)}, not {name}", info={"bad-element": "datastore"})
    return name


def _filter(ctx: RpcContext, op: Element) -> list[str] | None:
    subtree = op.find("subtree-filter", NS_NMDA)
    xpath_el = op.find("xpath-filter", NS_NMDA)
    if subtree is not None:
        return subtree_to_xpaths(ctx.server.schema, subtree)
    if xpath_el is not None:
        # the expression's prefixes are bound where the leaf is (RFC 7950 9.13)
        return [xpath.expression(ctx.server.schema, xpath_el, xpath_el.text.strip())]
    return None


def _max_depth(op: Element) -> int | None:
    el = op.find("max-depth", NS_NMDA)
    if el is None or el.text.strip() == "unbounded":
        return None
    try:
        depth = int(el.text.strip())
    except ValueError:
        depth = 0
    if not 1 <= depth <= 65535:
        raise InvalidValue("max-depth is 1..65535 or unbounded", info={"bad-element": "max-depth"})
    return depth


def _with_defaults(op: Element) -> str:
    el = op.find("with-defaults", NS_NMDA) or op.find("with-defaults", NS_WITH_DEFAULTS)
    if el is None:
        return "explicit"
    mode = el.text.strip()
    if mode not in ("explicit", "trim", "report-all", "report-all-tagged"):
        raise InvalidValue(f"with-defaults mode {mode!r} is not supported", info={"bad-element": "with-defaults"})
    return mode


def _origin(node: Any) -> str | None:  # a libyang data node (cdata)
    """A node's origin in operational (see Tree.annotate_origin); state has none."""
    if not Tree.schema_of(node).config:
        return None
    return "default" if Tree.is_default(node) else "intended"


def _origin_filter(op: Element, datastore: str) -> Callable[[Any], bool] | None:
    """``keep(node)`` for origin-filter / negated-origin-filter (RFC 8526
    3.1.1): a configuration node stays when its origin is (not) derived from
    or equal to one of the values; state is not filtered."""
    wanted, negated = op.findall("origin-filter", NS_NMDA), op.findall("negated-origin-filter", NS_NMDA)
    if not wanted and not negated:
        return None
    if datastore != OPERATIONAL:
        raise InvalidValue("origin filters apply to the operational datastore only", info={"bad-element": "origin-filter"})
    if wanted and negated:
        raise InvalidValue("origin-filter and negated-origin-filter are alternatives",
                           info={"bad-element": "negated-origin-filter"})
    values = set()
    for el in wanted or negated:
        prefix, colon, name = el.text.strip().rpartition(":")
        if not colon or el.namespace_for(prefix) != NS_ORIGIN or name not in ORIGINS:
            raise InvalidValue(f"{el.text.strip()!r} is not an ietf-origin identity", info={"bad-element": el.name})
        values.add(name)

    def keep(node: Any) -> bool:
        origin = _origin(node)
        if origin is None:
            return True
        hit = "origin" in values or origin in values
        return hit != bool(negated)

    return keep


@handler(NS_NMDA, "get-data")
async def get_data(ctx: RpcContext, op: Element) -> str:
    server = ctx.server
    name = _datastore(op, CONVENTIONAL + (OPERATIONAL,))
    xpaths = _filter(ctx, op)
    config_el = op.find("config-filter", NS_NMDA)
    config = None if config_el is None else config_el.text.strip() == "true"
    if config_el is not None and config_el.text.strip() not in ("true", "false"):
        raise InvalidValue("config-filter is true or false", info={"bad-element": "config-filter"})
    depth = _max_depth(op)
    mode = _with_defaults(op)
    with_origin = op.find("with-origin", NS_NMDA) is not None
    if name != OPERATIONAL and with_origin:
        raise InvalidValue("with-origin applies to the operational datastore only", info={"bad-element": "with-origin"})
    origin_keep = _origin_filter(op, name)
    if xpaths == []:
        return f'<data xmlns="{NS_NMDA}"/>'
    out = None
    user = ctx.session.username
    subtree = op.find("subtree-filter", NS_NMDA) is not None
    if name != OPERATIONAL and xpaths is not None and subtree:
        # as <get-config>: no copy of the whole datastore where it answers the same
        if config is None and depth is None and origin_keep is None and not with_origin:
            text = print_in_place(server.schema, server.nacm, user, server.datastore.get(name), xpaths, mode)
            if text is not None:
                return f'<data xmlns="{NS_NMDA}">{text}</data>'
        out = select_in_place(server.schema, server.nacm, user, server.datastore.get(name), xpaths)
    if out is None:
        if name == OPERATIONAL:
            tree = server.datastore.running.duplicate()
            tree.merge(await server.state(None if op.find("xpath-filter", NS_NMDA) is not None else xpaths))
        else:
            tree = copy_to_read(server.nacm, user, server.datastore.get(name), xpaths, subtree)
        out = readable(server.schema, server.nacm, user, tree, xpaths)
    with out:
        if config is not None:
            out.prune(lambda node: Tree.schema_of(node).config == config)
        if origin_keep is not None:
            out.prune(origin_keep)
        if depth is not None:
            out.limit_depth(depth)
        if with_origin:
            out.annotate_origin()
        return f'<data xmlns="{NS_NMDA}">{out.to_xml(mode)}</data>'


@handler(NS_NMDA, "edit-data")
async def edit_data(ctx: RpcContext, op: Element) -> None:
    target = _datastore(op, (RUNNING, CANDIDATE))
    default_op = "merge"
    el = op.find("default-operation", NS_NMDA)
    if el is not None:
        default_op = el.text.strip()
        if default_op not in ("merge", "replace", "none"):
            raise InvalidValue("default-operation is merge, replace or none", info={"bad-element": "default-operation"})
    config = op.find("config", NS_NMDA)
    if config is None:
        if op.find("url", NS_NMDA) is not None:
            raise OperationNotSupported("the :url capability is not supported", info={"bad-element": "url"})
        raise MissingElement("<edit-data> needs <config>", info={"bad-element": "config"})
    await edit_target(ctx, target, config, default_op)
    return None
