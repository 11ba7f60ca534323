"""End to end over real sockets: the agent calls home, ncclient is the manager."""

from __future__ import annotations

import asyncio
import logging
import time

import asyncssh
import pytest
from ncclient.operations import RPCError

from agent.callhome import build
from agent.transport import tcp

from .support import (
    CALL_HOME_FILTER,
    NCS,
    client_edit,
    data_content,
    free_port,
    start_two_managers,
    two_managers,
    wait_for,
    wrap,
    yanglint,
)


@pytest.fixture
def one(harness):
    """An agent with one client calling home to one listener; yields (harness, listener, manager)."""
    lst = harness.listener()
    ep = build.Endpoint("primary", "127.0.0.1", lst.port, keepalives=(20, 4, 5))
    harness.start(harness.config([harness.client("nms", [ep])]))
    m = lst.accept(harness)
    yield harness, lst, m
    try:
        m.close_session()
    except Exception:
        pass


def test_hello_and_capabilities(one):
    harness, _, m = one
    caps = set(m.server_capabilities)
    assert "urn:ietf:params:netconf:base:1.1" in caps
    assert "urn:ietf:params:netconf:capability:writable-running:1.0" in caps
    for cap in ("candidate:1.0", "confirmed-commit:1.1", "startup:1.0", "validate:1.1", "rollback-on-error:1.0", "xpath:1.0"):
        assert f"urn:ietf:params:netconf:capability:{cap}" in caps
    assert not any("tls-server-keepalives" in c or ":url:" in c for c in caps)
    assert any(c.startswith("urn:ietf:params:netconf:capability:yang-library:1.1") for c in caps)
    assert m.session_id == "1"


def test_get_and_get_config(one):
    harness, lst, m = one
    cfg = m.get_config(source="running").data_xml
    assert f"<remote-port>{lst.port}</remote-port>" in cfg
    assert "<max-probes>4</max-probes>" in cfg
    filtered = m.get_config(source="running", filter=("subtree", f'<netconf-server xmlns="{NCS}"><call-home><netconf-client><name>nms</name><reconnect-strategy/></netconf-client></call-home></netconf-server>')).data_xml
    assert "<max-wait>1</max-wait>" in filtered and "endpoints" not in filtered
    nothing = m.get_config(source="running", filter=("subtree", f'<netconf-server xmlns="{NCS}"><call-home><netconf-client><name>other</name></netconf-client></call-home></netconf-server>')).data_xml
    assert "netconf-client" not in nothing
    state = m.get().data_xml
    assert "yang-library" in state and "ietf-netconf-server" in state


def test_with_defaults_modes(one):
    _, _, m = one
    explicit = m.get_config(source="running", filter=CALL_HOME_FILTER).data_xml
    assert "<local-port>" not in explicit
    report_all = m.get_config(source="running", filter=CALL_HOME_FILTER, with_defaults="report-all").data_xml
    assert "<local-port>0</local-port>" in report_all
    tagged = m.get_config(source="running", filter=CALL_HOME_FILTER, with_defaults="report-all-tagged").data_xml
    assert 'default="true">0</local-port>' in tagged


def test_private_keys_never_returned(harness):
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("p", "127.0.0.1", lst.port)])]))
    m = lst.accept(harness)
    der = harness.host_key.export_private_key("pkcs8-der")
    import base64

    secret = base64.b64encode(der).decode()
    # replace the hidden key by a cleartext one, then read everything back
    m.edit_config(target="running", config=client_edit("nms",
        "<endpoints><endpoint><name>p</name><ssh><ssh-server-parameters><server-identity><host-key><name>device</name>"
        "<public-key><inline-definition>"
        '<private-key-format xmlns:ct="urn:ietf:params:xml:ns:yang:ietf-crypto-types">ct:one-asymmetric-key-format</private-key-format>'
        f"<cleartext-private-key>{secret}</cleartext-private-key></inline-definition></public-key></host-key>"
        "</server-identity></ssh-server-parameters></ssh></endpoint></endpoints>"))
    m = lst.accept(harness)  # the endpoint changed: the agent called back
    assert secret not in m.get_config(source="running").data_xml
    assert secret not in m.get().data_xml
    assert "<cleartext-private-key" not in m.get().data_xml
    m.close_session()


def test_edit_config_operations_over_the_wire(one):
    harness, _, m = one
    m.edit_config(target="running", config=client_edit("nms",
        "<endpoints><endpoint><name>backup</name><ssh><tcp-client-parameters><remote-address>192.0.2.50</remote-address>"
        "</tcp-client-parameters><ssh-server-parameters><server-identity><host-key><name>device</name><public-key>"
        f"<inline-definition><public-key-format xmlns:ct=\"urn:ietf:params:xml:ns:yang:ietf-crypto-types\">ct:ssh-public-key-format"
        f"</public-key-format><public-key>{harness.host_b64}</public-key><hidden-private-key/></inline-definition></public-key>"
        "</host-key></server-identity></ssh-server-parameters></ssh></endpoint></endpoints>"))
    assert "192.0.2.50" in m.get_config(source="running", filter=CALL_HOME_FILTER).data_xml
    # create of an existing entry
    with pytest.raises(RPCError) as e:
        m.edit_config(target="running", config=client_edit("nms", '<endpoints><endpoint nc:operation="create"><name>backup</name></endpoint></endpoints>'))
    assert e.value.tag == "data-exists"
    # replace a container
    m.edit_config(target="running", config=client_edit("nms", '<reconnect-strategy nc:operation="replace"><max-attempts>2</max-attempts></reconnect-strategy>'))
    cfg = m.get_config(source="running", filter=CALL_HOME_FILTER).data_xml
    assert "<max-attempts>2</max-attempts>" in cfg and "<max-wait>" not in cfg
    # delete, then delete again, then remove
    m.edit_config(target="running", config=client_edit("nms", '<endpoints><endpoint nc:operation="delete"><name>backup</name></endpoint></endpoints>'))
    with pytest.raises(RPCError) as e:
        m.edit_config(target="running", config=client_edit("nms", '<endpoints><endpoint nc:operation="delete"><name>backup</name></endpoint></endpoints>'))
    assert e.value.tag == "data-missing"
    m.edit_config(target="running", config=client_edit("nms", '<endpoints><endpoint nc:operation="remove"><name>backup</name></endpoint></endpoints>'))
    # test-only validates and changes nothing
    before = m.get_config(source="running").data_xml
    m.edit_config(target="running", test_option="test-only", config=client_edit("nms", "<reconnect-strategy><max-wait>30</max-wait></reconnect-strategy>"))
    assert m.get_config(source="running").data_xml == before
    # none of this touched the live session (the connected endpoint did not change)
    assert harness.agent.callhome.states["nms"].connections == 1


@pytest.mark.parametrize(
    "body, tag, path_end",
    [
        ("<no-such>1</no-such>", "unknown-element", "netconf-client[ietf-netconf-server:name='nms']"),
        ("<reconnect-strategy><max-wait>later</max-wait></reconnect-strategy>", "invalid-value", "ietf-netconf-server:max-wait"),
        ("<endpoints><endpoint><name>primary</name><ssh><tcp-client-parameters><keepalives><idle-time>0</idle-time>"
         "</keepalives></tcp-client-parameters></ssh></endpoint></endpoints>", "invalid-value", "ietf-netconf-server:idle-time"),
        ("<endpoints><endpoint><name>primary</name><ssh><tcp-client-parameters><keepalives><idle-time>40000</idle-time>"
         "</keepalives></tcp-client-parameters></ssh></endpoint></endpoints>", "invalid-value", "ietf-netconf-server:idle-time"),
        ('<endpoints><endpoint><name>primary</name><ssh><tcp-client-parameters><remote-address nc:operation="delete"/>'
         "</tcp-client-parameters></ssh></endpoint></endpoints>", "data-missing", "ietf-netconf-server:remote-address"),
        # a period of 0 has no next start: refused here, not a dead client task later
        ("<connection-type><periodic><period>0</period></periodic></connection-type>", "invalid-value", "ietf-netconf-server:period"),
    ],
    ids=["unknown-leaf", "max-wait-not-a-number", "idle-time-0", "idle-time-40000", "remote-address-deleted", "period-0"],
)
def test_invalid_edits_answer_rpc_error_and_change_nothing(one, body, tag, path_end):
    harness, _, m = one
    before = m.get_config(source="running").data_xml
    with pytest.raises(RPCError) as e:
        m.edit_config(target="running", config=client_edit("nms", body))
    assert e.value.tag == tag
    assert e.value.path.strip().endswith(path_end)
    assert m.get_config(source="running").data_xml == before
    assert harness.agent.callhome.states["nms"].connections == 1


def test_get_config_output_validates_with_yanglint(one, tmp_path, yang_dirs):
    _, _, m = one
    (tmp_path / "running.xml").write_text(data_content(m.get_config(source="running").data_xml))
    out = yanglint("config", tmp_path / "running.xml", yang_dirs)
    assert out.returncode == 0, out.stderr


def test_keepalive_options_on_the_socket_equal_the_config(one):
    harness, _, m = one
    ka = tcp.read_keepalives(harness.agent.callhome.states["nms"].sock)
    assert ka == {"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 20, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 4, "TCP_USER_TIMEOUT": 40_000}


def test_no_keepalives_container_means_no_keepalives(harness):
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("p", "127.0.0.1", lst.port)])]))
    m = lst.accept(harness)
    ka = tcp.read_keepalives(harness.agent.callhome.states["nms"].sock)
    assert ka["SO_KEEPALIVE"] == 0 and ka["TCP_USER_TIMEOUT"] == 0
    m.close_session()


def test_an_internal_error_does_not_end_call_home(harness, monkeypatch, caplog):
    """A bug that escapes a client task is logged, and the client starts over."""
    from agent.callhome import manager

    hold = manager.CallHomeManager._hold
    calls = []

    async def fails_once(self, cfg, ep, state, conn, *args):
        calls.append(ep.name)
        if len(calls) == 1:
            conn.close()
            raise RuntimeError("a bug")
        return await hold(self, cfg, ep, state, conn, *args)

    monkeypatch.setattr(manager.CallHomeManager, "_hold", fails_once)
    monkeypatch.setattr(manager, "RESTART_DELAY", 0.2)
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]))
    with pytest.raises(Exception):
        lst.accept(harness)  # authenticated, then dropped by the bug
    m = lst.accept(harness)
    assert calls == ["a", "a"]
    assert "call home nms: internal error; starting over" in caplog.text and "RuntimeError: a bug" in caplog.text
    m.close_session()


def test_failover_to_second_endpoint_then_start_with(harness):
    dead = free_port()  # nothing listens there: connection refused
    lst = harness.listener()
    eps = [build.Endpoint("dead", "127.0.0.1", dead), build.Endpoint("live", "127.0.0.1", lst.port)]
    harness.start(harness.config([harness.client("nms", eps, max_attempts=2, max_wait=1)]))
    t0 = time.monotonic()
    m = lst.accept(harness)
    elapsed = time.monotonic() - t0
    state = harness.agent.callhome.states["nms"]
    assert [a.endpoint for a in state.attempts] == ["dead", "dead", "live"]
    assert state.attempts[0].result == "Connection refused"
    assert elapsed >= 1.5  # two attempts, each holding the max-wait slot
    # the manager ends the session: first-listed means the dead one is tried again first
    m.close_session()
    m = lst.accept(harness)
    assert [a.endpoint for a in state.attempts][3:] == ["dead", "dead", "live"]
    # switch to last-connected: the next reconnect goes straight to "live"
    m.edit_config(target="running", config=client_edit("nms", "<reconnect-strategy><start-with>last-connected</start-with></reconnect-strategy>"))
    m.close_session()
    m = lst.accept(harness)
    assert state.attempts[-1].endpoint == "live" and state.attempts[-2].endpoint == "live"
    m.close_session()


def test_lock_contention_and_kill_session(harness):
    (l1, m1), (l2, m2) = two_managers(harness, ("nms1", "nms2"))
    m1.lock("running")
    with pytest.raises(RPCError) as e:
        m2.lock("running")
    assert e.value.tag == "lock-denied"
    assert m1.session_id in e.value.info
    with pytest.raises(RPCError) as e:
        m2.edit_config(target="running", config=client_edit("nms2", "<reconnect-strategy><max-wait>3</max-wait></reconnect-strategy>"))
    assert e.value.tag == "in-use"
    with pytest.raises(RPCError) as e:
        m2.unlock("running")
    assert e.value.tag == "operation-failed"
    m1.unlock("running")
    m2.lock("running")
    # kill-session frees the lock and closes the victim's transport
    m1.kill_session(m2.session_id)
    assert wait_for(lambda: not m2.connected)
    m1.lock("running")
    m1.unlock("running")
    with pytest.raises(RPCError) as e:
        m1.kill_session(m1.session_id)
    assert e.value.tag == "invalid-value"
    # nms2 is persistent: it calls home again
    m2b = l2.accept(harness)
    assert int(m2b.session_id) > int(m1.session_id)
    m1.close_session()
    m2b.close_session()


def test_unaffected_client_keeps_its_session(harness, caplog):
    """A change that needs a new connection re-dials that client only, and the log says why."""
    caplog.set_level(logging.INFO, logger="agent.callhome")
    (l1, m1), (l2, m2) = two_managers(harness, ("nms1", "nms2"), endpoints={"nms2": dict(keepalives=(60, 3, 10))})
    m1.edit_config(target="running", config=client_edit("nms2",
        "<endpoints><endpoint><name>a</name><ssh><tcp-client-parameters><local-address>127.0.0.3</local-address>"
        "<keepalives><idle-time>30</idle-time></keepalives></tcp-client-parameters></ssh></endpoint></endpoints>"))
    assert wait_for(lambda: not m2.connected)
    m2 = l2.accept(harness)
    state = harness.agent.callhome.states["nms2"]
    assert state.sock.getsockname()[0] == "127.0.0.3" and state.connections == 2
    assert tcp.read_keepalives(state.sock)["TCP_KEEPIDLE"] == 30
    assert "call home nms2: local binding changed: re-dialling" in caplog.text
    assert m1.connected and harness.agent.callhome.states["nms1"].connections == 1
    m1.get_config(source="running")
    m1.close_session()
    m2.close_session()


def test_keepalives_are_retuned_on_the_live_socket(harness, caplog):
    """A manager retunes its own endpoint's keepalives: the same socket, the new
    kernel values, no re-dial; removing the container turns them off in place."""
    caplog.set_level(logging.INFO, logger="agent.callhome")
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port, keepalives=(60, 3, 10))])]))
    m = lst.accept(harness)
    state = harness.agent.callhome.states["nms"]
    sock = state.sock
    m.edit_config(target="running", config=client_edit("nms",
        "<endpoints><endpoint><name>a</name><ssh><tcp-client-parameters><keepalives><idle-time>25</idle-time>"
        "<max-probes>5</max-probes><probe-interval>7</probe-interval></keepalives></tcp-client-parameters></ssh></endpoint></endpoints>"))
    assert tcp.read_keepalives(sock) == {"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 25, "TCP_KEEPINTVL": 7, "TCP_KEEPCNT": 5,
                                         "TCP_USER_TIMEOUT": 60_000}
    assert "TCP keepalives on a retuned in place (idle 25 s, 5 probes every 7 s)" in caplog.text
    m.edit_config(target="running", config=client_edit("nms",
        '<endpoints><endpoint><name>a</name><ssh><tcp-client-parameters><keepalives nc:operation="delete"/>'
        "</tcp-client-parameters></ssh></endpoint></endpoints>"))
    ka = tcp.read_keepalives(sock)
    assert ka["SO_KEEPALIVE"] == 0 and ka["TCP_USER_TIMEOUT"] == 0
    assert m.connected and state.sock is sock and state.connections == 1 and "re-dialling" not in caplog.text
    m.get_config(source="running")
    m.close_session()


def test_removed_client_is_disconnected(harness):
    (l1, m1), (l2, m2) = two_managers(harness, ("nms1", "nms2"))
    m1.edit_config(target="running", config=wrap('<netconf-client nc:operation="delete"><name>nms2</name></netconf-client>'))
    assert wait_for(lambda: not m2.connected)
    assert "nms2" not in harness.agent.callhome.tasks
    m1.close_session()


def _raw_netconf(harness, lst, send: bytes) -> bytes:
    """Accept a call home with a bare asyncssh client and push raw bytes."""

    async def run():
        sock = lst.accept_raw()
        async with asyncssh.connect(sock=sock, username="admin", client_keys=[harness.client_key], known_hosts=None) as conn:
            writer, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
            got = b""
            while b"]]>]]>" not in got:
                got += await reader.read(65536)
            writer.write(b'<hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities>'
                         b"<capability>urn:ietf:params:netconf:base:1.1</capability></capabilities></hello>]]>]]>")
            writer.write(send)
            out = b""
            try:
                while chunk := await asyncio.wait_for(reader.read(65536), 5):
                    out += chunk
            except TimeoutError:
                pass
            return out

    return asyncio.run(run())


@pytest.mark.parametrize("garbage", [b"\n#01\n<rpc/>\n##\n", b"\nX5\nhello", b"\n#99999999999\n"])
def test_framing_errors_close_that_session_only(harness, garbage):
    l1, l2 = start_two_managers(harness, ("good", "bad"))
    m1 = l1.accept(harness)
    out = _raw_netconf(harness, l2, garbage)
    assert b"rpc-reply" not in out  # closed, not answered
    assert wait_for(lambda: len(harness.agent.server.sessions) == 1)
    assert "<data" in m1.get_config(source="running").data_xml
    m1.close_session()


def test_oversize_message_closes_the_session(harness):
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]), max_message_size=4096)
    out = _raw_netconf(harness, lst, b"\n#8000\n" + b"x" * 8000)
    assert b"rpc-reply" not in out
    assert wait_for(lambda: not harness.agent.server.sessions)


def test_rpc_errors_for_malformed_rpcs_keep_the_session(harness):
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]))

    def chunk(x: bytes) -> bytes:
        return b"\n#%d\n%s\n##\n" % (len(x), x)

    out = _raw_netconf(harness, lst, chunk(b'<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><get/></rpc>')
                       + chunk(b"<rpc><oops></rpc>")
                       + chunk(b'<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="7"><frobnicate/></rpc>')
                       + chunk(b'<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="8"><get-config><source><running/></source></get-config></rpc>'))
    text = out.decode()
    assert text.index("missing-attribute") < text.index("malformed-message") < text.index("operation-not-supported") < text.index("<data")
    assert 'message-id="8"' in text


def test_configuration_survives_a_restart(harness):
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]))
    m = lst.accept(harness)
    m.edit_config(target="running", config=client_edit("nms", "<reconnect-strategy><max-attempts>7</max-attempts></reconnect-strategy>"))
    m.edit_config(target="running", config=client_edit("nms", "<reconnect-strategy><max-wait>4</max-wait></reconnect-strategy>"))
    m.copy_config(source="running", target="startup")  # :startup: only startup is kept on flash
    m.edit_config(target="running", config=client_edit("nms", "<reconnect-strategy><max-wait>3</max-wait></reconnect-strategy>"))
    m.close_session()
    harness.stop()
    stored = harness.state_dir / "startup.cbor"
    assert stored.stat().st_mode & 0o777 == 0o600
    (harness.tmp / "initial.xml").unlink()
    lst.reset()  # the first agent may have called back before it stopped
    harness.start(None)  # no --config: only the stored configuration
    m = lst.accept(harness)
    running = m.get_config(source="running").data_xml
    assert "<max-attempts>7</max-attempts>" in running and "<max-wait>4</max-wait>" in running
    assert running == m.get_config(source="startup").data_xml  # the agent boots from startup
    m.close_session()


def test_unauthenticated_manager_is_dropped(harness):
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]), login_timeout=1)
    sock = lst.accept_raw()
    sock.recv(100)  # the SSH banner; then say nothing
    sock.settimeout(5)
    t0 = time.monotonic()
    try:
        while sock.recv(4096):
            pass
    except (TimeoutError, ConnectionResetError):
        pass
    assert time.monotonic() - t0 < 4
    sock.close()


def test_wrong_key_or_unknown_user_is_rejected(harness):
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]))
    other = asyncssh.generate_private_key("ssh-ed25519")
    other_file = harness.tmp / "other.key"
    other.write_private_key(str(other_file))
    from ncclient.transport.errors import AuthenticationError

    with pytest.raises(AuthenticationError):
        lst.accept(harness, key=other_file)
    with pytest.raises(AuthenticationError):
        lst.accept(harness, username="mallory")
    m = lst.accept(harness)  # the agent keeps calling home
    m.close_session()


def test_local_address_is_honoured(harness):
    lst = harness.listener()
    ep = build.Endpoint("a", "127.0.0.1", lst.port, local_address="127.0.0.2")
    harness.start(harness.config([harness.client("nms", [ep])]))
    sock = lst.accept_raw()
    assert sock.getpeername()[0] == "127.0.0.2"
    sock.close()


def test_agent_state(one):
    _, _, m = one
    state = m.get(filter=("subtree", '<agent-state xmlns="urn:dpu-agent:yang:dpu-agent"/>')).data_xml
    assert "<loaded-from>initial-file</loaded-from>" in state
    assert "<last-reset-reason>unknown</last-reset-reason>" in state


def test_last_connected_survives_a_restart(harness):
    dead = free_port()
    lst = harness.listener()
    eps = [build.Endpoint("dead", "127.0.0.1", dead), build.Endpoint("live", "127.0.0.1", lst.port)]
    harness.start(harness.config([harness.client("nms", eps, max_attempts=1, start_with="last-connected")]))
    m = lst.accept(harness)
    m.close_session()
    harness.stop()
    lst.reset()
    harness.start(None)
    m = lst.accept(harness)
    assert [a.endpoint for a in harness.agent.callhome.states["nms"].attempts] == ["live"]
    m.close_session()


def test_an_ended_connection_gives_its_memory_back(harness, monkeypatch):
    """What a call-home connection held is freed in between allocations that
    live on; the allocator keeps those holes unless told (agent/memory.py):
    released once the connection is over, not only after large work."""
    from agent import memory

    released = []
    monkeypatch.setattr(memory, "release", lambda: released.append(time.monotonic()))
    lst = harness.listener()
    harness.start(harness.config([harness.client("nms", [build.Endpoint("a", "127.0.0.1", lst.port)])]))
    m = lst.accept(harness)
    m.get_config(source="running")
    assert released == []  # small work: nothing to give back yet
    m.close_session()
    assert wait_for(lambda: len(released) == 1)
    lst.accept(harness).close_session()  # the next call home, ended too
    assert wait_for(lambda: len(released) == 2)
