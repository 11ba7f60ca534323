"""cert-to-name (RFC 7589 S7, RFC 7407) on generated certificates: no sockets."""

from __future__ import annotations

import hashlib

import pytest

from agent.transport.cert_to_name import (
    CertToName,
    CertToNameError,
    derive_name,
    fingerprint,
    map_certificate,
    parse_fingerprint,
)

from .support import pki


@pytest.fixture(scope="module")
def chain():
    root = pki.ca("root")
    issuing = pki.ca("issuing", root)
    cert = pki.leaf(
        "Manager One",
        issuing,
        emails=("Ops.Team@Example.COM",),
        dns=("PMA-1.Example.NET", "second.example.net"),
        ips=("192.0.2.7", "2001:db8::1"),
    )
    return cert, issuing, root


def entry(id: int, map_type: str, fp: str | None = None, name: str | None = None) -> CertToName:
    return CertToName(id, map_type, parse_fingerprint(fp) if fp else None, name)


def test_fingerprint_is_hash_id_then_digest_with_colons(chain):
    cert, _, _ = chain
    fp = fingerprint(cert.der)
    assert fp.startswith("04:")  # sha256 in the TLS HashAlgorithm registry
    assert bytes.fromhex(fp.replace(":", ""))[1:] == hashlib.sha256(cert.der).digest()
    assert fingerprint(cert.der, "sha1").startswith("02:") and len(fingerprint(cert.der, "sha512").split(":")) == 65
    assert parse_fingerprint(fp.upper()) == parse_fingerprint(fp)


@pytest.mark.parametrize("bad", ["01:" + ":".join(["00"] * 16), "04:00:11", "09:" + ":".join(["00"] * 32)])
def test_unusable_fingerprints_are_refused(bad):
    # md5 (1) is forgeable, a short digest is wrong, 9 is no hash algorithm
    with pytest.raises(CertToNameError):
        parse_fingerprint(bad)


@pytest.mark.parametrize(
    "map_type, expected",
    [
        ("san-rfc822-name", "Ops.Team@example.com"),  # local part kept, host lower-cased
        ("san-dns-name", "pma-1.example.net"),  # the first dNSName, lower-cased
        ("san-ip-address", "192.0.2.7"),
        ("san-any", "Ops.Team@example.com"),  # the first SAN of the three kinds
        ("common-name", "Manager One"),
    ],
)
def test_map_types(chain, map_type, expected):
    assert derive_name(map_type, chain[0].der) == expected


def test_ipv6_is_32_lower_case_hex_digits():
    cert = pki.leaf("v6", pki.ca("r"), ips=("2001:DB8::A",))
    assert derive_name("san-ip-address", cert.der) == "20010db800000000000000000000000a"
    assert derive_name("san-any", cert.der) == "20010db800000000000000000000000a"


def test_missing_san_gives_no_name():
    cert = pki.leaf("only a cn", pki.ca("r")).der
    assert all(derive_name(m, cert) is None for m in ("san-rfc822-name", "san-dns-name", "san-ip-address", "san-any"))
    assert derive_name("common-name", cert) == "only a cn"


def test_entries_in_ascending_id_and_ca_fingerprints(chain):
    cert, issuing, root = chain
    full = [cert.der, issuing.der, root.der]
    entries = (
        entry(20, "common-name", fingerprint(root.der)),
        entry(10, "specified", fingerprint(issuing.der), "by-issuing-ca"),
    )
    name, used = map_certificate(entries, full)
    assert (name, used.id) == ("by-issuing-ca", 10)
    # the root's fingerprint matches only when the root is on the verified chain
    assert map_certificate(entries[:1], full)[0] == "Manager One"
    assert map_certificate(entries[:1], [cert.der, issuing.der]) is None


def test_an_entry_without_name_is_passed_over(chain):
    cert, _, root = chain
    bare = pki.leaf("no sans", pki.ca("other"))
    entries = (entry(1, "san-dns-name", fingerprint(bare.der)), entry(2, "specified", fingerprint(bare.der), "fallback"))
    assert map_certificate(entries, [bare.der])[0] == "fallback"
    # a fingerprint of another certificate never matches
    assert map_certificate((entry(1, "specified", fingerprint(root.der), "x"),), [bare.der]) is None


def test_entry_without_fingerprint_matches_any_certificate(chain):
    cert, _, _ = chain
    assert map_certificate((entry(5, "san-dns-name"),), [cert.der])[0] == "pma-1.example.net"


def test_sha1_and_sha512_fingerprints_match(chain):
    cert, _, _ = chain
    for alg in ("sha1", "sha384", "sha512"):
        assert map_certificate((entry(1, "specified", fingerprint(cert.der, alg), "u"),), [cert.der])[0] == "u"


def test_certificate_with_unicode_common_name():
    cert = pki.leaf("Zoë", pki.ca("r")).der
    assert derive_name("common-name", cert) == "Zoë"
