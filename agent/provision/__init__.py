"""Factory provisioning (``dpu-agent provision``): a blank root file system,
or a live box, becomes a DPU that calls home to its operator.

A run reads and checks every input (:mod:`.profile`), makes or reuses the
device's keys (:mod:`.devicekeys`), builds the startup configuration with
:mod:`agent.callhome.build` and validates it with libyang; only then does it
write what differs, all or nothing (:mod:`.staging`). It returns the report
for the operator's inventory: public facts only.

The state directory is laid out as the agent reads it::

    STATE_DIR/startup.cbor, startup.prev.cbor   the startup store (StartupStore)
    STATE_DIR/factory.cbor                     0400, the same configuration, used when both slots are unusable
    STATE_DIR/identity.json                    serial number, model, manufacturer
    STATE_DIR/keys/ssh-host-ed25519.key        0600, PKCS#8 PEM
    STATE_DIR/keys/tls-device.key              0600, PKCS#8 PEM (when TLS is used)
    STATE_DIR/keys/tls-device.crt              the device certificate and its chain (PEM)

Without managers a run leaves the stored configuration alone, and so may
not change a key or certificate it may use.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from .. import initial_config
from ..callhome import build
from ..callhome.config import read_clients
from ..datastore.persist import StartupStore, StoreError
from ..modset import build_schema
from ..settings import Settings
from ..yang import Schema, Tree
from . import devicekeys
from .profile import Profile, ProvisionError
from .staging import ConfigStep, Staging

log = logging.getLogger(__name__)

IDENTITY_FIELDS = ("serial_number", "model", "manufacturer")

#: RFC 4514 has no short name for it (the X.520 name, as OpenSSL prints it)
_ATTRIBUTE_NAMES = {NameOID.SERIAL_NUMBER: "serialNumber"}


@dataclass(frozen=True)
class Target:
    #: the state directory on this machine (under ``root`` when there is one)
    state_dir: Path
    #: the root file system it belongs to; None: this machine's
    root: Path | None = None
    yang_dirs: tuple[str, ...] | None = None

    @property
    def keys_dir(self) -> Path:
        return self.state_dir / "keys"

    def on_box(self, path: Path) -> str:
        """``path`` as the box sees it."""
        if self.root is None:
            return str(path.absolute())
        return "/" + str(path.relative_to(self.root)).lstrip("/")


def provision(profile: Profile, target: Target, force: bool = False) -> dict[str, Any]:
    """Provision ``target``; the report. ProvisionError, with nothing
    written, if an input is bad or the run would replace a key without ``force``."""
    if profile.managers is None:
        if profile.admins:
            raise ProvisionError("--admin / admins: give the managers too (--from or --manager)")
        if force:
            raise ProvisionError(
                "--force makes new device keys, which the stored configuration uses: "
                "give the managers too (--from or --manager) so the configuration is made with them"
            )
        if profile.tls.certificate is not None:
            raise ProvisionError("tls certificate: give the managers too (--from or --manager), "
                                 "so that the configuration is made with the certificate")
    if profile.tls.csr is not None and not profile.tls.csr.parent.is_dir():
        raise ProvisionError(f"tls csr: {profile.tls.csr.parent}: no such directory")

    schema = build_schema(Settings(state_dir=target.state_dir, yang_dirs=target.yang_dirs))
    config_file = StartupStore(target.state_dir, schema)
    stored = _stored(config_file)
    tree = None
    try:
        identity, identity_bytes = _identity(target.state_dir / "identity.json", profile)
        keys_dir = target.keys_dir
        host = devicekeys.ssh_host_key(keys_dir, force)
        tls = None
        if profile.uses_tls or (keys_dir / devicekeys.TLS_KEY).exists():
            tls = devicekeys.tls_credentials(
                keys_dir, profile.tls, identity.get("serial_number"), force, renew=profile.managers is not None
            )
        if profile.managers is not None:
            tree = _configuration(schema, profile, host, tls)

        staging = Staging([target.state_dir, keys_dir])
        staging.put(keys_dir / devicekeys.SSH_HOST_KEY, host.file_data, 0o600)
        if tls is not None:
            staging.put(keys_dir / devicekeys.TLS_KEY, tls.key_file_data, 0o600)
            staging.put(keys_dir / devicekeys.TLS_CERT, tls.chain_file_data, 0o600)
            if tls.csr is not None:
                assert profile.tls.csr is not None  # tls.csr is made for it
                staging.put(profile.tls.csr, tls.csr, 0o644)
        if identity_bytes is not None:
            staging.put(target.state_dir / "identity.json", identity_bytes, 0o644)
        if tree is not None:
            # the configuration of last resort, beside the two slots: the
            # agent starts from it when neither slot is usable
            staging.put(config_file.factory_path, config_file.encode(tree), 0o400)
            if not config_file.holds(tree):
                staging.last = ConfigStep(config_file, tree)
        written = staging.paths
        try:
            staging.commit()
        except OSError as exc:
            raise ProvisionError(f"nothing written: {exc.filename or target.state_dir}: {exc.strerror}") from None
        return _report(target, identity, host, tls, profile, tree if tree is not None else stored, written)
    finally:
        for t in (tree, stored):
            if t is not None:
                t.free()


def _stored(config_file: StartupStore) -> Tree | None:
    try:
        loaded = config_file.load()
    except StoreError as exc:
        log.warning("the stored configuration is unusable (%s): provisioning replaces it", exc)
        return None
    if loaded is None:
        return None
    if loaded.problem:
        log.warning("%s; the previous configuration is what the box would use", loaded.problem)
    return loaded.tree


def _identity(path: Path, profile: Profile) -> tuple[dict[str, Any], bytes | None]:
    """The identity after this run, and what identity.json is to hold (None: left alone)."""
    try:
        old = json.loads(path.read_text())
    except FileNotFoundError:
        old = {}
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable (%s)%s", path, exc, "; it is replaced" if profile.identity.as_dict() else "")
        old = {}
    if not isinstance(old, dict):
        old = {}
    new = {**old, **profile.identity.as_dict()}
    if not profile.identity.as_dict():
        return new, None
    return new, (json.dumps(new, indent=2, sort_keys=True) + "\n").encode()


def _configuration(schema: Schema, profile: Profile, host: devicekeys.SshHostKey,
                   tls: devicekeys.TlsCredentials | None) -> Tree:
    """The startup configuration of the managers, validated by libyang."""
    assert profile.managers is not None  # called when managers are given
    clients = [
        dataclasses.replace(c, tls=dataclasses.replace(c.tls, cert_chain=_chain_der(tls))) if c.tls is not None else c
        for c in profile.managers
    ]
    admins = build.default_admins(clients) + profile.admins
    xml = build.config_xml(clients, base64.b64encode(host.wire).decode(), admins)
    try:
        return initial_config.read(schema, xml, "the provisioned configuration")
    except initial_config.InitialConfigError as exc:
        raise ProvisionError(str(exc)) from None


def _chain_der(tls: devicekeys.TlsCredentials | None) -> list[bytes]:
    assert tls is not None  # a TLS client makes the device's TLS credentials (Profile.uses_tls)
    return tls.chain_der


def _url(transport: str, host: str, port: int) -> str:
    return f"{transport}://{f'[{host}]' if ':' in host else host}:{port}"


def _report(target: Target, identity: dict[str, Any], host: devicekeys.SshHostKey, tls: devicekeys.TlsCredentials | None,
            profile: Profile, tree: Tree | None, written: list[Path]) -> dict[str, Any]:
    managers = []
    if tree is not None:
        for c in read_clients(tree).values():
            eps = [{"name": e.name, "url": _url(e.transport, e.remote_address, e.remote_port),
                    **({"local-address": e.local_address} if e.local_address else {})} for e in c.endpoints]
            # when the manager is to expect the box: always, or every period minutes
            when: dict[str, str | int] = {"connection-type": c.connection_type}
            if c.connection_type == "periodic":
                when["period-minutes"] = c.period
            managers.append({"name": c.name, "endpoints": eps, **when})
    return {
        **{f: identity.get(f) for f in IDENTITY_FIELDS},
        "root": str(target.root) if target.root is not None else None,
        "state_dir": target.on_box(target.state_dir),
        "ssh_host_key": {"public_key": host.openssh, "fingerprint": host.fingerprint},
        "tls_certificate": _certificate(tls, profile) if tls is not None else None,
        "managers": managers,
        "written": [target.on_box(p) if target.root is None or p.is_relative_to(target.root) else str(p) for p in written],
    }


def _certificate(tls: devicekeys.TlsCredentials, profile: Profile) -> dict[str, Any]:
    leaf = tls.chain[0]
    digest = leaf.fingerprint(hashes.SHA256())
    return {
        "subject": leaf.subject.rfc4514_string(_ATTRIBUTE_NAMES),
        "issuer": leaf.issuer.rfc4514_string(_ATTRIBUTE_NAMES),
        "self_signed": tls.self_signed,
        "not_after": leaf.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256_fingerprint": ":".join(f"{b:02X}" for b in digest),
        "pem": leaf.public_bytes(serialization.Encoding.PEM).decode(),
        "csr": str(profile.tls.csr) if tls.csr is not None else None,
    }

