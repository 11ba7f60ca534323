"""Certificates for the tests, made on the fly: no private key is ever committed."""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.UTC)


@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    #: the issuing chain above this certificate (issuer first)
    parents: list[Issued]

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def chain_der(self) -> list[bytes]:
        """This certificate, then its issuers (not the self-signed root)."""
        return [self.der] + [p.der for p in self.parents if p.cert.issuer != p.cert.subject]

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """PEM files: certificate (with its intermediates) and private key (0600)."""
        cert_path, key_path = directory / f"{stem}.crt", directory / f"{stem}.key"
        pem = b"".join(x509.load_der_x509_certificate(d).public_bytes(serialization.Encoding.PEM) for d in self.chain_der)
        cert_path.write_bytes(pem)
        return cert_path, self.write_key(key_path)

    def write_key(self, path: Path) -> Path:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return path

    def write_cert(self, path: Path) -> Path:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dpu-agent tests"), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _build(subject: x509.Name, key, issuer: Issued | None, *, ca: bool, not_before, not_after, extensions=()) -> x509.Certificate:
    issuer_name = issuer.cert.subject if issuer else subject
    signing_key = issuer.key if issuer else key
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()), critical=False
        )
    )
    if ca:
        b = b.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    for ext in extensions:
        b = b.add_extension(ext, critical=False)
    return b.sign(signing_key, hashes.SHA256())


def ca(cn: str, issuer: Issued | None = None) -> Issued:
    """A root CA, or an intermediate one under ``issuer``."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _build(_name(cn), key, issuer, ca=True, not_before=NOW - datetime.timedelta(days=1),
                  not_after=NOW + datetime.timedelta(days=365))
    return Issued(cert, key, ([issuer] + issuer.parents) if issuer else [])


def leaf(
    cn: str,
    issuer: Issued,
    *,
    dns: tuple[str, ...] = (),
    emails: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    server: bool = False,
    expired: bool = False,
) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.RFC822Name(e) for e in emails] + [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    exts: list = [x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH])]
    if sans:
        exts.append(x509.SubjectAlternativeName(sans))
    if expired:
        nb, na = NOW - datetime.timedelta(days=30), NOW - datetime.timedelta(days=1)
    else:
        nb, na = NOW - datetime.timedelta(days=1), NOW + datetime.timedelta(days=30)
    cert = _build(_name(cn), key, issuer, ca=False, not_before=nb, not_after=na, extensions=exts)
    return Issued(cert, key, [issuer] + issuer.parents)
