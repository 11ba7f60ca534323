"""RPC dispatch: (namespace, operation name) -> handler.

A handler is ``async def handler(ctx, op) -> str | None``: it returns the
inner XML of <rpc-reply> (None for <ok/>) or raises an
:class:`~agent.netconf.errors.RpcError`. Handlers never write to the session.
The modules that define handlers register them when imported: the server
imports those it serves (this package imports none, so they can import it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..netconf.errors import OperationFailed, OperationNotSupported, RpcError
from ..netconf.session import RpcReceived
from ..netconf.xmltree import Element

if TYPE_CHECKING:
    from ..server import NetconfServer, ServerSession

log = logging.getLogger(__name__)

T = TypeVar("T")


class RpcContext:
    def __init__(self, server: NetconfServer, session: ServerSession, *, large: bool = False) -> None:
        self.server = server
        self.session = session
        #: set by close-session / kill-session of self: end after the reply
        self.close_after_reply = False
        #: the message was large (it was parsed off the event loop)
        self.large = large

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, in a worker thread when the work is large (a large
        message, or a datastore whose validation takes a while), so that the
        event loop keeps serving; inline otherwise, as a thread hop costs
        more than a small piece of work (a third of the get-config rate)."""
        if self.large or self.server.datastore.large:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)


Handler = Callable[[RpcContext, Element], Awaitable[str | None]]

HANDLERS: dict[tuple[str, str], Handler] = {}

#: operations whose handler checks access itself: <action> is authorised on
#: the action node it names (RFC 8341 3.4.4), not as an operation
SELF_AUTHORISED = {("urn:ietf:params:xml:ns:yang:1", "action")}


def handler(ns: str, name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[(ns, name)] = fn
        return fn

    return register


async def dispatch(ctx: RpcContext, rpc: RpcReceived) -> None:
    """Run one RPC and queue its reply on the session."""
    nc = ctx.session.nc
    op = rpc.operation
    ctx.session.in_rpcs += 1
    # what follows the last change (its event) is done before any RPC is
    # served: it may still be due when this session's RPCs came pipelined
    ctx.server.datastore.settle()
    fn = HANDLERS.get((op.ns, op.name))
    try:
        if fn is None:
            raise OperationNotSupported(
                f"operation <{op.name}> in namespace {op.ns or '(none)'} is not supported", info={"bad-element": op.name}
            )
        if (op.ns, op.name) not in SELF_AUTHORISED:
            ctx.server.nacm.check_exec(ctx.session.username, ctx.server.schema.module_for_namespace(op.ns), op.name)
        body = await fn(ctx, op)
    except RpcError as err:
        ctx.session.out_rpc_errors += 1
        nc.send_error(rpc, [err])
        return
    except Exception:
        log.exception("session %d: <%s> failed", ctx.session.id, op.name)
        ctx.session.out_rpc_errors += 1
        nc.send_error(rpc, [OperationFailed(f"internal error while processing <{op.name}>; the datastore is unchanged")])
        return
    nc.send_reply(rpc, body)
