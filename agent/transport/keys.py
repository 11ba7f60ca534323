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

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

log = logging.getLogger(__name__)

PrivateKey = PrivateKeyTypes

KEY_FILE_SUFFIXES = (".key", ".pem")


class KeyMaterialError(Exception):
    """Key material in the configuration or the key directory is unusable."""


def spki(public_key: PublicKeyTypes) -> bytes:
    """A public key as SubjectPublicKeyInfo DER, the index of the key directory."""
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _parse_private_key(data: bytes) -> PrivateKey:
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
    try:
        return serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyMaterialError(f"private key in {fmt.rpartition(':')[2] or 'unknown format'} cannot be read") from None


def resolve_private_key(definition: dict, public: bytes | None, keys_dir: Path, what: str) -> PrivateKey:
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
        key = load_key_dir(keys_dir).get(public)
        if key is None:
            raise KeyMaterialError(f"{what}: no private key for it in {keys_dir}")
        return key
    raise KeyMaterialError(f"{what}: only cleartext and hidden private keys are supported")
