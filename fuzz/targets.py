"""Each target takes bytes from a fuzzer and must only ever end in the
agent's own, expected outcomes: a closed session, an <rpc-error>, a refused
edit. Any other exception is a bug the fuzzer reports."""

from __future__ import annotations

from agent.netconf import framing
from agent.netconf.errors import RpcError
from agent.netconf.session import NEED_DATA, NetconfSession, RpcReceived, RpcRejected, SessionClosed
from agent.netconf.xmltree import NS_BASE, XmlError, parse

HELLO_11 = (
    f'<hello xmlns="{NS_BASE}"><capabilities><capability>urn:ietf:params:netconf:base:1.1</capability>'
    "</capabilities></hello>]]>]]>"
).encode()
MAX_EVENTS = 10_000


def _splits(data: bytes) -> list[bytes]:
    """Cut the input where the fuzzer says: the first byte picks a stride."""
    if not data:
        return [b""]
    step = data[0] % 13 + 1
    body = data[1:]
    return [body[i : i + step] for i in range(0, len(body), step)] or [b""]


def framing_target(data: bytes) -> None:
    for mode in (framing.Mode.EOM, framing.Mode.CHUNKED):
        dec = framing.FrameDecoder(max_message_size=64 * 1024)
        dec.mode = mode
        try:
            for part in _splits(data):
                dec.feed(part)
                for _ in range(MAX_EVENTS):
                    msg = dec.next_message()
                    if msg is None:
                        break
                    assert len(msg) <= 64 * 1024
                else:
                    raise AssertionError("decoder does not stop yielding")
        except framing.FramingError:
            pass
        assert dec.buffered <= len(data) + 16


def xml_target(data: bytes) -> None:
    try:
        parse(data)
    except XmlError:
        pass


def session_target(data: bytes) -> None:
    """Bytes after a good hello: events only, never an exception."""
    s = NetconfSession(1, ["urn:ietf:params:netconf:base:1.0", "urn:ietf:params:netconf:base:1.1"],
                       max_message_size=64 * 1024)
    s.receive_data(HELLO_11)
    for part in _splits(data) + [b""]:
        s.receive_data(part)
        for _ in range(MAX_EVENTS):
            ev = s.next_event()
            if ev is NEED_DATA or isinstance(ev, SessionClosed):
                break
            if isinstance(ev, RpcRejected):
                s.send_error(ev, ev.errors)
            elif isinstance(ev, RpcReceived):
                s.send_reply(ev, "<data/>")
        else:
            raise AssertionError("session does not stop producing events")
        s.data_to_send()


class EditTarget:
    """The edit-config path: any <config> content is applied to a copy of a
    datastore and validated, or refused with an RpcError."""

    def __init__(self) -> None:
        from agent import modset
        from agent.yang import Schema

        self.schema = Schema(modset.search_dirs(None), modset.MODULES)
        self.base = self.schema.empty()

    def __call__(self, data: bytes) -> None:
        from agent.datastore.edit import apply_edit
        from agent.datastore.store import Datastore

        try:
            config = parse(b'<config xmlns="' + NS_BASE.encode() + b'">' + data + b"</config>")
        except XmlError:
            return
        tree = self.base.duplicate()
        try:
            apply_edit(self.schema, tree, config, "merge")
            Datastore(self.schema, self.schema.empty()).validate(tree)
        except RpcError:
            pass
        finally:
            tree.free()


TARGETS = {"framing": framing_target, "xml": xml_target, "session": session_target, "edit": EditTarget}


def get(name: str):
    target = TARGETS[name]
    return target() if isinstance(target, type) else target
