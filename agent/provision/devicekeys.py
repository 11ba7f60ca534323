"""The device's own keys, made (or imported) once and then kept: the SSH host
key and the TLS identity (key, certificate chain, optionally a CSR).

Nothing here writes: each function returns the bytes its files should
hold, and the caller stages them. A key already in the key directory is
used again, so a second run with the same inputs makes the same bytes;
``force`` makes new keys (and lets an imported key replace another one).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes as PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..transport import keys
from ..transport.keys import KeyMaterialError
from .profile import ProvisionError, TlsIdentity, certificates

SSH_HOST_KEY = "ssh-host-ed25519.key"
TLS_KEY = "tls-device.key"
TLS_CERT = "tls-device.crt"

#: RFC 5280 4.1.2.5: a device certificate with no well-defined expiration
NO_EXPIRY = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)


def _pkcs8_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _existing_key(path: Path, force: bool) -> PrivateKey | None:
    """The key in ``path``; None if there is none or ``force`` replaces it."""
    if force or not path.exists():
        return None
    try:
        return keys.read_private_key(path)
    except KeyMaterialError as exc:
        raise ProvisionError(f"{exc}; --force replaces it") from None


@dataclass(frozen=True)
class SshHostKey:
    key: ed25519.Ed25519PrivateKey

    @property
    def file_data(self) -> bytes:
        return _pkcs8_pem(self.key)

    @property
    def wire(self) -> bytes:
        """The public key in SSH wire format (RFC 4253 6.6)."""
        line = self.key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        return base64.b64decode(line.split()[1])

    @property
    def openssh(self) -> str:
        return f"ssh-ed25519 {base64.b64encode(self.wire).decode()}"

    @property
    def fingerprint(self) -> str:
        """As ``ssh-keygen -l`` shows it."""
        return "SHA256:" + base64.b64encode(hashlib.sha256(self.wire).digest()).decode().rstrip("=")


def ssh_host_key(keys_dir: Path, force: bool) -> SshHostKey:
    path = keys_dir / SSH_HOST_KEY
    key = _existing_key(path, force)
    if key is None:
        return SshHostKey(ed25519.Ed25519PrivateKey.generate())
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ProvisionError(f"{path}: not an Ed25519 key; --force replaces it")
    return SshHostKey(key)


@dataclass(frozen=True)
class TlsCredentials:
    key: PrivateKey
    #: the device certificate, then its issuers
    chain: list[x509.Certificate]
    #: a CSR (PEM) for the key, when asked for
    csr: bytes | None

    @property
    def key_file_data(self) -> bytes:
        return _pkcs8_pem(self.key)

    @property
    def chain_file_data(self) -> bytes:
        return b"".join(_pem(c) for c in self.chain)

    @property
    def chain_der(self) -> list[bytes]:
        return [c.public_bytes(serialization.Encoding.DER) for c in self.chain]

    @property
    def self_signed(self) -> bool:
        return len(self.chain) == 1 and self.chain[0].issuer == self.chain[0].subject


def device_name(serial_number: str | None) -> x509.Name:
    """Subject of a self-signed certificate and of a CSR."""
    if serial_number is None:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dpu-agent")])
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, serial_number),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_number),
    ])


def tls_credentials(keys_dir: Path, spec: TlsIdentity, serial_number: str | None, force: bool, renew: bool) -> TlsCredentials:
    """``renew``: remake a self-signed certificate whose subject no longer
    fits the serial number (only when the configuration is made anew too)."""
    key_path, cert_path = keys_dir / TLS_KEY, keys_dir / TLS_CERT
    now = datetime.datetime.now(datetime.UTC)
    subject = device_name(serial_number)
    key: PrivateKey | None
    if spec.key is not None:
        try:
            key = keys.read_private_key(spec.key)
        except KeyMaterialError as exc:
            raise ProvisionError(f"tls key: {exc}") from None
        existing = _existing_key(key_path, force)
        if existing is not None and keys.spki(existing.public_key()) != keys.spki(key.public_key()):
            raise ProvisionError(f"{key_path} holds another TLS key; --force replaces it with tls key {spec.key}")
    elif spec.certificate is not None:
        # a certificate (signed from our CSR) for the key already on the box
        key = _existing_key(key_path, False)
        if key is None:
            raise ProvisionError(
                f"tls certificate: no TLS key in {keys_dir} for it; import the key with it (tls key) "
                "or make one first and have it signed (tls csr)"
            )
    else:
        key = _existing_key(key_path, force) or ec.generate_private_key(ec.SECP256R1())

    if spec.certificate is not None:
        given = certificates(spec.certificate, "tls certificate")
        if spec.chain is not None:
            given += certificates(spec.chain, "tls chain")
        chain = _chain(given, key, now)
    else:
        chain = _kept_chain(cert_path, key, subject if renew else None) or [_self_signed(_signer(key), subject, now)]
    csr = _csr(spec.csr, _signer(key), subject) if spec.csr is not None else None
    return TlsCredentials(key, chain, csr)


def _chain(given: list[x509.Certificate], key: PrivateKey, now: datetime.datetime) -> list[x509.Certificate]:
    """The device certificate (the one for ``key``) followed by its issuers,
    each checked to sign the one before; every given certificate must be on it."""
    spki = keys.spki(key.public_key())
    rest: list[x509.Certificate] = []
    for c in given:
        if c not in rest:
            rest.append(c)
    leaf = next((c for c in rest if keys.spki(c.public_key()) == spki), None)
    if leaf is None:
        raise ProvisionError("tls certificate: no certificate for the device's TLS key (certificate and key do not match)")
    if leaf.not_valid_after_utc < now:
        raise ProvisionError(f"tls certificate: {leaf.subject.rfc4514_string()} expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    chain = [leaf]
    rest.remove(leaf)
    while chain[-1].issuer != chain[-1].subject:
        issuer = next((c for c in rest if c.subject == chain[-1].issuer), None)
        if issuer is None:
            break
        try:
            chain[-1].verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            raise ProvisionError(
                f"tls chain: {chain[-1].subject.rfc4514_string()} is not signed by {issuer.subject.rfc4514_string()}"
            ) from None
        chain.append(issuer)
        rest.remove(issuer)
    if rest:
        names = "; ".join(c.subject.rfc4514_string() for c in rest)
        raise ProvisionError(f"tls chain: not on the chain of the device certificate: {names}")
    return chain


def _kept_chain(path: Path, key: PrivateKey, subject: x509.Name | None) -> list[x509.Certificate] | None:
    """The chain provisioned before, if it is still for ``key`` (a self-signed
    certificate only while it has ``subject``, unless that is None)."""
    if not path.exists():
        return None
    try:
        chain = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError):
        return None  # a certificate, not a key: made anew
    leaf = chain[0]
    if keys.spki(leaf.public_key()) != keys.spki(key.public_key()):
        return None
    if subject is not None and leaf.issuer == leaf.subject and leaf.subject != subject:
        return None
    return chain


def _signer(key: PrivateKey) -> CertificateIssuerPrivateKeyTypes:
    # a key of a kind that cannot sign (DH, X25519) fails in cryptography's
    # sign() with a TypeError, as it did before this was typed
    return cast(CertificateIssuerPrivateKeyTypes, key)


def _self_signed(key: CertificateIssuerPrivateKeyTypes, subject: x509.Name, now: datetime.datetime) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(NO_EXPIRY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _csr(path: Path, key: CertificateIssuerPrivateKeyTypes, subject: x509.Name) -> bytes:
    """A CSR for ``key``: the one already at ``path`` if it still fits (a
    signature is random: signing again would change the file for nothing)."""
    try:
        old = x509.load_pem_x509_csr(path.read_bytes())
    except (OSError, ValueError):
        old = None
    if old is not None and old.subject == subject and keys.spki(old.public_key()) == keys.spki(key.public_key()):
        return old.public_bytes(serialization.Encoding.PEM)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM)
