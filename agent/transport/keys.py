"""Private keys of the device: the one place that reads them.

A configuration gives a key either inline (``cleartext-private-key``) or by
its public half only (``hidden-private-key``, RFC 9640): the private half
then comes from a file in the key directory (``STATE_DIR/keys/*.key|*.pem``,
PKCS#8, SEC1, PKCS#1 or OpenSSH, PEM or DER) whose public key matches.
Keys are matched by their SubjectPublicKeyInfo (DER), whatever the
transport. Neither keys nor the contents of key files are ever logged.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes as PrivateKey
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

log = logging.getLogger(__name__)

KEY_FILE_SUFFIXES = (".key", ".pem")


class KeyMaterialError(Exception):
    """Key material in the configuration or the key directory is unusable."""


#: ietf-crypto-types private-key-format -> the PEM label of that DER
_PEM_LABELS = {
    "one-asymmetric-key-format": "PRIVATE KEY",
    "ec-private-key-format": "EC PRIVATE KEY",
    "rsa-private-key-format": "RSA PRIVATE KEY",
}


def pem(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return b"\n".join([f"-----BEGIN {label}-----".encode(), *lines, f"-----END {label}-----".encode(), b""])


def der_to_pem(der: bytes, fmt: str, *, for_libssh: bool = True) -> bytes:
    """A cleartext private key of the configuration (DER) as the PEM that
    libssh (or OpenSSL) imports as it is."""
    text = pem(_PEM_LABELS.get(fmt.rpartition(":")[2], "PRIVATE KEY"), der)
    return _for_libssh(text) if for_libssh else text


def pem_candidates(data: bytes, *, for_libssh: bool = True) -> list[bytes]:
    """A key file's content as PEM: as it is when it is text (PEM, OpenSSH),
    else DER under each label it may have."""
    texts = [data] if b"-----BEGIN" in data else [pem(label, data) for label in _PEM_LABELS.values()]
    return [_for_libssh(t) for t in texts] if for_libssh else texts


def spki(public_key: PublicKeyTypes) -> bytes:
    """A public key as SubjectPublicKeyInfo DER, the index of the key directory."""
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _parse_private_key(data: bytes) -> PrivateKey:
    from cryptography.hazmat.primitives import serialization

    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
        return serialization.load_ssh_private_key(data, password=None)
    if b"-----BEGIN" in data:
        return serialization.load_pem_private_key(data, password=None)
    return serialization.load_der_private_key(data, password=None)


def read_private_key(path: Path) -> PrivateKey:
    """One private key file, in any format of the key directory; the error
    names the file, never its content."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(f"{path}: {exc.strerror}") from None
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        return _parse_private_key(data)
    except TypeError:
        raise KeyMaterialError(f"{path}: an encrypted private key (decrypt it first)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyMaterialError(f"{path}: not a private key (PKCS#8, SEC1, PKCS#1 or OpenSSH; PEM or DER)") from None


def exposed_secrets(paths: list[Path]) -> list[str]:
    """Why each of ``paths`` (key files, files that may hold keys) is readable
    by more than its owner, if it is: the agent refuses to run with exposed keys."""
    problems = []
    for path in paths:
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            continue
        if mode & 0o077:
            problems.append(f"{path} is readable or writable by others (mode {mode & 0o777:o}): chmod 600 it")
    return problems


def write_key_file(path: Path, data: bytes) -> None:
    """Write a private key file readable by its owner only (0600)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # also when the file existed with looser bits
        os.write(fd, data)
    finally:
        os.close(fd)


def key_files(keys_dir: Path) -> list[Path]:
    if not keys_dir.is_dir():
        return []
    return [p for p in sorted(keys_dir.iterdir()) if p.suffix in KEY_FILE_SUFFIXES and p.is_file()]


def load_key_dir(keys_dir: Path) -> dict[bytes, PrivateKey]:
    """Private keys provisioned as files, indexed by their public key (SPKI DER)."""
    from cryptography.exceptions import UnsupportedAlgorithm

    found: dict[bytes, PrivateKey] = {}
    for path in key_files(keys_dir):
        try:
            key = _parse_private_key(path.read_bytes())
        except (OSError, ValueError, TypeError, UnsupportedAlgorithm) as exc:
            # TypeError: an encrypted key (no passphrase is ever configured)
            log.warning("ignoring %s: not a usable private key (%s)", path, type(exc).__name__)
            continue
        found[spki(key.public_key())] = key
    return found


def private_key_from_config(fmt: str, data: bytes) -> PrivateKey:
    """A cleartext private key as ietf-crypto-types carries it: DER in
    one-asymmetric-key (PKCS#8), ec-private-key (SEC1) or rsa-private-key (PKCS#1) format."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyMaterialError(f"private key in {fmt.rpartition(':')[2] or 'unknown format'} cannot be read") from None


def resolve_private_key(definition: dict[str, Any], public: bytes | None, keys_dir: Path, what: str) -> PrivateKey:
    """The private key of an ``asymmetric-key-pair-grouping`` (RFC 7951 JSON).

    ``public`` is the SPKI the key must match (from the configured public key
    or the certificate); a hidden key is looked up by it."""
    if "cleartext-private-key" in definition:
        key = private_key_from_config(
            definition.get("private-key-format", ""), base64.b64decode(definition["cleartext-private-key"])
        )
        if public is not None and spki(key.public_key()) != public:
            raise KeyMaterialError(f"{what}: private and public key do not match")
        return key
    if "hidden-private-key" in definition:
        if public is None:
            raise KeyMaterialError(f"{what}: a hidden private key needs its public key to be found")
        hidden = load_key_dir(keys_dir).get(public)
        if hidden is None:
            raise KeyMaterialError(f"{what}: no private key for it in {keys_dir}")
        return hidden
    raise KeyMaterialError(f"{what}: only cleartext and hidden private keys are supported")


# -- Ed25519 in PKCS#8, for libssh 0.10 ----------------------------------------
# libssh 0.10 imports an Ed25519 key from PKCS#8 PEM but cannot use it (its
# Ed25519 code wants the public half beside the seed, as OpenSSH's format has
# it); 0.11 can. Such keys are handed over in OpenSSH's format, the public
# half derived from the seed (RFC 8032 5.1.5; public data only, done once per
# call-home attempt).

_ED25519_PKCS8_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
_P = 2**255 - 19
_D = -121665 * pow(121666, -1, _P) % _P


_Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T)


def _ed_add(a: _Point, b: _Point) -> _Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    A = (y1 - x1) * (y2 - x2) % _P
    B = (y1 + x1) * (y2 + x2) % _P
    C = 2 * t1 * t2 * _D % _P
    D = 2 * z1 * z2 % _P
    E, F, G, H = B - A, D - C, D + C, B + A
    return E * F % _P, G * H % _P, F * G % _P, E * H % _P


def _ed_base() -> _Point:
    y = 4 * pow(5, -1, _P) % _P
    x2 = (y * y - 1) * pow(_D * y * y + 1, -1, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * pow(2, (_P - 1) // 4, _P) % _P
    if x & 1:
        x = _P - x
    return x, y, 1, x * y % _P


def ed25519_public(seed: bytes) -> bytes:
    """The Ed25519 public key of a 32-byte seed (RFC 8032 5.1.5)."""
    import hashlib

    h = hashlib.sha512(seed).digest()
    s = int.from_bytes(h[:32], "little")
    s &= (1 << 254) - 8
    s |= 1 << 254
    q, p = (0, 1, 1, 0), _ed_base()
    while s:
        if s & 1:
            q = _ed_add(q, p)
        p = _ed_add(p, p)
        s >>= 1
    x, y, z, _ = q
    zi = pow(z, -1, _P)
    x, y = x * zi % _P, y * zi % _P
    return (y | (x & 1) << 255).to_bytes(32, "little")


def _ssh_string(b: bytes) -> bytes:
    return len(b).to_bytes(4, "big") + b


def ed25519_pkcs8_to_openssh(der: bytes) -> bytes | None:
    """An Ed25519 PKCS#8 key (DER) in OpenSSH's format; None for other keys."""
    if not der.startswith(_ED25519_PKCS8_PREFIX) or len(der) < len(_ED25519_PKCS8_PREFIX) + 32:
        return None
    seed = der[len(_ED25519_PKCS8_PREFIX):][:32]
    pub = ed25519_public(seed)
    kind = _ssh_string(b"ssh-ed25519")
    blob = kind + _ssh_string(pub)
    check = os.urandom(4)
    private = check + check + blob + _ssh_string(seed + pub) + _ssh_string(b"")
    private += bytes(range(1, 1 + (-len(private)) % 8))
    body = (b"openssh-key-v1\0" + _ssh_string(b"none") + _ssh_string(b"none") + _ssh_string(b"")
            + (1).to_bytes(4, "big") + _ssh_string(blob) + _ssh_string(private))
    text = base64.b64encode(body)
    lines = [text[i:i + 70] for i in range(0, len(text), 70)]
    return b"\n".join([b"-----BEGIN OPENSSH PRIVATE KEY-----", *lines, b"-----END OPENSSH PRIVATE KEY-----", b""])


def _pem_der(data: bytes) -> bytes | None:
    if b"-----BEGIN PRIVATE KEY-----" not in data:
        return None
    body = data.split(b"-----BEGIN PRIVATE KEY-----", 1)[1].split(b"-----END", 1)[0]
    try:
        return base64.b64decode(b"".join(body.split()))
    except ValueError:
        return None


def _for_libssh(pem_text: bytes) -> bytes:
    """A private key as libssh 0.10 and 0.11 both use it (see above)."""
    der = _pem_der(pem_text)
    if der is not None:
        return ed25519_pkcs8_to_openssh(der) or pem_text
    return pem_text
