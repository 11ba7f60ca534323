"""What to provision, read from plain values: the ``--from`` file (TOML or
JSON) and the command line both come here as one dict, so both are checked
by the same code.

Everything a run needs from outside (managers' public keys, certificates,
the file names of a key to import) is read and checked here, before
anything is written. Error messages name the item and the file, never the
content of a file: an operator may pass a private key by mistake.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import asyncssh
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..callhome import build
from ..transport.cert_to_name import MAP_TYPES, CertToNameError, fingerprint, parse_fingerprint

DEFAULT_PORTS = {"ssh": 4334, "tls": 4335}

#: SSH key types an OpenSSH public-key line may start with
_SSH_KEY_TYPE = re.compile(r"^(ssh-|ecdsa-sha2-|sk-)\S+$")

#: ssh-dss signs with SHA-1 only, which the agent's SSH server refuses
_REFUSED_SSH_KEYS = {b"ssh-dss"}


class ProvisionError(Exception):
    """Bad input or a state the run refuses to change; the message says which and why."""


@dataclass(frozen=True)
class Identity:
    serial_number: str | None = None
    model: str | None = None
    manufacturer: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class TlsIdentity:
    """The device's TLS certificate: imported (``certificate``, with ``key``
    or for the key already on the box, and ``chain``), else the one already
    provisioned, else self-signed; ``csr``: also write a CSR for its key there."""

    certificate: Path | None = None
    key: Path | None = None
    chain: Path | None = None
    csr: Path | None = None

    @property
    def given(self) -> bool:
        return any(v is not None for v in vars(self).values())


@dataclass
class Profile:
    identity: Identity = field(default_factory=Identity)
    tls: TlsIdentity = field(default_factory=TlsIdentity)
    #: the managers; a TLS client's ``tls.cert_chain`` is the device's, filled in later.
    #: None: no managers given, the stored configuration is left as it is
    managers: list[build.Client] | None = None
    #: further NACM admin users (names that a certificate's SAN or CN gives)
    admins: list[str] = field(default_factory=list)

    @property
    def uses_tls(self) -> bool:
        return self.tls.given or any(e.transport == "tls" for c in self.managers or [] for e in c.endpoints)


# -- reading the --from file ---------------------------------------------------


def read_file(path: Path) -> dict[str, Any]:
    """A ``--from`` file: TOML, or JSON when it is named ``*.json`` or starts with ``{``."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ProvisionError(f"--from {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ProvisionError(f"--from {path}: not a text file") from None
    data: object
    try:
        if path.suffix == ".json" or text.lstrip().startswith("{"):
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ProvisionError(f"--from {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ProvisionError(f"--from {path}: not a table of settings")
    return data


# -- checking plain values ------------------------------------------------------


def _keys(d: dict[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ProvisionError(f"{what}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")


def _table(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProvisionError(f"{what}: expected a table of key = value")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ProvisionError(f"{what}: expected a list")
    return value


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or not value.isprintable():
        raise ProvisionError(f"{what}: expected a non-empty line of text")
    return value


def _int(value: Any, what: str) -> int:
    # the command line gives every value as text
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProvisionError(f"{what}: expected a whole number")
    return value


def _path(value: Any, base: Path, what: str) -> Path:
    return base / Path(_text(value, what)).expanduser()


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ProvisionError(f"{what}: {path}: {exc.strerror}") from None


# -- public keys and certificates ----------------------------------------------


def ssh_public_keys(value: str, base: Path, what: str) -> list[str]:
    """An OpenSSH public-key line, or a file of them (authorized_keys: blank
    lines and # comments allowed, options not), as wire-format base64."""
    words = value.split()
    if len(words) > 1 and _SSH_KEY_TYPE.match(words[0]):  # a file name has no key type and base64 after it
        return [_ssh_key_line(value, what)]
    path = base / Path(value).expanduser()
    raw = _read(path, what)
    if b"PRIVATE KEY" in raw:
        raise ProvisionError(f"{what}: {path} holds a private key; give the public key (.pub)")
    try:
        lines = raw.decode().splitlines()
    except UnicodeDecodeError:
        raise ProvisionError(f"{what}: {path} is not a text file of OpenSSH public keys") from None
    keys = [
        _ssh_key_line(line, f"{what}: {path} line {n}")
        for n, line in enumerate(lines, 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not keys:
        raise ProvisionError(f"{what}: {path} holds no public key")
    return keys


def _ssh_key_line(line: str, what: str) -> str:
    if not _SSH_KEY_TYPE.match(line.split(maxsplit=1)[0] if line.split() else ""):
        raise ProvisionError(f"{what}: not an OpenSSH public key line (type base64 [comment]; no authorized_keys options)")
    try:
        key = asyncssh.import_public_key(line.strip())
    except (asyncssh.KeyImportError, ValueError):
        raise ProvisionError(f"{what}: malformed OpenSSH public key") from None
    if key.algorithm in _REFUSED_SSH_KEYS:
        raise ProvisionError(f"{what}: {key.algorithm.decode()} keys sign with SHA-1, which the agent refuses")
    return base64.b64encode(key.public_data).decode()


def certificates(path: Path, what: str) -> list[x509.Certificate]:
    """Certificates of a PEM file (one or more) or a DER file (one)."""
    raw = _read(path, what)
    if b"PRIVATE KEY" in raw:
        raise ProvisionError(f"{what}: {path} holds a private key, not only certificates")
    try:
        if b"-----BEGIN" in raw:
            certs = x509.load_pem_x509_certificates(raw)
        else:
            certs = [x509.load_der_x509_certificate(raw)]
    except ValueError:
        raise ProvisionError(f"{what}: {path} is not an X.509 certificate (PEM or DER)") from None
    return certs


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


# -- the profile -----------------------------------------------------------------

_TOP = {"serial-number", "model", "manufacturer", "admins", "tls", "managers"}
_TLS = {"certificate", "key", "chain", "csr"}
_MANAGER = {"name", "endpoints", "reconnect", "periodic", "keepalives", "ssh-keepalives", "local-address", "users",
            "ca-certs", "ee-certs", "cert-to-name"}
_ENDPOINT = {"name", "url", "keepalives", "ssh-keepalives", "local-address"}
_PERIODIC = {"period", "idle-timeout"}
_RECONNECT = {"start-with", "max-wait", "max-attempts"}
_START_WITH = ("first-listed", "last-connected", "random-selection")
_KEEPALIVES = ("idle-time", "max-probes", "probe-interval")
_SSH_KEEPALIVES = ("max-wait", "max-attempts")
_CERT_TO_NAME = {"id", "map-type", "name", "fingerprint", "cert"}


def profile_from_dict(data: dict[str, Any], base: Path) -> Profile:
    """Check ``data`` (the file's structure) and read the files it names
    (relative to ``base``)."""
    _keys(data, _TOP, "provisioning settings")
    identity = Identity(**{
        k.replace("-", "_"): _text(data[k], k) for k in ("serial-number", "model", "manufacturer") if k in data
    })
    tls_d = _table(data.get("tls", {}), "tls")
    _keys(tls_d, _TLS, "tls")
    tls = TlsIdentity(**{k: _path(v, base, f"tls {k}") for k, v in tls_d.items()})
    admins = [_text(a, "admins") for a in _list(data.get("admins", []), "admins")]
    managers = None
    if "managers" in data:
        managers = [_manager(_table(m, "managers"), base) for m in _list(data["managers"], "managers")]
        _unique([m.name for m in managers], "manager")
        if not managers:
            raise ProvisionError("managers: the list is empty")
    return Profile(identity, tls, managers, admins)


def merge(base: Profile, over: Profile) -> Profile:
    """``base`` (the --from file) with what ``over`` (the command line) gives."""
    if base.managers is not None and over.managers is not None:
        raise ProvisionError("managers come from --from FILE or from --manager options, not both")
    identity = Identity(**{**base.identity.as_dict(), **over.identity.as_dict()})
    tls = TlsIdentity(**{k: v if v is not None else getattr(base.tls, k) for k, v in vars(over.tls).items()})
    if tls.key is not None and tls.certificate is None:
        raise ProvisionError("tls key: an imported key needs its certificate (tls certificate)")
    if tls.chain is not None and tls.certificate is None:
        raise ProvisionError("tls chain: a chain needs the device certificate (tls certificate)")
    admins = list(dict.fromkeys(base.admins + over.admins))
    return Profile(identity, tls, base.managers if over.managers is None else over.managers, admins)


def _unique(names: list[Any], what: str) -> None:
    seen = set()
    for n in names:
        if n in seen:
            raise ProvisionError(f"{what} {n} is given twice")
        seen.add(n)


def _manager(m: dict[str, Any], base: Path) -> build.Client:
    name = _text(m.get("name"), "manager name")
    what = f"manager {name}"
    _keys(m, _MANAGER, what)
    reconnect = _table(m.get("reconnect", {}), f"{what} reconnect")
    _keys(reconnect, _RECONNECT, f"{what} reconnect")
    start_with = reconnect.get("start-with", "first-listed")
    if start_with not in _START_WITH:
        raise ProvisionError(f"{what} reconnect start-with: one of {', '.join(_START_WITH)}")
    keepalives = _numbers(m.get("keepalives"), _KEEPALIVES, f"{what} keepalives")
    ssh_keepalives = _numbers(m.get("ssh-keepalives"), _SSH_KEEPALIVES, f"{what} ssh-keepalives")
    local = _address(m["local-address"], f"{what} local-address") if "local-address" in m else None
    endpoints = [
        _endpoint(_table(e, f"{what} endpoints"), what, keepalives, ssh_keepalives, local)
        for e in _list(m.get("endpoints", []), f"{what} endpoints")
    ]
    periodic = None
    if "periodic" in m:
        p = _table(m["periodic"], f"{what} periodic")
        _keys(p, _PERIODIC, f"{what} periodic")
        # the module's defaults: hourly, closed after three idle minutes
        periodic = (_int(p.get("period", 60), f"{what} periodic period"),
                    _int(p.get("idle-timeout", 180), f"{what} periodic idle-timeout"))
    if not endpoints:
        raise ProvisionError(f"{what}: no endpoints (give at least one ssh:// or tls:// URL)")
    _unique([e.name for e in endpoints], f"{what}: endpoint")
    transports = {e.transport for e in endpoints}

    users: dict[str, list[str]] = {}
    for user, keys in _table(m.get("users", {}), f"{what} users").items():
        uwhat = f"{what} user {user}"
        _text(user, f"{what} user name")
        values = [keys] if isinstance(keys, str) else _list(keys, uwhat)
        users[user] = [k for v in values for k in ssh_public_keys(_text(v, uwhat), base, uwhat)]
        if not users[user]:
            raise ProvisionError(f"{uwhat}: no public key")
        _unique(users[user], f"{uwhat}: public key")
    if "ssh" in transports and not users:
        raise ProvisionError(f"{what}: SSH endpoints but no users with public keys: nobody could log in")
    if "ssh" not in transports and users:
        raise ProvisionError(f"{what}: users with SSH keys but no ssh:// endpoint")

    ca_certs = {
        n: [der(c) for c in certificates(_path(f, base, f"{what} ca-cert {n}"), f"{what} ca-cert {n}")]
        for n, f in _table(m.get("ca-certs", {}), f"{what} ca-certs").items()
    }
    ee_certs: dict[str, bytes] = {}
    for n, f in _table(m.get("ee-certs", {}), f"{what} ee-certs").items():
        certs = certificates(_path(f, base, f"{what} ee-cert {n}"), f"{what} ee-cert {n}")
        if len(certs) != 1:
            raise ProvisionError(f"{what} ee-cert {n}: a pinned certificate file holds exactly one certificate")
        ee_certs[n] = der(certs[0])
    c2n = [_cert_to_name(_table(e, f"{what} cert-to-name"), base, what) for e in _list(m.get("cert-to-name", []), f"{what} cert-to-name")]
    _unique([e.id for e in c2n], f"{what}: cert-to-name id")
    tls = None
    if "tls" in transports:
        if not ca_certs and not ee_certs:
            raise ProvisionError(f"{what}: TLS endpoints but no ca-certs or ee-certs to verify the manager with")
        if not c2n:
            raise ProvisionError(f"{what}: TLS endpoints but no cert-to-name entry to name the manager's user")
        tls = build.TlsServer([], ca_certs, ee_certs, c2n)
    elif ca_certs or ee_certs or c2n:
        raise ProvisionError(f"{what}: ca-certs, ee-certs or cert-to-name but no tls:// endpoint")
    return build.Client(
        name,
        endpoints,
        users=users,
        tls=tls,
        start_with=start_with,
        max_wait=_int(reconnect.get("max-wait", 5), f"{what} reconnect max-wait"),
        max_attempts=_int(reconnect.get("max-attempts", 3), f"{what} reconnect max-attempts"),
        periodic=periodic,
    )


def _numbers(value: Any, names: tuple[str, ...], what: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    d = _table(value, what)
    _keys(d, set(names), what)
    missing = [n for n in names if n not in d]
    if missing:
        raise ProvisionError(f"{what}: {', '.join(missing)} missing (give {', '.join(names)})")
    return tuple(_int(d[n], f"{what} {n}") for n in names)


def _address(value: Any, what: str) -> str:
    text = _text(value, what)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ProvisionError(f"{what}: {text!r} is not an IPv4 or IPv6 address") from None


def _endpoint(e: dict[str, Any], what: str, keepalives: tuple[int, ...] | None, ssh_keepalives: tuple[int, ...] | None,
              local_address: str | None) -> build.Endpoint:
    name = _text(e.get("name"), f"{what} endpoint name")
    ewhat = f"{what} endpoint {name}"
    _keys(e, _ENDPOINT, ewhat)
    transport, host, port = parse_url(_text(e.get("url"), f"{ewhat} url"), ewhat)
    ka = _numbers(e["keepalives"], _KEEPALIVES, f"{ewhat} keepalives") if "keepalives" in e else keepalives
    ska = _numbers(e["ssh-keepalives"], _SSH_KEEPALIVES, f"{ewhat} ssh-keepalives") if "ssh-keepalives" in e else ssh_keepalives
    if transport == "tls" and "ssh-keepalives" in e:
        raise ProvisionError(f"{ewhat}: ssh-keepalives on a tls:// endpoint")
    if "local-address" in e:
        local_address = _address(e["local-address"], f"{ewhat} local-address")
    # _numbers gives one number per name: three keepalives, two ssh-keepalives
    return build.Endpoint(name, host, port, transport=transport, keepalives=cast("tuple[int, int, int] | None", ka),
                          local_address=local_address,
                          ssh_keepalives=cast("tuple[int, int] | None", ska) if transport == "ssh" else None)


def parse_url(url: str, what: str) -> tuple[str, str, int]:
    """``ssh://host[:port]`` or ``tls://host[:port]`` (IPv6 in brackets)."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise ProvisionError(f"{what}: {url!r}: the URL must be ssh://host[:port] or tls://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ProvisionError(f"{what}: {url!r}: only a host and a port, nothing else")
    if not parts.hostname:
        raise ProvisionError(f"{what}: {url!r}: no host")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is None:
        port = DEFAULT_PORTS[parts.scheme]
    if not 1 <= port <= 65535:
        raise ProvisionError(f"{what}: {url!r}: port {parts.netloc.rpartition(':')[2]} is not 1..65535")
    return parts.scheme, parts.hostname, port


def _cert_to_name(e: dict[str, Any], base: Path, what: str) -> build.CertToName:
    cwhat = f"{what} cert-to-name {e.get('id', '?')}"
    _keys(e, _CERT_TO_NAME, cwhat)
    ident = _int(e.get("id"), f"{cwhat} id")
    if not 1 <= ident <= 4294967295:
        raise ProvisionError(f"{cwhat}: id must be 1..4294967295")
    map_type = e.get("map-type")
    if map_type not in MAP_TYPES:
        raise ProvisionError(f"{cwhat}: map-type must be one of {', '.join(MAP_TYPES)}")
    name = _text(e["name"], f"{cwhat} name") if "name" in e else None
    if (map_type == "specified") != (name is not None):
        raise ProvisionError(f"{cwhat}: a name goes with map-type specified, and only with it")
    if "fingerprint" in e and "cert" in e:
        raise ProvisionError(f"{cwhat}: fingerprint or cert, not both")
    fp = None
    if "fingerprint" in e:
        fp = _text(e["fingerprint"], f"{cwhat} fingerprint").lower()
        try:
            parse_fingerprint(fp)
        except (CertToNameError, ValueError) as exc:
            raise ProvisionError(f"{cwhat} fingerprint: {exc}") from None
    elif "cert" in e:
        certs = certificates(_path(e["cert"], base, f"{cwhat} cert"), f"{cwhat} cert")
        fp = fingerprint(der(certs[0]))
    return build.CertToName(ident, map_type, fp, name)
