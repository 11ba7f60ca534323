"""Managers that must not get in: each is refused, the refusal is logged
(without key material), and the agent goes on calling its next endpoint.

One client, two endpoints, max-attempts 1: the bad manager listens on the
first, a good one on the second."""

from __future__ import annotations

import base64
import logging
import time

import asyncssh
import pytest
from cryptography.hazmat.primitives import serialization
from ncclient.transport.errors import AuthenticationError

from agent.callhome import build
from agent.transport.cert_to_name import fingerprint

from .support import pki, wait_for


def _secrets(harness) -> list[str]:
    """Text forms of every private key in play, as they could leak into a log."""
    keys = [harness.tls.device.key, harness.tls.manager.key]
    out = []
    for k in keys:
        der = k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        pem = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        out += [base64.b64encode(der).decode()[:40], pem.decode().splitlines()[1][:40], der.hex()[:40]]
    for k in (harness.host_key, harness.client_key):
        der = k.export_private_key("pkcs8-der")
        out += [base64.b64encode(der).decode()[:40], der.hex()[:40]]
    return out


def _two_endpoints(harness, transport: str, login_timeout: float = 10, **kw):
    bad, good = harness.listener(), harness.listener()
    eps = [
        build.Endpoint("first", "127.0.0.1", bad.port, transport=transport),
        build.Endpoint("second", "127.0.0.1", good.port, transport=transport),
    ]
    if transport == "tls":
        # only this manager certificate maps to a user
        kw["tls"] = harness.tls.server(
            cert_to_name=[build.CertToName(1, "specified", fingerprint(harness.tls.manager.der), "admin")]
        )
    harness.start(harness.config([harness.client("nms", eps, max_attempts=1, **kw)]), login_timeout=login_timeout)
    return bad, good


def _silent(lst) -> float:
    """Accept, say nothing; how long until the agent hangs up."""
    sock = lst.accept_raw()
    sock.settimeout(15)
    t0 = time.monotonic()
    try:
        while sock.recv(4096):
            pass
    except (TimeoutError, ConnectionResetError):
        pass
    sock.close()
    return time.monotonic() - t0


def _check(harness, caplog, good_session, reason: str) -> None:
    state = harness.agent.callhome.states["nms"]
    assert wait_for(lambda: state.connected_endpoint == "second")
    assert [a.endpoint for a in state.attempts][:2] == ["first", "second"]
    assert reason in state.attempts[0].result and state.attempts[1].result == "connected"
    refusals = [r for r in caplog.records if r.levelno >= logging.WARNING and "refused" in r.getMessage()]
    assert refusals and reason in refusals[0].getMessage()
    for secret in _secrets(harness):
        assert secret not in caplog.text
    data = good_session.get_config(source="running").data_xml  # bytes from netconf-client, str from ncclient
    assert "<netconf-server" in (data.decode() if isinstance(data, bytes) else data)
    good_session.close_session()


@pytest.mark.parametrize(
    "case, reason",
    [
        ("untrusted-ca", "client certificate rejected: unable to get local issuer certificate"),
        ("expired", "client certificate rejected: certificate has expired"),
        ("no-cert-to-name-match", "no cert-to-name entry maps the client certificate"),
        ("never-authenticates", "no TLS authentication within 3 s"),
    ],
)
def test_tls_rejections(harness, caplog, case, reason):
    caplog.set_level(logging.INFO, logger="agent")
    t = harness.tls
    bad, good = _two_endpoints(harness, "tls", login_timeout=3 if case == "never-authenticates" else 10)
    if case == "never-authenticates":
        assert _silent(bad) < 8  # the login timeout (3 s), not the harness default (10 s)
    else:
        who = {
            "untrusted-ca": lambda: pki.leaf("pma-1", pki.ca("rogue root"), dns=("pma.example.net",)),
            "expired": lambda: pki.leaf("pma-1", t.operator_issuing, expired=True),
            "no-cert-to-name-match": lambda: pki.leaf("pma-9", t.operator_issuing),  # trusted, but not mapped
        }[case]()
        with pytest.raises(Exception):  # the manager sees an alert or a closed connection
            bad.accept_tls(t.context(who), timeout=10).get_config(source="running")
    m = good.accept_tls(t.context())
    _check(harness, caplog, m, reason)


@pytest.mark.parametrize(
    "case, reason",
    [
        ("wrong-key", "user 'admin' offered no authorized public key"),
        ("unknown-user", "unknown user 'mallory'"),
        ("never-authenticates", "no SSH authentication"),
    ],
)
def test_ssh_rejections(harness, caplog, case, reason):
    caplog.set_level(logging.INFO, logger="agent")
    harness.tls  # noqa: B018 (its keys are among those that must not be logged)
    bad, good = _two_endpoints(harness, "ssh", login_timeout=3 if case == "never-authenticates" else 10)
    if case == "never-authenticates":
        assert _silent(bad) < 8  # the login timeout (3 s), not the harness default (10 s)
    elif case == "wrong-key":
        other = asyncssh.generate_private_key("ssh-ed25519")
        other.write_private_key(str(harness.tmp / "other.key"))
        with pytest.raises(AuthenticationError):
            bad.accept(harness, key=harness.tmp / "other.key")
    else:
        with pytest.raises(AuthenticationError):
            bad.accept(harness, username="mallory")
    m = good.accept(harness)
    _check(harness, caplog, m, reason)
