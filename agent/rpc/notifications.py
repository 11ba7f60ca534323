"""RFC 5277 <create-subscription> on the NETCONF stream, with replay."""

from __future__ import annotations

import asyncio
import datetime
import time

from ..netconf.errors import InvalidValue, OperationFailed
from ..netconf.xmltree import NS_BASE, Element
from ..notify import NS_NOTIFICATION, STREAM, Subscription
from . import RpcContext, handler


def _time(op: Element, name: str) -> float | None:
    el = op.find(name, NS_NOTIFICATION)
    if el is None:
        return None
    text = el.text.strip()
    try:
        t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        t = None
    if t is None or t.tzinfo is None:
        raise InvalidValue(f"{name} {text!r} is not a date-and-time with a time zone (RFC 3339)", info={"bad-element": name})
    return t.timestamp()


@handler(NS_NOTIFICATION, "create-subscription")
async def create_subscription(ctx: RpcContext, op: Element) -> None:
    hub = ctx.server.notifications
    if ctx.session.id in hub.subscriptions:
        raise OperationFailed("this session already has a subscription (RFC 5277 2.1.1)", type="protocol")
    stream = op.find("stream", NS_NOTIFICATION)
    if stream is not None and stream.text.strip() != STREAM:
        raise InvalidValue(f"no stream {stream.text.strip()!r}; the agent has the {STREAM} stream", info={"bad-element": "stream"})
    start, stop = _time(op, "startTime"), _time(op, "stopTime")
    if stop is not None and start is None:
        raise InvalidValue("stopTime needs startTime", info={"bad-element": "stopTime"})
    if start is not None and start > time.time():
        raise InvalidValue("startTime is in the future", info={"bad-element": "startTime"})
    if stop is not None and start is not None and stop < start:
        raise InvalidValue("stopTime is earlier than startTime", info={"bad-element": "stopTime"})
    filter_el = op.find("filter", NS_NOTIFICATION) or op.find("filter", NS_BASE)
    if filter_el is not None and (filter_el.attr("type") or "subtree") != "subtree":
        raise InvalidValue("only subtree filters are supported", info={"bad-attribute": "type", "bad-element": "filter"})
    sub = Subscription(ctx.session.id, ctx.session.username, ctx.session.notify, filter_el, stop=stop,
                       replaying=start is not None)
    hub.subscribe(sub)
    if start is not None:
        # after this handler returns, its <ok/> is queued first (RFC 5277 2.1.1)
        asyncio.get_running_loop().call_soon(hub.replay, sub, start)
    return None
