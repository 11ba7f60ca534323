"""NETCONF username from a client certificate (RFC 7589 S7, ietf-x509-cert-to-name).

Entries are tried in ascending ``id``. An entry applies when its fingerprint
is that of the presented certificate or of a CA certificate of its verified
chain (an entry without fingerprint applies to any certificate, as the
netconf-server model allows); its map type then derives the name from the
presented certificate. An entry that yields no name is passed over. No
name at all means the connection must be closed.

Pure: takes DER certificates, knows nothing of sockets or TLS libraries.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any

from . import der

#: TLS HashAlgorithm registry (RFC 5246 7.4.1.4.1) id -> hashlib name.
#: md5 (1) is left out on purpose: a fingerprint must not be forgeable.
HASH_ALGORITHMS = {2: "sha1", 3: "sha224", 4: "sha256", 5: "sha384", 6: "sha512"}

MAP_TYPES = ("specified", "san-rfc822-name", "san-dns-name", "san-ip-address", "san-any", "common-name")


class CertToNameError(ValueError):
    """A cert-to-name entry the agent cannot evaluate."""


@dataclass(frozen=True)
class CertToName:
    id: int
    map_type: str
    #: hash algorithm id followed by the digest; None matches any certificate
    fingerprint: bytes | None = None
    name: str | None = None  # map type "specified"


def parse_fingerprint(text: str) -> bytes:
    """``tls-fingerprint`` text (hex octets with colons) -> bytes, checking the algorithm."""
    raw = bytes.fromhex(text.replace(":", ""))
    alg = HASH_ALGORITHMS.get(raw[0]) if raw else None
    if alg is None:
        raise CertToNameError(f"fingerprint hash algorithm {raw[0] if raw else '?'} is not supported (sha1 and sha2 only)")
    if len(raw) - 1 != hashlib.new(alg).digest_size:
        raise CertToNameError(f"fingerprint is not a {alg} digest")
    return raw


def fingerprint(cert_der: bytes, alg: str = "sha256") -> str:
    """The ``tls-fingerprint`` of a certificate, as configured."""
    alg_id = next(i for i, name in HASH_ALGORITHMS.items() if name == alg)
    raw = bytes([alg_id]) + hashlib.new(alg, cert_der).digest()
    return ":".join(f"{b:02x}" for b in raw)


def _matches(fp: bytes, cert_der: bytes) -> bool:
    return hashlib.new(HASH_ALGORITHMS[fp[0]], cert_der).digest() == fp[1:]


def _rfc822(value: str) -> str:
    local, at, host = value.rpartition("@")
    return f"{local}{at}{host.lower()}" if at else value


def _ip(value: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return str(value) if value.version == 4 else value.packed.hex()


def _from_san(kind: str, value: Any) -> str | None:
    if kind == "rfc822":
        return _rfc822(value)
    if kind == "dns":
        return str(value).lower()
    if kind == "ip":
        return _ip(value)
    return None


_SAN_TYPES = {"san-rfc822-name": ("rfc822",), "san-dns-name": ("dns",), "san-ip-address": ("ip",)}


def derive_name(map_type: str, cert: der.Certificate | bytes, specified: str | None = None) -> str | None:
    """The name ``map_type`` derives from ``cert`` (DER or parsed), or None when it cannot."""
    if map_type == "specified":
        return specified or None
    if isinstance(cert, bytes):
        cert = der.certificate(cert)
    if map_type == "common-name":
        cns = cert.subject.get(der.COMMON_NAME)
        return cns[0] if cns and cns[0] else None
    if map_type == "san-any":
        wanted: tuple[str, ...] = ("rfc822", "dns", "ip")
    elif map_type in _SAN_TYPES:
        wanted = _SAN_TYPES[map_type]
    else:
        raise CertToNameError(f"map type {map_type} is not supported")
    for kind, value in cert.san:
        if kind in wanted:
            name = _from_san(kind, value)
            if name:
                return name
    return None


def map_certificate(entries: tuple[CertToName, ...], chain: list[bytes]) -> tuple[str, CertToName] | None:
    """The NETCONF username for a verified chain (DER, presented certificate
    first) and the entry that gave it, or None: then close the connection."""
    if not chain:
        return None
    cert = der.certificate(chain[0])
    for entry in sorted(entries, key=lambda e: e.id):
        if entry.fingerprint is not None and not any(_matches(entry.fingerprint, der) for der in chain):
            continue
        name = derive_name(entry.map_type, cert, entry.name)
        if name is not None:
            return name, entry
    return None
