"""The NETCONF server session as a sans-I/O state machine (RFC 6241, RFC 6242).

Bytes in (:meth:`NetconfSession.receive_data`), events out
(:meth:`NetconfSession.next_event`), bytes to send from
:meth:`NetconfSession.data_to_send`. No sockets, no event loop, no clock:
the transports at the edge own those.

Problems local to one message (bad XML, no message-id) become queued
<rpc-error> replies and the session goes on; framing errors and protocol
violations during the hello end the session with a :class:`SessionClosed`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import NamedTuple

from ..settings import MAX_MESSAGE_SIZE
from . import framing, xmltree
from .errors import MalformedMessage, MissingAttribute, MissingElement, OperationFailed, RpcError, UnknownElement
from .xmltree import NS_BASE, Element, XmlError, escape_attr, escape_text

BASE_10 = "urn:ietf:params:netconf:base:1.0"
BASE_11 = "urn:ietf:params:netconf:base:1.1"


class State(enum.Enum):
    #: our hello is queued, the peer's has not arrived
    HELLO_WAIT = 1
    ESTABLISHED = 2
    #: close() was called; queued output may still be flushed
    CLOSED = 3


# the events are NamedTuples, not dataclasses: as light and immutable, and
# Python 3.11 builds a dataclass at start-up with one exec() per method
class HelloReceived(NamedTuple):
    capabilities: tuple[str, ...]
    base: str


class RpcReceived(NamedTuple):
    message_id: str
    operation: Element
    #: attributes of <rpc>, echoed on the reply: (namespace or "", name) -> value
    attributes: dict[tuple[str, str], str]

    def __repr__(self) -> str:
        return f"RpcReceived(message_id={self.message_id!r}, operation={self.operation!r})"


class RpcRejected(NamedTuple):
    """A message that could not become an RPC; reply with ``errors`` in turn.

    It is an event rather than an immediate reply so that replies keep the
    order of the requests (RFC 6241 4.5) while earlier RPCs are still running."""

    errors: tuple[RpcError, ...]
    attributes: dict[tuple[str, str], str]

    def __repr__(self) -> str:
        return f"RpcRejected(errors={self.errors!r})"


class MessageReceived(NamedTuple):
    """A large message not parsed yet (the session was made with
    ``parse_later_above``): pass it to :meth:`NetconfSession.parse_rpc`,
    off the event loop, for its RpcReceived or RpcRejected."""

    data: bytes

    def __repr__(self) -> str:
        return f"MessageReceived({len(self.data)} bytes)"


class SessionClosed(NamedTuple):
    reason: str
    #: True when the peer misbehaved (log it), False for an orderly end
    error: bool


# the states as module names: an Enum class's attribute costs ~0.1 us, and
# every message looks at the state several times
_HELLO_WAIT, _ESTABLISHED, _CLOSED = State.HELLO_WAIT, State.ESTABLISHED, State.CLOSED
_CHUNKED = framing.Mode.CHUNKED


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()

Event = HelloReceived | RpcReceived | RpcRejected | MessageReceived | SessionClosed


class NetconfSession:
    def __init__(
        self,
        session_id: int,
        capabilities: list[str],
        *,
        max_message_size: int = MAX_MESSAGE_SIZE,
        parse_later_above: int | None = None,
    ) -> None:
        self.session_id = session_id
        #: RPC messages larger than this come out as MessageReceived (None: never)
        self.parse_later_above = parse_later_above
        self.capabilities = list(capabilities)
        self.state = State.HELLO_WAIT
        self.base: str | None = None
        self.peer_capabilities: tuple[str, ...] = ()
        self._decoder = framing.FrameDecoder(max_message_size)
        self._out = bytearray()
        self._events: list[Event] = []
        self._eof = False
        self._closed_reported = False
        #: the peer half-closed (EOF) after its last RPC: the replies to what it
        #: sent still go out (`ssh -s netconf < requests` does this)
        self._replies_after_eof = False
        self.messages_in = 0
        self.bad_messages = 0
        self._out_mode = framing.Mode.EOM
        self._send_hello()

    # -- input -------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        if self.state is _CLOSED:
            return
        if not data:
            self._eof = True
            return
        self._decoder.feed(data)

    @property
    def buffered(self) -> int:
        return self._decoder.buffered

    def next_event(self) -> Event | _NeedData:
        while not self._events:
            if self.state is _CLOSED:
                if self._closed_reported:
                    return NEED_DATA
                self._closed_reported = True
                return SessionClosed("closed", error=False)
            try:
                message = self._decoder.next_message()
            except framing.FramingError as exc:
                self._fail(f"framing error: {exc}")
                continue
            if message is None:
                if self._eof:
                    self._fail("peer closed the connection", error=False)
                    self._replies_after_eof = True
                    continue
                return NEED_DATA
            self.messages_in += 1
            self._handle_message(message)
        return self._events.pop(0)

    def _fail(self, reason: str, error: bool = True) -> None:
        self.state = State.CLOSED
        self._closed_reported = True
        self._events.append(SessionClosed(reason, error))

    def _handle_message(self, message: bytes) -> None:
        if self.state is _ESTABLISHED and self.parse_later_above is not None and len(message) > self.parse_later_above:
            self._events.append(MessageReceived(message))
            return
        try:
            root = xmltree.parse(message)
        except XmlError as exc:
            if self.state is _HELLO_WAIT:
                self._fail(f"bad hello: {exc}")
            else:
                self._reject([self._malformed(str(exc))], {})
            return
        if self.state is _HELLO_WAIT:
            self._handle_hello(root)
        else:
            self._handle_rpc(root)

    def _malformed(self, message: str) -> RpcError:
        # malformed-message is a base:1.1 addition; base:1.0 peers get the
        # generic tag (RFC 6241 Appendix A).
        if self.base == BASE_11:
            return MalformedMessage(message)
        return OperationFailed(message, type="rpc")

    def _handle_hello(self, root: Element) -> None:
        if root.ns != NS_BASE or root.name != "hello":
            self._fail(f"expected <hello>, got <{root.name}>")
            return
        if root.find("session-id", NS_BASE) is not None:
            self._fail("client <hello> carries a session-id (RFC 6241 8.1)")
            return
        caps_el = root.find("capabilities", NS_BASE)
        caps = tuple(
            c.text.strip() for c in (caps_el.findall("capability", NS_BASE) if caps_el is not None else [])
        )
        if BASE_11 in caps and BASE_11 in self.capabilities:
            self.base = BASE_11
        elif BASE_10 in caps and BASE_10 in self.capabilities:
            self.base = BASE_10
        else:
            self._fail("no common NETCONF base version")
            return
        self.peer_capabilities = caps
        self.state = State.ESTABLISHED
        if self.base == BASE_11:
            # RFC 6242 4.1: chunked framing from the next message on, both ways.
            self._decoder.mode = framing.Mode.CHUNKED
            self._out_mode = framing.Mode.CHUNKED
        self._events.append(HelloReceived(caps, self.base))

    def parse_rpc(self, message: MessageReceived) -> RpcReceived | RpcRejected:
        """The event a MessageReceived stands for. It touches nothing the
        event loop uses meanwhile, so it may run in a worker thread."""
        try:
            root = xmltree.parse(message.data)
        except XmlError as exc:
            self.bad_messages += 1
            return RpcRejected((self._malformed(str(exc)),), {})
        events: list[Event] = []
        self._handle_rpc(root, events)
        return events[0]  # type: ignore[return-value]

    def _handle_rpc(self, root: Element, events: list[Event] | None = None) -> None:
        events = self._events if events is None else events
        if root.ns != NS_BASE or root.name != "rpc":
            if root.ns == NS_BASE and root.name == "hello":
                self._reject([OperationFailed("second <hello> in a session", type="protocol")], {}, events)
            else:
                self._reject([UnknownElement(f"expected <rpc>, got <{root.name}>", type="rpc", info={"bad-element": root.name})], {},
                             events)
            return
        message_id = root.attr("message-id")
        if message_id is None:
            self._reject(
                [MissingAttribute("<rpc> without message-id", info={"bad-attribute": "message-id", "bad-element": "rpc"})],
                root.attrs, events,
            )
            return
        ops = root.children
        if len(ops) != 1:
            err: RpcError
            if not ops:
                err = MissingElement("<rpc> names no operation", type="rpc", info={"bad-element": "rpc"})
            else:
                err = OperationFailed("<rpc> must hold exactly one operation", type="rpc")
            self._reject([err], root.attrs, events)
            return
        events.append(RpcReceived(message_id, ops[0], dict(root.attrs)))

    def _reject(self, errors: list[RpcError], attributes: Mapping[tuple[str, str], str], events: list[Event] | None = None) -> None:
        self.bad_messages += 1
        (self._events if events is None else events).append(RpcRejected(tuple(errors), dict(attributes)))

    # -- output ------------------------------------------------------------

    def _send_hello(self) -> None:
        caps = "".join(f"<capability>{escape_text(c)}</capability>" for c in self.capabilities)
        hello = (
            f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<hello xmlns="{NS_BASE}"><capabilities>{caps}</capabilities>'
            f"<session-id>{self.session_id}</session-id></hello>"
        )
        self._out += framing.encode(hello.encode(), framing.Mode.EOM)

    def _write(self, xml: str) -> None:
        if self.state is _CLOSED and not self._replies_after_eof:
            return
        data = xml.encode()
        out = self._out
        if self._out_mode is _CHUNKED and data:
            # framing.encode's frame without its copy of the message (a
            # large reply is copied often enough on its way out)
            out += b"\n#%d\n" % len(data)
            out += data
            out += b"\n##\n"
        else:
            out += framing.encode(data, self._out_mode)

    def send_reply(self, rpc: RpcReceived, body: str | None = None) -> None:
        """Reply to ``rpc`` with ``body`` (inner XML), or <ok/> when None."""
        self._write(_reply(rpc.attributes, "<ok/>" if body is None else body))

    def send_data(self, rpc: RpcReceived, data_xml: str) -> None:
        self.send_reply(rpc, f"<data>{data_xml}</data>")

    def send_error(self, rpc: RpcReceived | RpcRejected, errors: list[RpcError] | tuple[RpcError, ...]) -> None:
        self._write(_reply(rpc.attributes, "".join(error_xml(e) for e in errors)))

    def send_notification(self, xml: str) -> None:
        self._write(xml)

    def close(self) -> None:
        """End the session after flushing what is queued (close-session, kill-session)."""
        self.state = State.CLOSED
        self._replies_after_eof = False

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out


def _reply(attributes: dict[tuple[str, str], str], body: str) -> str:
    decls: dict[str, str] = {}
    attrs = []
    for (ns, name), value in attributes.items():
        if ns and ns != NS_BASE:
            prefix = decls.setdefault(ns, "a%d" % len(decls))
            attrs.append(f' {prefix}:{name}="{escape_attr(value)}"')
        else:
            attrs.append(f' {name}="{escape_attr(value)}"')
    xmlns = "".join(f' xmlns:{p}="{escape_attr(ns)}"' for ns, p in decls.items())
    return f'<rpc-reply xmlns="{NS_BASE}"{xmlns}{"".join(attrs)}>{body}</rpc-reply>'


def error_xml(err: RpcError) -> str:
    parts = [
        f"<error-type>{err.type}</error-type>",
        f"<error-tag>{err.tag}</error-tag>",
        f"<error-severity>{err.severity}</error-severity>",
    ]
    if err.app_tag:
        parts.append(f"<error-app-tag>{escape_text(err.app_tag)}</error-app-tag>")
    if err.path:
        decls = "".join(f' xmlns:{p}="{escape_attr(ns)}"' for p, ns in sorted(err.path_namespaces.items()))
        parts.append(f"<error-path{decls}>{escape_text(err.path)}</error-path>")
    parts.append(f'<error-message xml:lang="en">{escape_text(err.message)}</error-message>')
    if err.info:
        info = "".join(f"<{k}>{escape_text(str(v))}</{k}>" for k, v in err.info.items())
        parts.append(f"<error-info>{info}</error-info>")
    return f"<rpc-error>{''.join(parts)}</rpc-error>"
