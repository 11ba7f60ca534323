"""SSH-level negatives on the libssh server: every channel request but the
"netconf" subsystem refused (and the connection still serves), forwarding
refused, a cap on sessions per connection, a cap on authentication attempts,
no authentication before the login timeout, a flood of global requests.

The manager is paramiko's Transport on the accepted call-home socket, driven
message by message."""

from __future__ import annotations

import logging
import threading
import time

import paramiko
import pytest
from paramiko.common import cMSG_CHANNEL_REQUEST, cMSG_GLOBAL_REQUEST

from agent.callhome import build
from agent.transport.ssh import MAX_AUTH_TRIES

from .support import start_two_managers, wait_for

HELLO = (b'<?xml version="1.0" encoding="UTF-8"?><hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
         b"<capabilities><capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>]]>]]>")


def _start(harness, **settings):
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]), **settings)
    return lst


def _connect(harness, lst, *, auth: bool = True) -> paramiko.Transport:
    t = paramiko.Transport(lst.accept_raw())
    t.start_client(timeout=10)
    assert t.get_remote_server_key().get_base64() == harness.host_b64
    if auth:
        t.auth_publickey("admin", paramiko.Ed25519Key.from_private_key_file(str(harness.client_key_file)))
    return t


def _request(ch: paramiko.Channel, kind: str, *fields) -> None:
    """A channel request with want_reply, waiting (bounded) for its answer;
    raises SSHException when refused (paramiko closes the channel then)."""
    m = paramiko.Message()
    m.add_byte(cMSG_CHANNEL_REQUEST)
    m.add_int(ch.remote_chanid)
    m.add_string(kind)
    m.add_boolean(True)
    for f in fields:
        if isinstance(f, bool):
            m.add_boolean(f)
        elif isinstance(f, int):
            m.add_int(f)
        else:
            m.add_string(f)
    ch._event_pending()
    ch.transport._send_user_message(m)
    assert ch.event.wait(10), f"{kind}: no answer"
    if not ch.event_ready:
        raise paramiko.SSHException(f"{kind} refused")


def _netconf(t: paramiko.Transport) -> paramiko.Channel:
    ch = t.open_session(timeout=10)
    ch.settimeout(10)
    ch.invoke_subsystem("netconf")
    data = b""
    while b"]]>]]>" not in data:
        chunk = ch.recv(65536)
        assert chunk, "closed before the hello"
        data += chunk
    assert b"<session-id>" in data
    return ch


REFUSED = {
    "shell": lambda ch: _request(ch, "shell"),
    "exec": lambda ch: _request(ch, "exec", "id"),
    "pty-req": lambda ch: _request(ch, "pty-req", "vt100", 80, 24, 0, 0, b""),
    "subsystem sftp": lambda ch: _request(ch, "subsystem", "sftp"),
    "subsystem NETCONF": lambda ch: _request(ch, "subsystem", "NETCONF"),
    "x11-req": lambda ch: _request(ch, "x11-req", False, "MIT-MAGIC-COOKIE-1", "00" * 16, 0),
    "env": lambda ch: _request(ch, "env", "LD_PRELOAD", "/tmp/x.so"),
    "auth-agent-req@openssh.com": lambda ch: _request(ch, "auth-agent-req@openssh.com"),
}


def test_every_channel_request_but_netconf_is_refused(harness):
    t = _connect(harness, _start(harness))
    try:
        for request in REFUSED.values():
            ch = t.open_session(timeout=10)
            with pytest.raises(paramiko.SSHException, match="refused"):
                request(ch)
            ch.close()
        with pytest.raises(paramiko.SSHException):
            t.request_port_forward("127.0.0.1", 0)
        with pytest.raises(paramiko.ChannelException):
            t.open_channel("direct-tcpip", ("127.0.0.1", 22), ("127.0.0.1", 1), timeout=10)
        # after all that, the connection still serves NETCONF
        ch = _netconf(t)
        # a second subsystem on a channel that has one is refused too
        with pytest.raises(paramiko.SSHException):
            _request(ch, "subsystem", "netconf")
    finally:
        t.close()


def test_sessions_per_connection_capped(harness):
    t = _connect(harness, _start(harness))
    try:
        limit = harness.agent.server.limits.max_sessions_per_connection
        channels = [_netconf(t) for _ in range(limit)]
        with pytest.raises(paramiko.ChannelException):
            t.open_session(timeout=10)
        channels.pop().close()
        assert wait_for(lambda: len(harness.agent.server.sessions) == limit - 1)
        channels.append(_netconf(t))  # a freed slot can be used again
        assert t.is_active()
    finally:
        t.close()


def test_authentication_attempts_capped(harness, caplog):
    caplog.set_level(logging.INFO, logger="agent")
    t = _connect(harness, _start(harness), auth=False)
    tried = 0
    try:
        # AuthenticationException each time, then the disconnect (or a reset: our attempts were unread)
        with pytest.raises((paramiko.SSHException, OSError, EOFError)):
            for _ in range(50):
                tried += 1
                try:
                    t.auth_publickey("admin", paramiko.Ed25519Key.generate() if hasattr(paramiko.Ed25519Key, "generate")
                                     else paramiko.ECDSAKey.generate())
                except paramiko.AuthenticationException:
                    continue
    finally:
        t.close()
    # the agent hung up after its 6th refusal; paramiko reports the hang-up
    # as a failed attempt while it has not noticed it, so a few more may count
    assert not t.is_active() and tried <= MAX_AUTH_TRIES + 3
    state = harness.agent.callhome.states["nms"]
    assert wait_for(lambda: any(f"{MAX_AUTH_TRIES} authentication attempts refused" in a.result for a in state.attempts))


def test_no_authentication_after_key_exchange_is_dropped_at_login_timeout(harness, caplog):
    caplog.set_level(logging.INFO, logger="agent")
    lst = _start(harness, login_timeout=2)
    t = _connect(harness, lst, auth=False)
    t0 = time.monotonic()
    try:
        assert wait_for(lambda: not t.is_active(), timeout=15)
    finally:
        t.close()
    assert time.monotonic() - t0 >= 1.5
    state = harness.agent.callhome.states["nms"]
    assert wait_for(lambda: any("key exchange done, no public key offered" in a.result for a in state.attempts))


def test_global_request_flood_does_not_stall_other_managers(harness):
    l1, l2 = start_two_managers(harness, ("flood", "calm"))
    flooder = _connect(harness, l1)
    calm = l2.accept(harness)
    done = threading.Event()

    def flood():
        m = paramiko.Message()
        m.add_byte(cMSG_GLOBAL_REQUEST)
        m.add_string("keepalive@openssh.com")
        m.add_boolean(True)
        try:
            for _ in range(20000):
                flooder._send_user_message(m)
        except Exception:
            pass
        done.set()

    th = threading.Thread(target=flood, daemon=True)
    th.start()
    try:
        served = 0
        while not done.is_set() and served < 50:
            assert "<netconf-server" in calm.get_config(source="running").data_xml
            served += 1
        assert served >= 1
        th.join(60)
        assert done.is_set()
        assert "<netconf-server" in calm.get_config(source="running").data_xml
        calm.close_session()
    finally:
        flooder.close()


def test_a_manager_that_resets_right_after_close_session_is_called_again(harness):
    """The manager sends <close-session> and resets the TCP connection without
    waiting for the reply. The agent's exit-status, EOF and channel close then
    meet a dead socket, and libssh closes its descriptor on that write error:
    the end must still reach call home, which dials again (it once did not,
    and a box in the field would have stopped calling home)."""
    import socket
    import struct

    lst = _start(harness)
    close = (b'<?xml version="1.0" encoding="UTF-8"?><rpc message-id="1" '
             b'xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><close-session/></rpc>]]>]]>')
    for _ in range(8):
        t = _connect(harness, lst)
        ch = _netconf(t)
        ch.sendall(HELLO + close)
        reply = b""
        while b"<ok/>" not in reply:
            chunk = ch.recv(65536)
            if not chunk:
                break
            reply += chunk
        sock = t.sock
        # RST instead of FIN: the agent's next writes fail at once
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        t.close()
    t = _connect(harness, lst)
    _netconf(t)
    t.close()
