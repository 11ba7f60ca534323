"""The DER reader of the TLS transport (agent/transport/der.py) against
certificates and CMS made by cryptography, and the Ed25519 key conversion
for libssh 0.10 (agent/transport/keys.py)."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import pkcs7

from agent.transport import der, keys, libssh

from .support import pki


def test_certificate_parts_match_cryptography():
    root = pki.ca("Root, with a comma")
    issuing = pki.ca("issuing", root)
    leaf = pki.leaf("pma-1", issuing, dns=("PMA.example.net",), ips=("192.0.2.7", "2001:db8::1"))
    mine, theirs = der.certificate(leaf.der), leaf.cert
    assert mine.subject.raw == theirs.subject.public_bytes() and mine.issuer.raw == theirs.issuer.public_bytes()
    assert mine.subject.get(der.COMMON_NAME) == ["pma-1"]
    assert mine.spki == theirs.public_key().public_bytes(serialization.Encoding.DER,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    assert ("dns", "PMA.example.net") in mine.san
    assert ("ip", ipaddress.ip_address("2001:db8::1")) in mine.san
    try:
        aki = theirs.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        aki = None
    assert mine.authority_key_id == aki
    parent = der.certificate(issuing.der)
    assert not mine.self_issued and der.certificate(root.der).self_issued
    assert mine.issuer.raw == parent.subject.raw
    assert der.certificate(root.der).subject.rfc4514() == root.cert.subject.rfc4514_string()


def test_certificates_from_cms():
    certs = [pki.ca("a").cert, pki.ca("b").cert]
    cms = pkcs7.serialize_certificates(certs, serialization.Encoding.DER)
    # a SET OF: DER orders it by encoding, not as given
    assert sorted(der.certificates_from_cms(cms)) == sorted(c.public_bytes(serialization.Encoding.DER) for c in certs)


@pytest.mark.parametrize("data", [b"", b"\x30", b"\x30\x85\x00\x00\x00\x00\x01", b"\x30\x03\x02\x01", b"\x04\x00",
                                  b"\x30\x80\x00\x00"],
                         ids=["empty", "tag-only", "five-byte-length", "truncated-content", "not-a-sequence",
                              "indefinite-length"])
def test_bad_der_raises_der_error(data):
    with pytest.raises(der.DerError):
        der.certificates_from_cms(data)
    with pytest.raises(der.DerError):
        der.certificate(data)


def test_truncated_certificates_raise_der_error():
    cert = pki.ca("x").der
    for n in range(0, len(cert) - 1, 37):
        with pytest.raises(der.DerError):
            der.certificate(cert[:n])


def test_ed25519_pkcs8_is_handed_to_libssh_with_its_public_half():
    for _ in range(5):
        key = ed25519.Ed25519PrivateKey.generate()
        seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert keys.ed25519_public(seed) == public
        pkcs8 = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        pem = keys.der_to_pem(pkcs8, "ietf-crypto-types:one-asymmetric-key-format")
        openssh = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        assert libssh.public_key_of(pem) == openssh.split()[1].decode()
