"""TLS call home end to end (RFC 7589, RFC 8071): the agent dials, then is the
TLS server; the manager is netconf-client's session over Python's ssl with a
context the test chooses (TLS 1.3 or 1.2)."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import subprocess
import threading

import pytest
from cryptography.hazmat.primitives import serialization as s
from ncclient.operations import RPCError

from agent.callhome import build
from agent.callhome.config import read_clients
from agent.transport import keys, tcp, tls
from agent.transport.cert_to_name import CertToNameError, fingerprint

from .support import CALL_HOME_FILTER, client_edit, pki, start_two_managers, wait_for

YANG_LIBRARY = ("subtree", '<yang-library xmlns="urn:ietf:params:xml:ns:yang:ietf-yang-library"/>')


def tls_client(harness, port: int, name: str = "nms", **kw) -> build.Client:
    kw.setdefault("tls", harness.tls.server())
    return harness.client(name, [build.Endpoint("t", "127.0.0.1", port, transport="tls", keepalives=kw.pop("keepalives", None))], **kw)


def test_tls13_then_tls12_session(harness):
    lst = harness.listener()
    harness.start(harness.config([tls_client(harness, lst.port)]))
    # The manager trusts the vendor root only: the device must send its
    # intermediate CA (RFC 8071 S4) for this to verify.
    m = lst.accept_tls(harness.tls.context(version=ssl.TLSVersion.TLSv1_3))
    assert m.session.sock.version() == "TLSv1.3"
    assert "urn:ietf:params:netconf:base:1.1" in m.session.server_capabilities
    (session,) = harness.agent.server.sessions.values()
    assert (session.username, session.transport) == ("admin", "netconf-tls")
    assert "<remote-port>%d</remote-port>" % lst.port in m.get_config(source="running").data_xml.decode()
    m.edit_config(config=client_edit("nms", "<reconnect-strategy><max-attempts>4</max-attempts></reconnect-strategy>"))
    assert "<max-attempts>4</max-attempts>" in m.get_config(source="running", filter=CALL_HOME_FILTER).data_xml.decode()
    library = m.get(filter=YANG_LIBRARY).data_xml.decode()
    assert "<feature>tls-call-home</feature>" in library and "tls-server-keepalives" not in library
    m.close_session()
    # persistent: it calls again; this manager speaks TLS 1.2 only
    m = lst.accept_tls(harness.tls.context(version=ssl.TLSVersion.TLSv1_2))
    assert m.session.sock.version() == "TLSv1.2"
    assert m.session.sock.cipher()[0].startswith("ECDHE-")
    m.close_session()


def test_kernel_keepalives_on_the_tls_socket(harness):
    lst = harness.listener()
    harness.start(harness.config([tls_client(harness, lst.port, keepalives=(20, 4, 5))]))
    m = lst.accept_tls(harness.tls.context())
    assert wait_for(lambda: harness.agent.callhome.states["nms"].sock is not None)
    ka = tcp.read_keepalives(harness.agent.callhome.states["nms"].sock)
    assert ka == {"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": 20, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 4, "TCP_USER_TIMEOUT": 40_000}
    m.close_session()


def test_pinned_end_entity_certificate(harness):
    """ee-certs: exactly that certificate is trusted; its siblings under the
    same CA are not."""
    t = harness.tls
    sibling = pki.leaf("pma-2", t.operator_issuing, dns=("pma-2.example.net",))
    server = t.server(
        ca_certs={}, ee_certs={"pma-1": t.manager.der},
        cert_to_name=[build.CertToName(7, "san-dns-name", fingerprint(t.manager.der))],
    )
    l1, l2 = harness.listener(), harness.listener()
    eps = [build.Endpoint("a", "127.0.0.1", l1.port, transport="tls"), build.Endpoint("b", "127.0.0.1", l2.port, transport="tls")]
    harness.start(harness.config([harness.client("nms", eps, tls=server, max_attempts=1)]))
    with pytest.raises(Exception):
        l1.accept_tls(t.context(sibling)).get_config(source="running")
    m = l2.accept_tls(t.context())
    (session,) = harness.agent.server.sessions.values()
    assert session.username == "pma.example.net"  # san-dns-name, lower-cased
    assert harness.agent.callhome.states["nms"].attempts[0].result.startswith("client certificate rejected")
    m.close_session()


def test_tls_keepalives_are_refused_with_the_reason(harness):
    """The leaves exist only behind tls-server-keepalives, which is never
    advertised; a manager that sets them learns why and what to use."""
    ssh_lst, tls_lst = start_two_managers(harness, ("ops", "nms"), endpoints={"ops": dict(name="s"), "nms": dict(name="t", transport="tls")},
                                          clients={"nms": dict(tls=harness.tls.server())})
    m = ssh_lst.accept(harness)
    tm = tls_lst.accept_tls(harness.tls.context())
    before = m.get_config(source="running").data_xml
    with pytest.raises(RPCError) as e:
        m.edit_config(target="running", config=client_edit("nms",
            "<endpoints><endpoint><name>t</name><tls><tls-server-parameters><keepalives><test-peer-aliveness>"
            "<max-wait>30</max-wait></test-peer-aliveness></keepalives></tls-server-parameters></tls></endpoint></endpoints>"))
    assert e.value.tag == "unknown-element"
    assert "RFC 6520" in e.value.message and "tls/tcp-client-parameters/keepalives" in e.value.message
    assert e.value.path.strip().endswith("ietf-netconf-server:tls-server-parameters")
    assert m.get_config(source="running").data_xml == before
    # what the message points to works, and applies to the TLS socket
    m.edit_config(target="running", config=client_edit("nms",
        "<endpoints><endpoint><name>t</name><tls><tcp-client-parameters><keepalives><idle-time>25</idle-time>"
        "<max-probes>3</max-probes><probe-interval>5</probe-interval></keepalives></tcp-client-parameters></tls></endpoint></endpoints>"))
    # on the TLS connection as it is: no new connection for it
    state = harness.agent.callhome.states["nms"]
    assert tcp.read_keepalives(state.sock)["TCP_KEEPIDLE"] == 25 and state.connections == 1
    # and the Linux range deviation covers the TLS case too
    with pytest.raises(RPCError) as e:
        m.edit_config(target="running", config=client_edit("nms",
            "<endpoints><endpoint><name>t</name><tls><tcp-client-parameters><keepalives><max-probes>500</max-probes>"
            "</keepalives></tcp-client-parameters></tls></endpoint></endpoints>"))
    assert e.value.tag == "invalid-value"
    tm.close_session()
    m.close_session()


def _params(schema, harness, server: build.TlsServer) -> dict:
    tree = schema.parse(build.config_xml([harness.client("nms", [build.Endpoint("t", "192.0.2.1", 4335, transport="tls")], tls=server)], harness.host_b64)
                        .replace('<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">', "").replace("</config>", ""), "xml")
    try:
        return json.loads(read_clients(tree)["nms"].endpoints[0].server_params)
    finally:
        tree.free()


def test_server_key_resolution(schema, harness):
    t = harness.tls
    params = _params(schema, harness, t.server())
    keys_dir = harness.state_dir / "keys"
    assert isinstance(tls.params_from_config(params, keys_dir), tls.TlsServerParams)
    # hidden key not provisioned: a clear error that names neither key nor file content
    with pytest.raises(keys.KeyMaterialError, match="no private key for it in"):
        tls.params_from_config(params, harness.tmp / "empty")
    # the same key given inline instead (one-asymmetric-key-format, PKCS#8 DER)
    inline = params["tls-server-parameters"]["server-identity"]["certificate"]["inline-definition"]
    del inline["hidden-private-key"]
    inline["private-key-format"] = "ietf-crypto-types:one-asymmetric-key-format"
    inline["cleartext-private-key"] = base64.b64encode(t.device.key.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())).decode()
    assert tls.params_from_config(params, harness.tmp / "empty").cert_to_name[0].name == "admin"
    # a key that is not the certificate's
    inline["cleartext-private-key"] = base64.b64encode(t.manager.key.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())).decode()
    with pytest.raises(keys.KeyMaterialError, match="private and public key do not match"):
        tls.params_from_config(params, harness.tmp / "empty")


def test_md5_fingerprint_is_a_configuration_error(schema, harness):
    md5 = "01:" + ":".join(["ab"] * 16)
    params = _params(schema, harness, harness.tls.server(cert_to_name=[build.CertToName(3, "specified", md5, "x")]))
    with pytest.raises(CertToNameError, match="cert-to-name 3: fingerprint hash algorithm 1"):
        tls.params_from_config(params, harness.state_dir / "keys")


def test_key_provisioned_later_is_picked_up(harness):
    """Key material is resolved per attempt: a missing key is a connection
    error in the client's state until the file appears."""
    key_file = harness.state_dir / "keys" / "device-tls.pem"
    lst = harness.listener()
    client = tls_client(harness, lst.port)
    key_file.rename(harness.tmp / "later.pem")
    harness.start(harness.config([client]))
    state = harness.agent.callhome.states["nms"]
    assert wait_for(lambda: state.last_error is not None)
    assert "no private key for it" in state.last_error
    (harness.tmp / "later.pem").rename(key_file)
    m = lst.accept_tls(harness.tls.context())
    assert wait_for(lambda: state.connected_endpoint == "t")
    m.close_session()


def test_pinned_certificate_is_never_an_issuer():
    """Should OpenSSL ever take an ee-certs entry as an issuer (an X.509 v1
    certificate has no basicConstraints to forbid it), the agent refuses."""
    pinned = pki.ca("pinned, but able to sign")
    leaf = pki.leaf("signed by the pinned one", pinned)
    params = tls.TlsServerParams(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), (), frozenset({pinned.der}), ())
    name, why = tls.authorize(params, [leaf.der, pinned.der])
    assert name is None and "trusted only as an end-entity certificate" in why


def test_cert_to_name_user_is_the_nacm_user(harness):
    """The name cert-to-name derives is the session's user for NACM (RFC 7589 S7):
    the factory configuration makes admins of the users it can name ("specified"),
    not of names a certificate's SAN gives."""
    from netconf_client.error import RpcError as ClientRpcError

    t = harness.tls
    by_san = build.CertToName(1, "san-dns-name", fingerprint(t.manager.der))
    specified = build.CertToName(2, "specified", fingerprint(t.operator_root.der), "tls-ops")
    l1, l2 = start_two_managers(harness, ("san", "ops"), endpoints={n: dict(name="t", transport="tls") for n in ("san", "ops")},
                                clients={"san": dict(tls=t.server(cert_to_name=[by_san]), users={}),
                                         "ops": dict(tls=t.server(cert_to_name=[specified]), users={})})
    reader, admin = l1.accept_tls(t.context()), l2.accept_tls(t.context())
    assert {s.username for s in harness.agent.server.sessions.values()} == {"pma.example.net", "tls-ops"}
    with pytest.raises(ClientRpcError) as e:
        reader.edit_config(config=client_edit("san", "<reconnect-strategy><max-attempts>2</max-attempts></reconnect-strategy>"))
    assert e.value.tag == "access-denied"
    admin.edit_config(config=client_edit("ops", "<reconnect-strategy><max-attempts>2</max-attempts></reconnect-strategy>"))
    reader.close_session()
    admin.close_session()


def test_a_tls_error_is_not_described_as_an_errno():
    """A TLS failure after the handshake (a refused renegotiation) is logged as
    what it is, not as errno 1 ("Operation not permitted")."""
    from agent.callhome.manager import _describe
    from agent.transport.stream import Activity

    activity = Activity()
    proto = tls._Protocol(None, None, "peer", activity)
    err = ssl.SSLError(1, "[SSL: NO_RENEGOTIATION] no renegotiation")
    err.reason = "NO_RENEGOTIATION"
    proto.connection_lost(err)
    assert _describe(activity.lost) == "TLS error: NO_RENEGOTIATION"


def _alert(lst, context: ssl.SSLContext) -> str:
    """The reason the manager's ssl module gives for the agent's refusal."""
    conn = lst.accept_raw()
    conn.settimeout(20)
    with conn:
        try:
            with context.wrap_socket(conn, server_hostname="127.0.0.1") as sock:
                # TLS 1.3: the client's handshake is over before the agent has
                # checked its certificate; the verdict is the first record
                sock.recv(1)
        except ssl.SSLError as exc:
            return exc.reason
    pytest.fail("the agent accepted the manager")


@pytest.mark.parametrize("case", ["cipher", "tls1.1", "untrusted", "untrusted-tls1.2", "no-certificate", "no-certificate-tls1.2"])
def test_a_refused_handshake_tells_the_manager_why(harness, case):
    """RFC 8446 6.2: the fatal alert reaches the manager before the close, so
    a misconfigured manager learns why it was refused, not just an EOF."""
    t = harness.tls
    lst = harness.listener()
    harness.start(harness.config([tls_client(harness, lst.port)]))
    if case == "cipher":  # CBC suites are not RFC 9325's
        ctx = t.context(version=ssl.TLSVersion.TLSv1_2)
        ctx.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA")
        expected, verdict = "SSLV3_ALERT_HANDSHAKE_FAILURE", "TLS handshake failed: NO_SHARED_CIPHER"
    elif case == "tls1.1":
        ctx = t.context(version=ssl.TLSVersion.TLSv1_1)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # or the client's OpenSSL refuses TLS 1.1 itself
        expected, verdict = "TLSV1_ALERT_PROTOCOL_VERSION", "TLS handshake failed: UNSUPPORTED_PROTOCOL"
    elif case.startswith("untrusted"):
        stranger = pki.leaf("pma-x", pki.ca("someone else's CA"), dns=("pma-x.example.net",))
        ctx = t.context(stranger, version=ssl.TLSVersion.TLSv1_2 if case.endswith("1.2") else None)
        expected, verdict = "TLSV1_ALERT_UNKNOWN_CA", "client certificate rejected: unable to get local issuer certificate"
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(t.vendor_root_file)
        if case.endswith("1.2"):
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            expected = "SSLV3_ALERT_HANDSHAKE_FAILURE"  # TLS 1.2 has no certificate_required
        else:
            expected = "TLSV13_ALERT_CERTIFICATE_REQUIRED"
        verdict = "TLS handshake failed: PEER_DID_NOT_RETURN_A_CERTIFICATE"
    assert _alert(lst, ctx) == expected
    state = harness.agent.callhome.states["nms"]
    assert wait_for(lambda: state.attempts and state.attempts[-1].result == verdict), state.attempts
    # and the agent goes on: the right manager gets in on the next attempt
    m = lst.accept_tls(t.context())
    assert "<remote-port>%d</remote-port>" % lst.port in m.get_config(source="running").data_xml.decode()
    m.close_session()


HELLO = ('<hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities>'
         "<capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>]]>]]>")


def _raw_session(lst, context: ssl.SSLContext) -> ssl.SSLSocket:
    """A TLS manager that speaks NETCONF 1.0 by hand: the agent's <hello> read, ours sent."""
    conn = lst.accept_raw()
    conn.settimeout(20)
    sock = context.wrap_socket(conn, server_hostname="127.0.0.1", suppress_ragged_eofs=False)
    got = b""
    while b"]]>]]>" not in got:
        got += sock.recv(65536)
    sock.sendall(HELLO.encode())
    return sock


def test_the_agent_ends_the_session_with_close_notify(harness):
    """RFC 8446 6.1: the manager tells an orderly end from a truncation."""
    lst = harness.listener()
    harness.start(harness.config([tls_client(harness, lst.port)]))
    with _raw_session(lst, harness.tls.context()) as sock:
        sock.sendall(b'<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><close-session/></rpc>]]>]]>')
        got = b""
        while chunk := sock.recv(65536):  # SSLEOFError on a TCP close without close_notify
            got += chunk
        assert b"<ok/>" in got


def test_a_manager_that_does_not_read_is_pushed_back(harness):
    """The TCP send buffer's high-water mark reaches the session through the
    TLS layer: live notifications the manager leaves unread end the session
    at the limit, instead of piling up in the agent."""
    lst = harness.listener()
    harness.start(harness.config([tls_client(harness, lst.port)]))
    sock = _raw_session(lst, harness.tls.context())
    sock.sendall(b'<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
                 b'<create-subscription xmlns="urn:ietf:params:xml:ns:netconf:notification:1.0"/></rpc>]]>]]>')
    got = b""
    while b"]]>]]>" not in got:
        got += sock.recv(65536)
    assert b"<ok/>" in got
    server = harness.agent.server
    pad = "x" * 4000

    def publish(k):
        for i in range(k):
            server.notifications.publish("dpu-agent", "interface-link-change",
                                         '<interface-link-change xmlns="urn:dpu-agent:yang:dpu-agent">'
                                         f"<name>eth{i}{pad}</name><oper-status>up</oper-status></interface-link-change>")

    for _ in range(100):  # 40 MB at most, far beyond what the kernel buffers hold
        harness.call(lambda: publish(100))
        if not server.sessions:
            break
    assert not server.sessions
    sock.close()


def test_renegotiation_is_refused_and_logged_as_a_tls_error(harness):
    """A TLS 1.2 manager asking to renegotiate (openssl s_client's "R") does
    not get it (OP_NO_RENEGOTIATION); the agent logs the end as a TLS error."""
    t = harness.tls
    lst = harness.listener()
    harness.start(harness.config([tls_client(harness, lst.port)]))
    agent_side = lst.accept_raw()
    # s_client only dials: relay the agent's call to it
    relay = socket.create_server(("127.0.0.1", 0))
    client = subprocess.Popen(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % relay.getsockname()[1], "-tls1_2",
         "-cert", str(t.manager_cert), "-key", str(t.manager_key), "-CAfile", str(t.vendor_root_file)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        relay.settimeout(20)
        client_side, _ = relay.accept()
        for a, b in ((agent_side, client_side), (client_side, agent_side)):
            threading.Thread(target=_copy, args=(a, b), daemon=True).start()
        out = b""
        while b"]]>]]>" not in out:  # the agent's <hello>: the session is up
            out += client.stdout.read1(65536) or pytest.fail(out.decode(errors="replace"))
        client.stdin.write(b"R\n")
        client.stdin.flush()
        state = harness.agent.callhome.states["nms"]
        assert wait_for(lambda: state.last_error is not None)
        # OpenSSL answers with a no_renegotiation warning, on which s_client
        # gives up with a fatal alert of its own: the agent names it
        assert state.last_error == "t: connection lost: TLS error: SSLV3_ALERT_HANDSHAKE_FAILURE"
        assert not harness.agent.server.sessions
    finally:
        client.kill()
        client.wait()
        relay.close()


def _copy(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
