"""The NETCONF server: sessions, capabilities, and what an RPC handler sees.

Transport-independent: SSH and TLS hand bytes to a
:class:`~agent.transport.stream.SessionBridge`, which drives one
:class:`ServerSession` here. No sockets in this module.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

from . import notify
from .datastore.store import Datastore
from .nacm import Nacm
from .netconf.session import BASE_10, BASE_11, NetconfSession
from .settings import HELLO_TIMEOUT, MAX_MESSAGE_SIZE, MAX_SESSIONS, MAX_SESSIONS_PER_CONNECTION
from .timestamps import when
from .yang import Action, Schema, Tree


def serve_operations() -> None:
    """Import the operations this server serves: importing a handler module
    registers its handlers (agent/rpc). Done once the first session's <hello>
    is out (:meth:`NetconfServer.open_session`), not at start-up: the manager
    has its <hello> that much sooner (~5 ms of imports on Python 3.11)."""
    from .rpc import actions, ietf_netconf, ietf_netconf_monitoring, ietf_netconf_nmda, notifications  # noqa: F401

log = logging.getLogger(__name__)

YANG_LIBRARY_REVISION = "2019-01-04"
WITH_DEFAULTS_CAP = (
    "urn:ietf:params:netconf:capability:with-defaults:1.0"
    "?basic-mode=explicit&also-supported=report-all,report-all-tagged,trim"
)

#: ietf-netconf feature -> protocol capability it stands for
_FEATURE_CAPS = {
    "writable-running": "urn:ietf:params:netconf:capability:writable-running:1.0",
    "candidate": "urn:ietf:params:netconf:capability:candidate:1.0",
    "confirmed-commit": "urn:ietf:params:netconf:capability:confirmed-commit:1.1",
    "rollback-on-error": "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
    "validate": "urn:ietf:params:netconf:capability:validate:1.1",
    "startup": "urn:ietf:params:netconf:capability:startup:1.0",
    "xpath": "urn:ietf:params:netconf:capability:xpath:1.0",
}


def build_capabilities(schema: Schema) -> list[str]:
    """Hello capabilities, derived from the module set so that the hello and
    ietf-yang-library can never disagree."""
    caps = [BASE_10, BASE_11]
    modules = schema.implemented_modules()
    for m in modules:
        if m["name"] == "ietf-netconf":
            caps += [_FEATURE_CAPS[f] for f in m["features"] if f in _FEATURE_CAPS]
    caps.append(WITH_DEFAULTS_CAP)
    if any(m["name"] == "notifications" for m in modules):
        caps += [
            "urn:ietf:params:netconf:capability:notification:1.0",
            "urn:ietf:params:netconf:capability:interleave:1.0",
        ]
    caps.append(
        f"urn:ietf:params:netconf:capability:yang-library:1.1?revision={YANG_LIBRARY_REVISION}"
        f"&content-id={schema.content_id}"
    )
    # RFC 7950 5.6.4: YANG 1.1 modules are announced through the library only.
    for m in modules:
        if m["version"] == 2 or m["name"] == "yang":
            continue
        cap = f"{m['namespace']}?module={m['name']}"
        if m["revision"]:
            cap += f"&revision={m['revision']}"
        if m["features"]:
            cap += "&features=" + ",".join(m["features"])
        if m["deviations"]:
            cap += "&deviations=" + ",".join(m["deviations"])
        caps.append(cap)
    return caps


#: RFC 8342 datastores, all with the one schema (yang-library 1.1)
DATASTORES = ("running", "candidate", "startup", "operational")


def yang_library(schema: Schema) -> Tree:
    """ietf-yang-library for the module set, with its datastores (RFC 8525)."""
    tree = schema.yanglib()
    datastores = [{"name": f"ietf-datastores:{name}", "schema": "complete"} for name in DATASTORES]
    tree.merge(schema.parse(json.dumps({"ietf-yang-library:yang-library": {"datastore": datastores}}), "json", state=True))
    return tree


#: RPC messages above this size are parsed off the event loop (a thread hop
#: costs more than parsing a small message)
PARSE_IN_THREAD_ABOVE = 64 * 1024


class Limits(NamedTuple):
    """What one peer may cost the agent."""

    max_sessions: int = MAX_SESSIONS
    #: NETCONF sessions (SSH channels) on one call-home connection
    max_sessions_per_connection: int = MAX_SESSIONS_PER_CONNECTION
    #: a peer that sends no <hello> by then is dropped
    hello_timeout: float = HELLO_TIMEOUT
    #: notifications a session may leave unread (its transport full) before it is closed
    max_unread_notifications: int = 256


class ServerSession:
    def __init__(self, id: int, username: str, transport: str, peer: str, nc: NetconfSession,
                 close_transport: Callable[..., None], notify: Callable[..., None]) -> None:
        self.id = id
        self.username = username
        self.transport = transport  # "netconf-ssh" / "netconf-tls"
        self.peer = peer
        self.nc = nc
        #: closes the transport under this session (kill-session)
        self.close_transport = close_transport
        #: sends a notification on this session
        self.notify = notify
        self.login_time = time.time()
        self.in_rpcs = 0
        self.in_bad_rpcs = 0
        self.out_rpc_errors = 0
        self.out_notifications = 0

    @property
    def source_host(self) -> str | None:
        return self.peer.rsplit(":", 1)[0] if self.peer and self.peer != "?" else None


#: runs a parsed, validated action and returns its output (RFC 7951 JSON below the action)
ActionRunner = Callable[[Action], Awaitable["dict[str, Any] | None"]]
#: called with the XPaths a <get> asks for (None: everything); may be a coroutine
StateProvider = Callable[[list[str] | None], "Tree | None | Awaitable[Tree | None]"]


class NetconfServer:
    def __init__(
        self,
        schema: Schema,
        datastore: Datastore,
        *,
        max_message_size: int = MAX_MESSAGE_SIZE,
        limits: Limits = Limits(),
        nacm: Nacm,
        notifications: notify.Notifications,
        actions: ActionRunner | None = None,
        state_providers: Sequence[StateProvider] = (),
    ) -> None:
        self.schema = schema
        self.limits = limits
        self.datastore = datastore
        self.capabilities = build_capabilities(schema)
        self.max_message_size = max_message_size
        self.sessions: dict[int, ServerSession] = {}
        self._next_id = 1
        #: functions adding operational data to <get>
        self.state_providers: list[StateProvider] = [lambda _selection: yang_library(schema), *state_providers]
        #: access control, following running (the daemon's datastore listener updates it)
        self.nacm = nacm
        #: the agent's event stream; who may read which event is decided by ``nacm``
        #: (built with ``access=nacm.can_notify``)
        self.notifications = notifications
        #: runs a YANG 1.1 action (agent/rpc/actions.py): the plugin host's
        self.actions = actions
        self.started = time.time()
        #: ietf-netconf-monitoring statistics of sessions that have ended
        self.ended_stats = {"in-rpcs": 0, "in-bad-rpcs": 0, "out-rpc-errors": 0, "out-notifications": 0}
        self.in_sessions = 0
        self.in_bad_hellos = 0
        self.dropped_sessions = 0
        self._serving = False

    def admits_session(self) -> bool:
        if len(self.sessions) >= self.limits.max_sessions:
            log.warning("refusing a session: %d sessions are open already", len(self.sessions))
            return False
        return True

    def open_session(
        self, username: str, transport: str, peer: str, close_transport: Callable[..., None], send_notification: Callable[[str], None]
    ) -> ServerSession:
        sid = self._next_id
        self._next_id += 1
        nc = NetconfSession(sid, self.capabilities, max_message_size=self.max_message_size,
                            parse_later_above=PARSE_IN_THREAD_ABOVE)
        session = ServerSession(sid, username, transport, peer, nc, close_transport, send_notification)
        self.sessions[sid] = session
        if not self._serving:
            # after the caller has flushed the <hello> and before any RPC of
            # the session runs (its worker task is created after this callback)
            self._serving = True
            asyncio.get_running_loop().call_soon(serve_operations)
        self.in_sessions += 1
        log.info("session %d opened: user %s over %s from %s", sid, username, transport, peer)
        self.notifications.publish("ietf-netconf-notifications", "netconf-session-start",
                                   notify.session_start(username, sid, session.source_host))
        return session

    def end_session(self, session: ServerSession, reason: str, termination: str = "other", killed_by: int | None = None) -> None:
        """RFC 6470 ``termination``: closed, killed, dropped, timeout, bad-hello, other."""
        if self.sessions.pop(session.id, None) is None:
            return
        self.notifications.unsubscribe(session.id)
        released = self.datastore.release_all(session.id)
        self.datastore.session_ended(session.id)
        for key, value in (("in-rpcs", session.in_rpcs), ("in-bad-rpcs", session.in_bad_rpcs),
                           ("out-rpc-errors", session.out_rpc_errors), ("out-notifications", session.out_notifications)):
            self.ended_stats[key] += value
        if termination == "bad-hello":
            self.in_bad_hellos += 1
        elif termination in ("dropped", "timeout", "other"):
            self.dropped_sessions += 1
        log.info(
            "session %d closed (%s)%s", session.id, reason, f"; released lock on {', '.join(released)}" if released else ""
        )
        self.notifications.publish("ietf-netconf-notifications", "netconf-session-end",
                                   notify.session_end(session.username, session.id, session.source_host, termination, killed_by))

    async def state(self, selection: list[str] | None = None) -> Tree:
        """Operational data, freshly gathered, as one tree the caller frees.
        ``selection``: the XPaths asked for, so providers can skip the rest."""
        out = self.schema.empty()
        for provider in self.state_providers:
            try:
                tree = provider(selection)
                if inspect.isawaitable(tree):
                    tree = await tree
            except Exception:
                log.exception("state provider %r failed", provider)
                continue
            if tree is not None:
                out.merge(tree)
        return out

    def monitoring(self) -> dict[str, Any]:
        """ietf-netconf-monitoring (RFC 6022), the NETCONF stream (RFC 5277) and
        the NACM counters (RFC 8341) of this server, as RFC 7951 JSON."""
        ds = self.datastore
        datastores = []
        for name in ("running", "candidate", "startup"):
            entry: dict[str, Any] = {"name": name}
            if name in ds.locks:
                entry["locks"] = {"global-lock": {"locked-by-session": ds.locks[name], "locked-time": when(ds.lock_times[name])}}
            datastores.append(entry)
        schemas = [
            {
                "identifier": m["name"],
                "version": m["revision"] or "",
                "format": "ietf-netconf-monitoring:yang",
                "namespace": m["namespace"],
                "location": ["NETCONF"],
            }
            for m in self.schema.implemented_modules()
            if m["name"] != "yang"
        ]
        sessions = []
        totals = dict(self.ended_stats)
        for s in self.sessions.values():
            sessions.append(_drop_none({
                "session-id": s.id,
                "transport": "ietf-netconf-monitoring:" + s.transport,
                "username": s.username,
                "source-host": s.source_host,
                "login-time": when(s.login_time),
                "in-rpcs": s.in_rpcs,
                "in-bad-rpcs": s.in_bad_rpcs,
                "out-rpc-errors": s.out_rpc_errors,
                "out-notifications": s.out_notifications,
            }))
            totals["in-rpcs"] += s.in_rpcs
            totals["in-bad-rpcs"] += s.in_bad_rpcs
            totals["out-rpc-errors"] += s.out_rpc_errors
            totals["out-notifications"] += s.out_notifications
        nacm = self.nacm
        return {
            "ietf-netconf-monitoring:netconf-state": {
                "capabilities": {"capability": self.capabilities},
                "datastores": {"datastore": datastores},
                "schemas": {"schema": schemas},
                "sessions": {"session": sessions} if sessions else {},
                "statistics": {
                    "netconf-start-time": when(self.started),
                    "in-bad-hellos": self.in_bad_hellos,
                    "in-sessions": self.in_sessions,
                    "dropped-sessions": self.dropped_sessions,
                    **totals,
                },
            },
            "nc-notifications:netconf": {"streams": {"stream": [_drop_none({
                "name": "NETCONF",
                "description": "default NETCONF event stream",
                "replaySupport": True,
                "replayLogCreationTime": self.notifications.log.created,
                "replayLogAgedTime": self.notifications.log.aged,
            })]}},
            "ietf-netconf-acm:nacm": {
                "denied-operations": nacm.denied_rpcs,
                "denied-data-writes": nacm.denied_writes,
                "denied-notifications": nacm.denied_notifications,
            },
        }


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}
