"""OpenSSH's own client as a call-home manager: the test accepts the agent's
connection and hands the socket to ``ssh -s netconf`` (ProxyCommand with
ProxyUseFdpass), the host keys pinned in a known_hosts file. Every algorithm
the agent offers is negotiated one at a time, and the SHA-1 ones are refused.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from agent.callhome import build
from agent.transport import libssh

from .support import wait_for

pytestmark = pytest.mark.skipif(shutil.which("ssh") is None, reason="openssh-client not installed (make test installs it)")

#: ProxyCommand: fetch the accepted socket from the test over a Unix socket
#: and hand it to ssh (ProxyUseFdpass)
PROXY = """
import socket, sys
u = socket.socket(socket.AF_UNIX)
u.connect(sys.argv[1])
_, fds, _, _ = socket.recv_fds(u, 1, 1)
socket.send_fds(socket.socket(fileno=1), [b"\\0"], fds)
"""

HELLO = ('<?xml version="1.0" encoding="UTF-8"?><hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">'
         "<capabilities><capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>]]>]]>")
RPCS = ('<rpc message-id="1" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><get-config><source><running/></source>'
        '</get-config></rpc>]]>]]><rpc message-id="2" xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><close-session/>'
        "</rpc>]]>]]>")

KEX = ["curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384",
       "ecdh-sha2-nistp521", "diffie-hellman-group14-sha256", "diffie-hellman-group16-sha512",
       "diffie-hellman-group18-sha512"]
#: post-quantum hybrids: offered where the linked libssh has them (0.11: sntrup761)
PQ_KEX = {"sntrup761x25519-sha512@openssh.com": (0, 11)}
CIPHERS = ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com", "aes256-ctr",
           "aes192-ctr", "aes128-ctr"]
MACS = ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com", "hmac-sha2-256", "hmac-sha2-512"]
HOST_KEYS = ["ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256"]
SHA1 = [("KexAlgorithms", "diffie-hellman-group14-sha1"), ("KexAlgorithms", "diffie-hellman-group1-sha1"),
        ("KexAlgorithms", "diffie-hellman-group-exchange-sha1"), ("MACs", "hmac-sha1"),
        ("MACs", "hmac-sha1-etm@openssh.com"), ("HostKeyAlgorithms", "ssh-rsa")]


def _libssh_version() -> tuple[int, int]:
    major, minor = libssh.version().split("/")[0].split(".")[:2]
    return int(major), int(minor)


def _ssh_b64(public) -> str:
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).split()[1].decode()


def _host_key_xml(name: str, key) -> str:
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return (f"<host-key><name>{name}</name><public-key><inline-definition>"
            f"<public-key-format>ct:ssh-public-key-format</public-key-format><public-key>{_ssh_b64(key.public_key())}"
            f"</public-key><private-key-format>ct:one-asymmetric-key-format</private-key-format>"
            f"<cleartext-private-key>{base64.b64encode(der).decode()}</cleartext-private-key>"
            "</inline-definition></public-key></host-key>")


class OpenSsh:
    """An agent calling one listener, with Ed25519, ECDSA and RSA host keys,
    and `ssh` to accept each of its calls."""

    def __init__(self, harness) -> None:
        self.harness = harness
        self.tmp = harness.tmp
        self.lst = harness.listener()
        ecdsa = ec.generate_private_key(ec.SECP256R1())
        rsa_key = rsa.generate_private_key(65537, 2048)
        cfg = harness.config([harness.client("nms", [build.Endpoint("o", "127.0.0.1", self.lst.port)])])
        # the device key stays hidden; two more inline, for their algorithms
        cfg = cfg.replace("</host-key>", "</host-key>" + _host_key_xml("ecdsa", ecdsa) + _host_key_xml("rsa", rsa_key), 1)
        harness.start(cfg)
        self.known_hosts = self.tmp / "known_hosts"
        self.known_hosts.write_text("".join(
            f"dpu {kind} {b64}\n" for kind, b64 in (("ssh-ed25519", harness.host_b64),
                                                   ("ecdsa-sha2-nistp256", _ssh_b64(ecdsa.public_key())),
                                                   ("ssh-rsa", _ssh_b64(rsa_key.public_key())))))
        self.key = self.tmp / "id_ed25519"
        self.key.write_bytes(harness.client_key.export_private_key())
        self.key.chmod(0o600)
        self.proxy = self.tmp / "proxy.py"
        self.proxy.write_text(PROXY)
        self.unix = str(self.tmp / "fd.sock")

    def run(self, *options: str, stdin: str = HELLO + RPCS) -> subprocess.CompletedProcess:
        """Accept the agent's next call and run ``ssh -s netconf`` on it."""
        conn = self.lst.accept_raw()
        server = socket.socket(socket.AF_UNIX)
        if os.path.exists(self.unix):
            os.unlink(self.unix)
        server.bind(self.unix)
        server.listen(1)

        def hand_over():
            c, _ = server.accept()
            socket.send_fds(c, [b"\0"], [conn.fileno()])
            c.close()

        t = threading.Thread(target=hand_over, daemon=True)
        t.start()
        try:
            cmd = ["ssh", "-F", "/dev/null", "-o", f"ProxyCommand={sys.executable} {self.proxy} {self.unix}",
                   "-o", "ProxyUseFdpass=yes", "-o", f"UserKnownHostsFile={self.known_hosts}",
                   "-o", "GlobalKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
                   "-o", "IdentitiesOnly=yes", "-i", str(self.key), "-o", "ConnectTimeout=20", *options,
                   "-l", "admin", "-s", "dpu", "netconf"]
            return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)
        finally:
            t.join(5)
            server.close()
            conn.close()


@pytest.fixture
def openssh(harness):
    return OpenSsh(harness)


def _served(r: subprocess.CompletedProcess) -> None:
    assert r.returncode == 0, r.stderr  # exit-status 0 sent on the netconf channel
    assert "<hello" in r.stdout and "<capability>urn:ietf:params:netconf:base:1.0</capability>" in r.stdout
    assert 'message-id="1"' in r.stdout and "<netconf-server" in r.stdout
    assert 'message-id="2"' in r.stdout and "<ok/>" in r.stdout


def test_openssh_manager_over_the_call_home_socket(openssh, caplog):
    caplog.set_level(logging.INFO, logger="agent")
    _served(openssh.run())
    state = openssh.harness.agent.callhome.states["nms"]
    assert wait_for(lambda: state.connections >= 1 and state.connected_endpoint is None or state.connections >= 2)
    # the manager closed the session and the connection in order: not "lost"
    assert not [r for r in caplog.records if "lost" in r.getMessage()]


def test_each_algorithm_negotiated_alone(openssh):
    kex = KEX + [k for k, since in PQ_KEX.items() if _libssh_version() >= since]
    cases = ([("KexAlgorithms", k) for k in kex] + [("Ciphers", c) for c in CIPHERS]
             + [("MACs", m) for m in MACS] + [("HostKeyAlgorithms", h) for h in HOST_KEYS])
    for option, name in cases:
        extra = ["-o", "Ciphers=aes128-ctr"] if option == "MACs" else []  # AEAD ciphers carry no MAC
        r = openssh.run("-o", f"{option}={name}", *extra, "-v")
        assert r.returncode == 0, f"{option}={name}: {r.stderr[-2000:]}"
        _served(r)
        if option == "KexAlgorithms":
            assert f"kex: algorithm: {name}" in r.stderr
        if option == "HostKeyAlgorithms":
            assert f"kex: host key algorithm: {name}" in r.stderr


def test_sha1_algorithms_refused(openssh, caplog):
    caplog.set_level(logging.INFO, logger="agent")
    for option, name in SHA1:
        r = openssh.run("-o", f"{option}={name}", *(["-o", "Ciphers=aes128-ctr"] if option == "MACs" else []))
        assert r.returncode == 255, f"{option}={name} was accepted"
        assert "no matching" in r.stderr or "Unable to negotiate" in r.stderr, r.stderr
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    # a failed key exchange is logged as such, not as an authentication timeout
    assert refusals and all("key exchange failed" in m for m in refusals), refusals
    _served(openssh.run())
