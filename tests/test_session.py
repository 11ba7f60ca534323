"""The NETCONF session state machine, driven with bytes only."""

import pytest

from agent.netconf import framing
from agent.netconf.errors import DataMissing, InvalidValue
from agent.netconf.session import (
    BASE_10,
    BASE_11,
    NEED_DATA,
    HelloReceived,
    NetconfSession,
    RpcReceived,
    RpcRejected,
    SessionClosed,
    State,
)
from agent.netconf.xmltree import NS_BASE, parse

CAPS = [BASE_10, BASE_11]


def hello(*caps, session_id=None):
    c = "".join(f"<capability>{x}</capability>" for x in caps)
    sid = f"<session-id>{session_id}</session-id>" if session_id else ""
    return f'<hello xmlns="{NS_BASE}"><capabilities>{c}</capabilities>{sid}</hello>'.encode() + framing.EOM


def events(s):
    out = []
    while (e := s.next_event()) is not NEED_DATA:
        out.append(e)
    return out


def frames(data: bytes, mode):
    dec = framing.FrameDecoder()
    dec.mode = mode
    dec.feed(data)
    out = []
    while (m := dec.next_message()) is not None:
        out.append(parse(m))
    return out


def established(base=BASE_11):
    s = NetconfSession(7, CAPS)
    server_hello = frames(s.data_to_send(), framing.Mode.EOM)[0]
    assert server_hello.find("session-id", NS_BASE).text == "7"
    s.receive_data(hello(base))
    assert isinstance(events(s)[0], HelloReceived)
    return s


def test_hello_negotiates_chunked_for_base_11():
    s = established(BASE_11)
    assert s.state is State.ESTABLISHED and s.base == BASE_11
    s.receive_data(framing.encode(f'<rpc xmlns="{NS_BASE}" message-id="5"><get/></rpc>'.encode(), framing.Mode.CHUNKED))
    (rpc,) = events(s)
    assert isinstance(rpc, RpcReceived) and rpc.message_id == "5" and rpc.operation.name == "get"
    s.send_reply(rpc)
    (reply,) = frames(s.data_to_send(), framing.Mode.CHUNKED)
    assert reply.name == "rpc-reply" and reply.attr("message-id") == "5" and reply.find("ok") is not None


def test_base_10_peer_keeps_end_of_message_framing():
    s = established(BASE_10)
    s.receive_data(f'<rpc xmlns="{NS_BASE}" message-id="1"><get/></rpc>'.encode() + framing.EOM)
    (rpc,) = events(s)
    s.send_reply(rpc, "<data/>")
    assert s.data_to_send().endswith(framing.EOM)


def test_reply_echoes_all_rpc_attributes():
    s = established()
    s.receive_data(
        framing.encode(
            f'<rpc xmlns="{NS_BASE}" xmlns:x="urn:x" message-id="9" x:tag="a&amp;b" user-attr="u"><get/></rpc>'.encode(),
            framing.Mode.CHUNKED,
        )
    )
    (rpc,) = events(s)
    s.send_reply(rpc)
    (reply,) = frames(s.data_to_send(), framing.Mode.CHUNKED)
    assert reply.attr("message-id") == "9" and reply.attr("user-attr") == "u" and reply.attr("tag", "urn:x") == "a&b"


def test_rpc_error_carries_every_field():
    s = established()
    s.receive_data(framing.encode(f'<rpc xmlns="{NS_BASE}" message-id="3"><get/></rpc>'.encode(), framing.Mode.CHUNKED))
    (rpc,) = events(s)
    err = InvalidValue("too big", path="/a:x/a:y", path_namespaces={"a": "urn:a"}, app_tag="app", info={"bad-element": "y"})
    s.send_error(rpc, [err, DataMissing("gone")])
    (reply,) = frames(s.data_to_send(), framing.Mode.CHUNKED)
    first, second = reply.findall("rpc-error", NS_BASE)
    assert first.find("error-type").text == "application"
    assert first.find("error-tag").text == "invalid-value"
    assert first.find("error-severity").text == "error"
    assert first.find("error-app-tag").text == "app"
    path = first.find("error-path")
    assert path.text == "/a:x/a:y" and path.nsmap["a"] == "urn:a"
    assert first.find("error-message").text == "too big"
    assert first.find("error-info").find("bad-element").text == "y"
    assert second.find("error-tag").text == "data-missing"


def test_missing_message_id_is_rejected_in_order():
    s = established()
    s.receive_data(framing.encode(f'<rpc xmlns="{NS_BASE}" message-id="1"><get/></rpc>'.encode(), framing.Mode.CHUNKED))
    s.receive_data(framing.encode(f'<rpc xmlns="{NS_BASE}"><get/></rpc>'.encode(), framing.Mode.CHUNKED))
    first, second = events(s)
    assert isinstance(first, RpcReceived)
    assert isinstance(second, RpcRejected) and second.errors[0].tag == "missing-attribute"
    assert s.data_to_send() == b""  # nothing is sent before the caller answers the first RPC


def test_malformed_xml_gets_malformed_message_and_session_goes_on():
    s = established()
    s.receive_data(framing.encode(b"<rpc><unclosed></rpc>", framing.Mode.CHUNKED))
    (rej,) = events(s)
    assert rej.errors[0].tag == "malformed-message"
    s.receive_data(framing.encode(f'<rpc xmlns="{NS_BASE}" message-id="2"><get/></rpc>'.encode(), framing.Mode.CHUNKED))
    assert isinstance(events(s)[0], RpcReceived)


def test_malformed_xml_on_base10_uses_operation_failed():
    s = established(BASE_10)
    s.receive_data(b"<rpc" + framing.EOM)
    (rej,) = events(s)
    assert rej.errors[0].tag == "operation-failed"


@pytest.mark.parametrize(
    "client_hello",
    [
        hello(BASE_11, session_id=4),
        hello("urn:ietf:params:netconf:base:2.0"),
        f'<rpc xmlns="{NS_BASE}" message-id="1"><get/></rpc>'.encode() + framing.EOM,
        b"<hello" + framing.EOM,
    ],
    ids=["hello-with-session-id", "no-common-base", "rpc-before-hello", "malformed-hello"],
)
def test_bad_hello_closes_the_session(client_hello):
    s = NetconfSession(1, CAPS)
    s.data_to_send()
    s.receive_data(client_hello)
    (ev,) = events(s)
    assert isinstance(ev, SessionClosed) and ev.error
    assert s.state is State.CLOSED


def test_framing_error_closes_the_session():
    s = established()
    s.receive_data(b"\n#01\n")
    (ev,) = events(s)
    assert isinstance(ev, SessionClosed) and "framing" in ev.reason


def test_eof_ends_the_session_without_error():
    s = established()
    s.receive_data(b"")
    (ev,) = events(s)
    assert isinstance(ev, SessionClosed) and not ev.error


def test_close_flushes_nothing_more():
    s = established()
    s.receive_data(framing.encode(f'<rpc xmlns="{NS_BASE}" message-id="1"><close-session/></rpc>'.encode(), framing.Mode.CHUNKED))
    (rpc,) = events(s)
    s.send_reply(rpc)
    s.close()
    assert s.data_to_send()
    s.send_reply(rpc)
    assert s.data_to_send() == b""
