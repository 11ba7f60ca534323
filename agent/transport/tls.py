"""NETCONF over TLS on a call-home socket (RFC 7589, RFC 8071): the agent
opened the TCP connection and is the TLS *server* on it.

- TLS 1.2 and 1.3 (RFC 9325 AEAD suites for 1.2), no early data, no
  session tickets or resumption: every connection authenticates in full.
- The device certificate and its private key come from ``server-identity``
  (key inline or hidden, see :mod:`agent.transport.keys`); the certificate
  is sent with its intermediates (RFC 8071 S4).
- A client certificate is required. OpenSSL verifies it during the handshake
  against ``ca-certs`` (any configured CA certificate is a trust anchor) and
  ``ee-certs`` (trusted as exactly that certificate).
- The NETCONF username comes from cert-to-name (RFC 7589 S7); a certificate
  that no entry maps gets its connection closed before any NETCONF message.

The records are pumped by :mod:`agent.transport.tlsio` (not asyncio's
``ssl=``), so that a refused handshake sends its fatal alert before the close.

There are no TLS keepalives: RFC 6520 heartbeats are gone from OpenSSL 3 and
do not exist in TLS 1.3, so ``tls-server-keepalives`` is never advertised.
Liveness is the kernel's (``tcp-client-parameters/keepalives``).
"""

from __future__ import annotations

import _ssl
import asyncio
import base64
import logging
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..server import NetconfServer
from ..settings import LOGIN_TIMEOUT
from . import der, keys, tlsio
from .cert_to_name import CertToName, CertToNameError, fingerprint, map_certificate, parse_fingerprint
from .keys import KeyMaterialError
from .stream import Activity, BridgeEnd, SessionBridge

log = logging.getLogger(__name__)

#: RFC 9325 4.2: ECDHE with AEAD only (TLS 1.3 suites are all AEAD)
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"

#: seconds a closing connection waits for the manager's close_notify
SHUTDOWN_TIMEOUT = 5.0


class TlsRejected(Exception):
    """The manager failed TLS authentication or cert-to-name."""


@dataclass(frozen=True)
class TlsServerParams:
    """What the ``tls`` endpoint container says, resolved to a server context."""

    context: ssl.SSLContext
    #: the certificates of ca-certs (to complete a chain for cert-to-name)
    ca_certs: tuple[der.Certificate, ...]
    #: ee-certs (DER) that are not also ca-certs: trusted as the presented
    #: certificate only, never as an issuer
    ee_only: frozenset[bytes]
    cert_to_name: tuple[CertToName, ...]


# -- configuration -------------------------------------------------------------


def certs_from_cms(cert_data: str, what: str) -> list[der.Certificate]:
    """Certificates of a ``cert-data`` leaf (base64 of a degenerate CMS SignedData)."""
    try:
        certs = [der.certificate(c) for c in der.certificates_from_cms(base64.b64decode(cert_data))]
    except ValueError:  # der.DerError, binascii.Error
        certs = []
    if not certs:
        raise KeyMaterialError(f"{what}: cert-data is not a CMS SignedData holding certificates")
    return certs


def _end_entity(certs: list[der.Certificate], public: bytes | None, what: str) -> der.Certificate:
    """The one certificate of ``certs`` for ``public`` (SPKI DER), or else the
    one that issues none of the others."""
    if public is not None:
        found = [c for c in certs if c.spki == public]
    else:
        issuers = {c.issuer.raw for c in certs if not c.self_issued}
        found = [c for c in certs if c.subject.raw not in issuers] if len(certs) > 1 else certs
    if len(found) != 1:
        why = "carries the configured public key" if public is not None else "is an end-entity certificate"
        raise KeyMaterialError(f"{what}: exactly one certificate of cert-data must be the one that {why}")
    return found[0]


def _chain(leaf: der.Certificate, certs: list[der.Certificate], what: str) -> list[der.Certificate]:
    """``leaf`` followed by its issuers found in ``certs``, up to a self-signed one."""
    chain = [leaf]
    rest = [c for c in certs if c != leaf]
    while not chain[-1].self_issued:
        issuer = next((c for c in rest if _may_issue(c, chain[-1])), None)
        if issuer is None:
            break
        chain.append(issuer)
        rest.remove(issuer)
    if rest:
        log.warning("%s: %d certificate(s) of cert-data are not on the chain of the end-entity certificate", what, len(rest))
    return chain


def _may_issue(issuer: der.Certificate, cert: der.Certificate) -> bool:
    """Whether ``issuer`` is named as ``cert``'s issuer, by subject and, when
    both carry one, by key identifier (RFC 5280 4.2.1.1)."""
    if issuer.subject.raw != cert.issuer.raw:
        return False
    return cert.authority_key_id is None or issuer.subject_key_id is None or cert.authority_key_id == issuer.subject_key_id


def _load_identity(context: ssl.SSLContext, key_pem: bytes, chain: list[der.Certificate]) -> None:
    # The ssl module reads certificates and keys from files only: hand it an
    # anonymous memory file, so the private key is never written to storage.
    # OpenSSL checks here that the key is the certificate's.
    pem = "".join(ssl.DER_cert_to_PEM_cert(c.der) for c in chain).encode() + key_pem
    fd = os.memfd_create("dpu-agent-tls-identity", os.MFD_CLOEXEC)
    try:
        view = memoryview(pem)
        while view:
            view = view[os.write(fd, view) :]
        context.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def _new_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_TICKET | ssl.OP_NO_RENEGOTIATION
    context.num_tickets = 0
    return context


def _server_identity(p: dict[str, Any], keys_dir: Path, context: ssl.SSLContext) -> None:
    """Load the device certificate, its chain and its private key into ``context``."""
    what = "server certificate"
    cert = p.get("server-identity", {}).get("certificate")
    if cert is None:
        raise KeyMaterialError("tls server-identity: only X.509 certificates are supported")
    inline = cert.get("inline-definition")
    if inline is None:
        raise KeyMaterialError(f"{what}: only inline definitions are supported")
    certs = certs_from_cms(inline.get("cert-data", ""), what)
    public = base64.b64decode(inline["public-key"]) if "public-key" in inline else None
    leaf = _end_entity(certs, public, what)
    chain = _chain(leaf, certs, what)
    if "cleartext-private-key" in inline:
        key = keys.der_to_pem(base64.b64decode(inline["cleartext-private-key"]), inline.get("private-key-format", ""),
                              for_libssh=False)
        try:
            _load_identity(context, key, chain)
        except ssl.SSLError as exc:
            if "mismatch" in str(exc).lower():
                raise KeyMaterialError(f"{what}: private and public key do not match") from None
            raise KeyMaterialError(f"{what}: OpenSSL refuses the certificate or its key") from None
        return
    if "hidden-private-key" in inline:
        # a hidden key is the file whose key OpenSSL accepts for the certificate
        for path in keys.key_files(keys_dir):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            for key in keys.pem_candidates(data, for_libssh=False):
                try:
                    _load_identity(context, key, chain)
                    return
                except ssl.SSLError:
                    continue
        raise KeyMaterialError(f"{what}: no private key for it in {keys_dir}")
    raise KeyMaterialError(f"{what}: only cleartext and hidden private keys are supported")


def _trusted(container: dict[str, Any] | None, what: str) -> list[tuple[str, list[der.Certificate]]]:
    if container is None:
        return []
    inline = container.get("inline-definition")
    if inline is None:
        raise KeyMaterialError(f"{what}: only inline definitions are supported")
    out = []
    for c in inline.get("certificate", []):
        if "cert-data" not in c:
            raise KeyMaterialError(f"{what} {c['name']}: no cert-data")
        out.append((c["name"], certs_from_cms(c["cert-data"], f"{what} {c['name']}")))
    return out


def _cert_to_name(params: dict[str, Any]) -> tuple[CertToName, ...]:
    mappings = params.get("netconf-server-parameters", {}).get("client-identity-mappings", {})
    entries = []
    for e in mappings.get("cert-to-name", []):
        try:
            fp = parse_fingerprint(e["fingerprint"]) if "fingerprint" in e else None
        except (CertToNameError, ValueError) as exc:
            raise CertToNameError(f"cert-to-name {e['id']}: {exc}") from None
        entries.append(CertToName(int(e["id"]), e["map-type"].rpartition(":")[2], fp, e.get("name")))
    return tuple(entries)


def params_from_config(params: dict[str, Any], keys_dir: Path) -> TlsServerParams:
    """Resolve an endpoint's ``tls`` container (RFC 7951 JSON) to a TLS server context."""
    p = params.get("tls-server-parameters", {})
    context = _new_context()
    _server_identity(p, keys_dir, context)
    auth = p.get("client-authentication", {})
    ca_certs = [c for _, certs in _trusted(auth.get("ca-certs"), "ca-certs certificate") for c in certs]
    cas = [c.der for c in ca_certs]
    ees = [
        _end_entity(certs, None, f"ee-certs certificate {name}").der
        for name, certs in _trusted(auth.get("ee-certs"), "ee-certs certificate")
    ]
    if not cas and not ees:
        raise KeyMaterialError("tls client-authentication: no ca-certs or ee-certs to verify managers with")

    context.verify_mode = ssl.CERT_REQUIRED
    # a configured intermediate CA, or a pinned end-entity certificate, is
    # an anchor by itself: no need to reach a self-signed root
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_verify_locations(cadata=b"".join(cas + ees))
    return TlsServerParams(context, tuple(ca_certs), frozenset(ees) - frozenset(cas), _cert_to_name(params))


# -- connection ----------------------------------------------------------------


def verified_chain(sslobj: ssl.SSLObject) -> list[bytes]:
    """The chain OpenSSL verified (DER): the presented certificate first, the
    trust anchor from our configuration last."""
    if hasattr(sslobj, "get_verified_chain"):  # Python >= 3.13
        return list(sslobj.get_verified_chain())
    # Python 3.11 and 3.12 have the same call (SSL_get0_verified_chain)
    # only on the private object; re-verifying with another library would
    # need the client's intermediates, which are private there too.
    return [c.public_bytes(_ssl.ENCODING_DER) for c in sslobj._sslobj.get_verified_chain() or ()]  # type: ignore[attr-defined]  # private object, not in typeshed


def _up_to_root(chain: list[bytes], ca_certs: tuple[der.Certificate, ...]) -> list[bytes]:
    """``chain`` continued upward through the configured CA certificates.

    With partial chains allowed, OpenSSL stops at the first configured CA;
    a cert-to-name fingerprint may name one above it, which is just as much
    a locally held trusted CA certificate on the chain (RFC 7407). Issuers
    are matched by name and key identifier, not by signature: every
    candidate is a trust anchor the operator configured here, and the chain
    below it was verified by OpenSSL; only which configured CA sits above
    which is decided, as a path builder does before verifying."""
    chain = list(chain)
    last = der.certificate(chain[-1])
    while not last.self_issued:
        parent = next((c for c in ca_certs if _may_issue(c, last)), None)
        if parent is None or parent.der in chain:
            break
        chain.append(parent.der)
        last = parent
    return chain


def authorize(params: TlsServerParams, chain: list[bytes]) -> tuple[str | None, str]:
    """(NETCONF username or None, what to log) for the chain OpenSSL verified."""
    if not chain:
        return None, "no verified client certificate"
    if len(chain) > 1 and chain[-1] in params.ee_only:
        return None, "client certificate issued by a certificate trusted only as an end-entity certificate"
    mapped = map_certificate(params.cert_to_name, _up_to_root(chain, params.ca_certs))
    if mapped is None:
        return None, "no cert-to-name entry maps the client certificate"
    name, entry = mapped
    return name, f"cert-to-name entry {entry.id} ({entry.map_type})"


def _describe_cert(cert_der: bytes) -> str:
    try:
        subject = der.certificate(cert_der).subject.rfc4514()
    except ValueError:
        subject = "?"
    return f"subject {subject!r}, {fingerprint(cert_der)}"


class _Protocol(BridgeEnd, asyncio.Protocol):
    def __init__(self, server: NetconfServer, params: TlsServerParams, peer: str, activity: Activity | None) -> None:
        self._server = server
        self._params = params
        self._peer = peer
        self._activity = activity
        self.refusal: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Called once the handshake (and OpenSSL's verification) is done,
        # before any application data: decide who this is, or close.
        assert isinstance(transport, tlsio.TlsTransport)
        chain = verified_chain(transport.get_extra_info("ssl_object"))
        username, why = authorize(self._params, chain)
        if username is None:
            self.refusal = f"{why} ({_describe_cert(chain[0])})" if chain else why
            transport.abort()
            return
        log.info("TLS client %s: user %r by %s (%s)", self._peer, username, why, _describe_cert(chain[0]))
        self.open_bridge(self._server, transport, username=username, transport="netconf-tls", peer=self._peer,
                         activity=self._activity)

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(exc, ssl.SSLError):
            # its errno is OpenSSL's error kind (1: SSL_ERROR_SSL), which call
            # home would print as "Operation not permitted": say what it is
            exc = ConnectionError(f"TLS error: {getattr(exc, 'reason', None) or exc.strerror or exc}")
        if exc is not None and self._activity is not None:
            self._activity.lost = exc
        super().connection_lost(exc)


class TlsConnection:
    def __init__(self, bridge: SessionBridge) -> None:
        self._bridge = bridge

    async def wait_closed(self) -> None:
        """Until the NETCONF session ends. The TLS shutdown may still be under
        way: our close_notify is sent, the manager's is not waited for
        (RFC 8446 6.1), beyond SHUTDOWN_TIMEOUT in the background."""
        await asyncio.shield(self._bridge.done)

    def close(self) -> None:
        self._bridge.abort()  # ends the session, sends close_notify, then TCP FIN


def _handshake_failure(exc: BaseException, login_timeout: float) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"client certificate rejected: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, (ConnectionAbortedError, TimeoutError)):
        return f"no TLS authentication within {login_timeout:g} s"
    return f"TLS handshake failed: {str(exc) or type(exc).__name__}"


async def serve(
    sock: socket.socket,
    server: NetconfServer,
    params: TlsServerParams,
    *,
    tcp_keepalive: bool,
    login_timeout: float = LOGIN_TIMEOUT,
    activity: Activity | None = None,
) -> TlsConnection:
    """Run the TLS server side over an established call-home socket.

    Returns once the manager is authenticated and mapped to a user; a manager
    that has not done so within ``login_timeout`` is dropped (RFC 8071 S5).
    ``tcp_keepalive`` needs nothing here: asyncio leaves the kernel
    keepalives set on ``sock`` as they are."""
    try:
        peer = "%s:%s" % sock.getpeername()[:2]
    except OSError:
        peer = "?"
    protocol = _Protocol(server, params, peer, activity)
    try:
        await tlsio.accept(sock, params.context, protocol, handshake_timeout=login_timeout,
                           shutdown_timeout=SHUTDOWN_TIMEOUT)
    except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError; its alert has gone out
        why = _handshake_failure(exc, login_timeout)
        log.warning("TLS call home to %s refused: %s", peer, why)
        raise TlsRejected(why) from None
    if protocol.refusal is not None:
        log.warning("TLS call home to %s refused: %s", peer, protocol.refusal)
        raise TlsRejected(protocol.refusal)
    assert protocol.bridge is not None
    return TlsConnection(protocol.bridge)
