"""The little of DER the TLS transport needs, without a crypto library:
certificates out of a CMS ``cert-data`` (RFC 5652 degenerate SignedData),
and of a certificate its names, public key and key identifiers (RFC 5280).

Pure and strict: definite lengths only, every read bounded by its parent;
anything else raises :class:`DerError`. Signatures are never checked here:
OpenSSL verifies the peer's chain during the handshake.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


class DerError(ValueError):
    """Not the DER that was expected."""


@dataclass(frozen=True)
class Tlv:
    tag: int  # the identifier octet (class, constructed bit, number < 31)
    value: bytes
    raw: bytes  # the whole encoding, header included


def read(data: bytes, pos: int = 0) -> tuple[Tlv, int]:
    """One TLV at ``pos``; returns it and the position after it."""
    if pos + 2 > len(data):
        raise DerError("truncated")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("high tag numbers are not used here")
    n = data[pos + 1]
    i = pos + 2
    if n & 0x80:
        k = n & 0x7F
        if k == 0 or k > 4 or i + k > len(data):
            raise DerError("bad length")
        n = int.from_bytes(data[i:i + k], "big")
        i += k
    if i + n > len(data):
        raise DerError("truncated")
    return Tlv(tag, data[i:i + n], data[pos:i + n]), i + n


def children(value: bytes) -> list[Tlv]:
    out, pos = [], 0
    while pos < len(value):
        tlv, pos = read(value, pos)
        out.append(tlv)
    return out


def one(data: bytes, tag: int) -> Tlv:
    tlv, end = read(data)
    if tlv.tag != tag or end != len(data):
        raise DerError(f"expected one element with tag {tag:#x}")
    return tlv


def oid(value: bytes) -> str:
    if not value:
        raise DerError("empty OID")
    parts = [min(value[0] // 40, 2)]
    parts.append(value[0] - 40 * parts[0])
    n = 0
    for b in value[1:]:
        n = n << 7 | b & 0x7F
        if not b & 0x80:
            parts.append(n)
            n = 0
    return ".".join(map(str, parts))


SEQUENCE, SET, OID, OCTET_STRING, INTEGER = 0x30, 0x31, 0x06, 0x04, 0x02
SIGNED_DATA = "1.2.840.113549.1.7.2"
COMMON_NAME = "2.5.4.3"
SUBJECT_ALT_NAME, SUBJECT_KEY_ID, AUTHORITY_KEY_ID = "2.5.29.17", "2.5.29.14", "2.5.29.35"

_NAME_LABELS = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
                "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID", "2.5.4.5": "serialNumber"}
_STRING_TAGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii", 0x14: "latin-1", 0x1E: "utf-16-be", 0x1C: "utf-32-be"}


def certificates_from_cms(data: bytes) -> list[bytes]:
    """The certificates (DER) of a CMS ContentInfo holding SignedData."""
    info = children(one(data, SEQUENCE).value)
    if len(info) < 2 or info[0].tag != OID or oid(info[0].value) != SIGNED_DATA or info[1].tag != 0xA0:
        raise DerError("not a CMS SignedData")
    signed = children(one(info[1].value, SEQUENCE).value)
    certs = next((t for t in signed if t.tag == 0xA0), None)  # [0] IMPLICIT CertificateSet
    if certs is None:
        return []
    return [c.raw for c in children(certs.value) if c.tag == SEQUENCE]


def _string(tlv: Tlv) -> str:
    codec = _STRING_TAGS.get(tlv.tag)
    if codec is None:
        raise DerError(f"not a string type: {tlv.tag:#x}")
    return tlv.value.decode(codec)


@dataclass(frozen=True)
class Name:
    raw: bytes
    #: (OID, value) of each attribute, in order
    attributes: tuple[tuple[str, str | None], ...]

    def get(self, attr_oid: str) -> list[str]:
        return [v for o, v in self.attributes if o == attr_oid and v is not None]

    def rfc4514(self) -> str:
        def esc(v: str) -> str:
            return "".join("\\" + c if c in ',+"\\<>;' else c for c in v)

        return ",".join(f"{_NAME_LABELS.get(o, o)}={esc(v or '#')}" for o, v in reversed(self.attributes))


def _name(tlv: Tlv) -> Name:
    attrs = []
    for rdn in children(tlv.value):
        for atv in children(rdn.value):
            kv = children(atv.value)
            try:
                value = _string(kv[1])
            except (DerError, UnicodeDecodeError):
                value = None
            attrs.append((oid(kv[0].value), value))
    return Name(tlv.raw, tuple(attrs))


@dataclass(frozen=True)
class Certificate:
    der: bytes
    issuer: Name
    subject: Name
    #: SubjectPublicKeyInfo, DER
    spki: bytes
    #: subjectAltName entries: ("rfc822" | "dns" | "ip" | "other", value)
    san: tuple[tuple[str, object], ...]
    subject_key_id: bytes | None
    authority_key_id: bytes | None

    @property
    def self_issued(self) -> bool:
        return self.issuer.raw == self.subject.raw


def certificate(der: bytes) -> Certificate:
    """The parts of a certificate that cert-to-name and chain building read."""
    try:
        outer = children(one(der, SEQUENCE).value)
        tbs = children(outer[0].value)
        if tbs and tbs[0].tag == 0xA0:  # [0] EXPLICIT version
            tbs = tbs[1:]
        # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
        issuer, subject, spki = _name(tbs[2]), _name(tbs[4]), tbs[5].raw
        san: list[tuple[str, object]] = []
        ski = aki = None
        exts = next((t for t in tbs[6:] if t.tag == 0xA3), None)
        for ext in children(one(exts.value, SEQUENCE).value) if exts else []:
            parts = children(ext.value)
            ext_oid, value = oid(parts[0].value), parts[-1].value
            if ext_oid == SUBJECT_ALT_NAME:
                san = [_general_name(g) for g in children(one(value, SEQUENCE).value)]
            elif ext_oid == SUBJECT_KEY_ID:
                ski = one(value, OCTET_STRING).value
            elif ext_oid == AUTHORITY_KEY_ID:
                aki = next((t.value for t in children(one(value, SEQUENCE).value) if t.tag == 0x80), None)
    except (IndexError, UnicodeDecodeError) as exc:
        raise DerError(f"not a certificate: {exc}") from None
    return Certificate(der, issuer, subject, spki, tuple(san), ski, aki)


def _general_name(g: Tlv) -> tuple[str, object]:
    kind = g.tag & 0x1F
    if g.tag == 0x81:
        return "rfc822", g.value.decode("ascii")
    if g.tag == 0x82:
        return "dns", g.value.decode("ascii")
    if g.tag == 0x87 and len(g.value) in (4, 16):
        return "ip", ipaddress.ip_address(g.value)
    return "other", kind
