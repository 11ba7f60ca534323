"""YANG 1.1 actions (RFC 7950 7.15) through NETCONF's <action> operation
(RFC 7950 7.15.2): parse the action with its parents, check access (RFC 8341
3.4.4: read on every ancestor, exec on the action), check that the instance
it acts on exists and that the ``when`` of the containers down to the action
hold, validate the input against running and the operational data, run it in
the plugin that serves its path, validate the output."""

from __future__ import annotations

from ..datastore.store import rpc_error_from
from ..netconf.errors import DataMissing, MissingElement, OperationFailed, OperationNotSupported
from ..netconf.xmltree import Element, serialize
from ..yang import YangError
from . import RpcContext, handler

NS_YANG = "urn:ietf:params:xml:ns:yang:1"


@handler(NS_YANG, "action")
async def action(ctx: RpcContext, op: Element) -> str | None:
    server = ctx.server
    schema = server.schema
    if len(op.children) != 1:
        raise MissingElement("<action> must hold the one data tree down to the action", info={"bad-element": "action"})
    try:
        act = schema.parse_action(serialize(op.children[0]))
    except YangError as exc:
        raise rpc_error_from(exc, schema) from None
    operational = None
    try:
        server.nacm.check_action(ctx.session.username, act.tree, act.node)
        parent = act.instance_parent()
        state = await server.state([parent or act.path])
        operational = server.datastore.running.duplicate()
        operational.merge(state)
        if parent is not None and operational.find(parent, include_defaults=True) is None:
            path, nsmap = schema.xml_path(parent)
            raise DataMissing(f"no such instance: {parent}", path=path, path_namespaces=nsmap)
        unmet = act.unmet_when(operational)
        if unmet is not None:
            path, nsmap = schema.xml_path(act.path)
            raise DataMissing(f"the action is not available now ({unmet})", path=path, path_namespaces=nsmap)
        try:
            act.validate(operational)
        except YangError as exc:
            raise rpc_error_from(exc, schema) from None
        run = server.actions
        if run is None:
            raise OperationNotSupported(f"nothing on this agent runs the action {act.module}:{act.name}")
        output = await run(act)
        try:
            return act.reply_xml(output, operational)
        except YangError as exc:
            raise OperationFailed(f"the action {act.module}:{act.name} gave an invalid output: {exc}") from None
    finally:
        if operational is not None:
            operational.free()
        act.free()
