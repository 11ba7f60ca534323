"""Event notifications (RFC 5277) and the events the agent emits: RFC 6470
base notifications and the agent's own (link state, call home).

A subscription is a session's wish to receive the NETCONF stream, with an
optional subtree filter, and optionally a replay of the logged events from
startTime (to stopTime). Events are delivered in the event loop, to every
subscribed session that may read them (NACM) and whose filter they match;
every event is also logged for replay (agent/eventlog.py).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .eventlog import Event, EventLog, date_and_time
from .netconf.xmltree import Element, XmlError, escape_attr, escape_text, parse

if TYPE_CHECKING:
    from .datastore.store import ChangedBy

log = logging.getLogger(__name__)

NS_NOTIFICATION = "urn:ietf:params:xml:ns:netconf:notification:1.0"
NS_BASE_NOTIFICATIONS = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
NS_AGENT = "urn:dpu-agent:yang:dpu-agent"
#: nc-notifications: the stream list, replayComplete, notificationComplete
NS_NC_NOTIFICATIONS = "urn:ietf:params:xml:ns:netmod:notification"
STREAM = "NETCONF"

#: (username, module, notification name) -> may this user receive it
#: (user, module, name, body) -> may the user have it
AccessCheck = Callable[[str, str, str, str], bool]


def event_time(now: datetime.datetime | None = None) -> str:
    now = now or datetime.datetime.now(datetime.UTC)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Subscription:
    def __init__(self, session_id: int, username: str, send: Callable[..., None], filter: Element | None = None, *,
                 stop: float | None = None, replaying: bool = False) -> None:
        self.session_id = session_id
        self.username = username
        self.send = send  # (xml) or, while replaying, (xml, counted=False)
        self.filter = filter
        self.sent = 0
        #: RFC 5277 stopTime (epoch seconds): nothing later is sent
        self.stop = stop
        #: the replay has not been sent yet: live events wait in the log meanwhile.
        #: ``send`` then takes ``counted=False`` (agent/transport/stream.py)
        self.replaying = replaying
        #: ends the subscription at stopTime
        self.timer: asyncio.TimerHandle | None = None


class Notifications:
    def __init__(self, access: AccessCheck | None = None, log: EventLog | None = None,
                 settle: Callable[[], None] | None = None) -> None:
        self.access = access
        self.subscriptions: dict[int, Subscription] = {}
        #: events published, for statistics
        self.published = 0
        #: the replay log (RFC 5277 3.2); in memory only unless given a file
        self.log = EventLog(None) if log is None else log
        #: (module, name) -> called on every publish of that event, subscribers or not
        self.observers: dict[tuple[str, str], list[Callable[[], None]]] = {}
        #: publishes what happened before anything published now (the event of
        #: a change whose reply went first: Datastore.settle)
        self.settle = settle

    def observe(self, module: str, name: str, callback: Callable[[], None]) -> None:
        self.observers.setdefault((module, name), []).append(callback)

    def subscribe(self, sub: Subscription) -> None:
        self.subscriptions[sub.session_id] = sub

    def unsubscribe(self, session_id: int) -> None:
        sub = self.subscriptions.pop(session_id, None)
        if sub is not None and sub.timer is not None:
            sub.timer.cancel()

    def publish(self, module: str, name: str, body: str, at: float | None = None) -> None:
        """Log and send one event; ``body`` is the XML of the notification's top element,
        ``at`` when it happened (time.time(); default: now)."""
        if self.settle is not None:
            self.settle()
        self.published += 1
        for callback in self.observers.get((module, name), ()):
            try:
                callback()
            except Exception:
                log.exception("observer of %s:%s failed", module, name)
        now = time.time() if at is None else at
        event = Event(now, date_and_time(now), module, name, body)
        self.log.append(event)
        if not self.subscriptions:
            return
        parsed: list[Element] = []
        for sub in list(self.subscriptions.values()):
            if sub.replaying or (sub.stop is not None and now > sub.stop):
                continue
            if not self._deliver(sub, event, parsed):
                return

    def _deliver(self, sub: Subscription, event: Event, parsed: list[Element]) -> bool:
        """Send ``event`` to ``sub`` if NACM and its filter let it through.
        ``parsed`` caches the parsed body across subscribers. False: the
        event is not well-formed and must go to no one."""
        if self.access is not None and not self.access(sub.username, event.module, event.name, event.body):
            return True
        if sub.filter is not None:
            if not parsed:
                try:
                    parsed.append(parse(event.body.encode()))
                except XmlError:
                    log.error("notification %s:%s is not well-formed; dropped", event.module, event.name)
                    return False
            if not matches(parsed[0], sub.filter):
                return True
        self._send(sub, event.event_time, event.body)
        return True

    def _send(self, sub: Subscription, event_time_: str, body: str) -> None:
        xml = f'<notification xmlns="{NS_NOTIFICATION}"><eventTime>{event_time_}</eventTime>{body}</notification>'
        try:
            if sub.replaying:
                sub.send(xml, counted=False)
            else:
                sub.send(xml)
            sub.sent += 1
        except Exception:
            log.exception("session %d: cannot deliver a notification", sub.session_id)

    def replay(self, sub: Subscription, start: float) -> None:
        """Send ``sub`` the logged events from ``start`` (to its stopTime),
        then replayComplete, then go live (RFC 5277 2.1.1, 3.2).

        Called once the <create-subscription> reply is queued: in one turn of
        the loop, so no event falls between the replay and the live ones."""
        if self.subscriptions.get(sub.session_id) is not sub:
            return  # the session ended meanwhile
        if self.settle is not None:
            self.settle()  # logged before the replay, not sent live after replayComplete
        for event in self.log.since(start, sub.stop):
            self._deliver(sub, event, [])
        # never subject to NACM or filters (RFC 8341 3.4.6)
        self._send(sub, event_time(), f'<replayComplete xmlns="{NS_NC_NOTIFICATIONS}"/>')
        sub.replaying = False
        if sub.stop is not None:
            remaining = sub.stop - time.time()
            if remaining <= 0:
                self.complete(sub)
            else:
                sub.timer = asyncio.get_running_loop().call_later(remaining, self.complete, sub)

    def complete(self, sub: Subscription) -> None:
        """stopTime reached: notificationComplete ends the subscription."""
        if self.subscriptions.get(sub.session_id) is not sub:
            return
        self._send(sub, event_time(), f'<notificationComplete xmlns="{NS_NC_NOTIFICATIONS}"/>')
        self.unsubscribe(sub.session_id)


def _is_content_match(el: Element) -> bool:
    return not el.children and el.text.strip() != ""


def matches(event: Element, filter_el: Element) -> bool:
    """Does the event pass this subtree filter (RFC 6241 6.2, RFC 5277 3.6)?"""
    if not filter_el.children:
        return False
    return any(_node_matches(event, f) for f in filter_el.children)


def _node_matches(node: Element, f: Element) -> bool:
    if f.name != node.name or (f.ns and f.ns != node.ns):
        return False
    if _is_content_match(f):
        return node.text.strip() == f.text.strip()
    content = [c for c in f.children if _is_content_match(c)]
    others = [c for c in f.children if not _is_content_match(c)]
    for c in content:
        if not any(_node_matches(n, c) for n in node.children):
            return False
    if not others:
        return True
    return any(_node_matches(n, c) for c in others for n in node.children)


# -- the events ------------------------------------------------------------


def _user(username: str | None, session_id: int | None, source_host: str | None) -> str:
    parts = []
    if username:
        parts.append(f"<username>{escape_text(username)}</username>")
    if session_id is not None:
        parts.append(f"<session-id>{session_id}</session-id>")
    if source_host:
        parts.append(f"<source-host>{escape_text(source_host)}</source-host>")
    return "".join(parts)


def session_start(username: str, session_id: int, source_host: str | None) -> str:
    return f'<netconf-session-start xmlns="{NS_BASE_NOTIFICATIONS}">{_user(username, session_id, source_host)}</netconf-session-start>'


def session_end(username: str, session_id: int, source_host: str | None, reason: str, killed_by: int | None = None) -> str:
    killed = f"<killed-by>{killed_by}</killed-by>" if killed_by is not None else ""
    return (
        f'<netconf-session-end xmlns="{NS_BASE_NOTIFICATIONS}">{_user(username, session_id, source_host)}{killed}'
        f"<termination-reason>{reason}</termination-reason></netconf-session-end>"
    )


def _changed_by(by: ChangedBy | None) -> str:
    if by is None or by.session_id is None:
        return "<changed-by><server/></changed-by>"
    return f"<changed-by>{_user(by.username, by.session_id, by.source_host)}</changed-by>"


#: edits listed in one netconf-config-change; a larger change is listed as one
#: "replace" per changed top-level node (RFC 6470 allows omitting details)
MAX_CONFIG_CHANGE_EDITS = 100


def config_change(datastore: str, by: ChangedBy | None, edits: list[tuple[str, dict[str, str], str]]) -> str:
    """``edits``: (XML instance-identifier, its prefix map, operation)."""
    parts = []
    for path, nsmap, operation in edits:
        decls = "".join(f' xmlns:{p}="{escape_attr(ns)}"' for p, ns in sorted(nsmap.items()))
        parts.append(f"<edit><target{decls}>{escape_text(path)}</target><operation>{operation}</operation></edit>")
    return (
        f'<netconf-config-change xmlns="{NS_BASE_NOTIFICATIONS}">{_changed_by(by)}'
        f"<datastore>{datastore}</datastore>{''.join(parts)}</netconf-config-change>"
    )


def confirmed_commit(event: str, by: ChangedBy | None, timeout: int | None = None) -> str:
    user = _user(by.username, by.session_id, by.source_host) if by is not None and by.session_id is not None else ""
    t = f"<timeout>{timeout}</timeout>" if timeout is not None else ""
    return f'<netconf-confirmed-commit xmlns="{NS_BASE_NOTIFICATIONS}">{user}<confirm-event>{event}</confirm-event>{t}</netconf-confirmed-commit>'


def link_change(interface: str, up: bool) -> str:
    return (
        f'<interface-link-change xmlns="{NS_AGENT}"><name>{escape_text(interface)}</name>'
        f"<oper-status>{'up' if up else 'down'}</oper-status></interface-link-change>"
    )


def call_home_exhausted(client: str, next_attempt: str | None) -> str:
    nxt = f"<next-attempt>{next_attempt}</next-attempt>" if next_attempt else ""
    return f'<call-home-endpoints-exhausted xmlns="{NS_AGENT}"><netconf-client>{escape_text(client)}</netconf-client>{nxt}</call-home-endpoints-exhausted>'


def call_home_connected(client: str, endpoint: str) -> str:
    return (
        f'<call-home-connected xmlns="{NS_AGENT}"><netconf-client>{escape_text(client)}</netconf-client>'
        f"<endpoint>{escape_text(endpoint)}</endpoint></call-home-connected>"
    )
