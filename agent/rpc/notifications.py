"""RFC 5277 <create-subscription> on the NETCONF stream (no replay)."""

from __future__ import annotations

from ..netconf.errors import InvalidValue, OperationFailed
from ..netconf.xmltree import NS_BASE, Element
from ..notify import NS_NOTIFICATION, STREAM, Subscription
from . import RpcContext, handler


@handler(NS_NOTIFICATION, "create-subscription")
async def create_subscription(ctx: RpcContext, op: Element) -> None:
    hub = ctx.server.notifications
    if ctx.session.id in hub.subscriptions:
        raise OperationFailed("this session already has a subscription (RFC 5277 2.1.1)", type="protocol")
    stream = op.find("stream", NS_NOTIFICATION)
    if stream is not None and stream.text.strip() != STREAM:
        raise InvalidValue(f"no stream {stream.text.strip()!r}; the agent has the {STREAM} stream", info={"bad-element": "stream"})
    if op.find("startTime", NS_NOTIFICATION) is not None:
        raise OperationFailed("replay is not supported: the NETCONF stream keeps no log", info={"bad-element": "startTime"})
    if op.find("stopTime", NS_NOTIFICATION) is not None:
        raise InvalidValue("stopTime needs startTime", info={"bad-element": "stopTime"})
    filter_el = op.find("filter", NS_NOTIFICATION) or op.find("filter", NS_BASE)
    if filter_el is not None and (filter_el.attr("type") or "subtree") != "subtree":
        raise InvalidValue("only subtree filters are supported", info={"bad-attribute": "type", "bad-element": "filter"})
    hub.subscribe(Subscription(ctx.session.id, ctx.session.username, ctx.session.notify, filter_el))
    return None
