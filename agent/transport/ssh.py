"""NETCONF over SSH on a call-home socket: the agent is the SSH *server*
(RFC 8071 S3) on a TCP connection it opened itself (asyncssh.connect_reverse).

Only the "netconf" subsystem is offered (RFC 6242); no shell, exec, PTY or
forwarding. Client authentication is by public key against the users of
``ssh-server-parameters/client-authentication``; SHA-1 algorithms are off.
"""

from __future__ import annotations

import base64
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from ..server import NetconfServer
from .stream import Activity, SessionBridge

log = logging.getLogger(__name__)

SUBSYSTEM = "netconf"


def _sha2_only(algs: list[bytes]) -> list[str]:
    # ssh-rsa signs with SHA-1; GSS key exchange needs Kerberos we do not have
    return [a.decode() for a in algs if b"sha1" not in a and a != b"ssh-rsa" and not a.startswith(b"gss-")]


def _algorithms() -> dict[str, list[str]]:
    from asyncssh import kex, mac, public_key

    return {
        "kex_algs": _sha2_only(kex.get_default_kex_algs()),
        "mac_algs": [a for a in _sha2_only(mac.get_default_mac_algs()) if "umac" not in a],
        "signature_algs": _sha2_only(public_key.get_default_public_key_algs()),
    }


@dataclass(frozen=True)
class SshUser:
    name: str
    #: OpenSSH authorized_keys lines
    authorized_keys: tuple[str, ...]


@dataclass(frozen=True)
class SshServerParams:
    """What ``ssh-server-parameters`` says, resolved to key material."""

    host_keys: tuple[asyncssh.SSHKey, ...]
    users: tuple[SshUser, ...]
    #: RFC 8071 S7 SSH keepalives (ietf-ssh-server keepalives); None = off
    keepalive_max_wait: int | None = None
    keepalive_max_attempts: int = 3


class KeyMaterialError(Exception):
    """Key material in the configuration or the key directory is unusable."""


def public_key_from_config(fmt: str, data: bytes) -> asyncssh.SSHKey:
    """A public key as ietf-crypto-types carries it (SSH wire format or SPKI DER)."""
    from asyncssh.public_key import decode_ssh_public_key

    try:
        if fmt.endswith("ssh-public-key-format"):
            return decode_ssh_public_key(data)
        return asyncssh.import_public_key(data)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise KeyMaterialError(f"public key in {fmt.rpartition(':')[2]} cannot be read: {exc}") from None


def private_key_from_config(fmt: str, data: bytes) -> asyncssh.SSHKey:
    """A cleartext private key as ietf-crypto-types carries it (DER)."""
    try:
        return asyncssh.import_private_key(data)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise KeyMaterialError(f"private key in {fmt.rpartition(':')[2]} cannot be read: {exc}") from None


def load_key_dir(keys_dir: Path) -> dict[bytes, asyncssh.SSHKey]:
    """Private keys provisioned as files, indexed by their public key (SSH wire format).

    A configuration names a device key by its public half with
    ``hidden-private-key``; the private half never leaves this directory."""
    found: dict[bytes, asyncssh.SSHKey] = {}
    if not keys_dir.is_dir():
        return found
    for path in sorted(keys_dir.iterdir()):
        if path.suffix not in (".key", ".pem") or not path.is_file():
            continue
        try:
            key = asyncssh.read_private_key(str(path))
        except (asyncssh.KeyImportError, OSError, ValueError) as exc:
            log.warning("ignoring %s: not a usable private key (%s)", path, exc)
            continue
        found[key.public_data] = key
    return found


def params_from_config(params: dict, keys_dir: Path) -> SshServerParams:
    """Resolve an endpoint's ``ssh`` container (RFC 7951 JSON) to key material."""
    p = params.get("ssh-server-parameters", {})
    keys_by_public = load_key_dir(keys_dir)
    host_keys = []
    for hk in p.get("server-identity", {}).get("host-key", []):
        inline = hk.get("public-key", {}).get("inline-definition")
        if inline is None:
            raise KeyMaterialError(f"host key {hk['name']}: only inline definitions are supported")
        public = public_key_from_config(inline.get("public-key-format", ""), base64.b64decode(inline.get("public-key", "")))
        if "cleartext-private-key" in inline:
            key = private_key_from_config(inline.get("private-key-format", ""), base64.b64decode(inline["cleartext-private-key"]))
        else:
            key = keys_by_public.get(public.public_data)
            if key is None:
                raise KeyMaterialError(f"host key {hk['name']}: no private key for it in {keys_dir}")
        if key.public_data != public.public_data:
            raise KeyMaterialError(f"host key {hk['name']}: private and public key do not match")
        host_keys.append(key)
    users = []
    for u in p.get("client-authentication", {}).get("users", {}).get("user", []):
        lines = []
        for pk in u.get("public-keys", {}).get("inline-definition", {}).get("public-key", []):
            key = public_key_from_config(pk.get("public-key-format", ""), base64.b64decode(pk.get("public-key", "")))
            lines.append(key.export_public_key("openssh").decode().strip())
        users.append(SshUser(u["name"], tuple(lines)))
    return SshServerParams(tuple(host_keys), tuple(users))


class _Channel(asyncssh.SSHServerSession):
    def __init__(self, server: NetconfServer, peer: str, activity: Activity | None) -> None:
        self._server = server
        self._peer = peer
        self._activity = activity
        self._chan: asyncssh.SSHServerChannel | None = None
        self._bridge: SessionBridge | None = None

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:
        self._chan = chan

    def subsystem_requested(self, subsystem: str) -> bool:
        return subsystem == SUBSYSTEM

    def shell_requested(self) -> bool:
        return False

    def exec_requested(self, command: str) -> bool:
        return False

    def session_started(self) -> None:
        chan = self._chan
        assert chan is not None
        self._bridge = SessionBridge(
            self._server,
            username=chan.get_extra_info("username"),
            transport="netconf-ssh",
            peer=self._peer,
            write=chan.write,
            close=chan.close,
            pause_reading=chan.pause_reading,
            resume_reading=chan.resume_reading,
            activity=self._activity,
        )

    def data_received(self, data: bytes, datatype) -> None:
        if self._bridge is not None:
            self._bridge.data_received(data)

    def eof_received(self) -> bool:
        if self._bridge is not None:
            self._bridge.eof_received()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._bridge is not None:
            self._bridge.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._bridge is not None:
            self._bridge.pause_writing()

    def resume_writing(self) -> None:
        if self._bridge is not None:
            self._bridge.resume_writing()


class _Server(asyncssh.SSHServer):
    def __init__(self, server: NetconfServer, params: SshServerParams, peer: str, activity: Activity | None) -> None:
        self._server = server
        self._activity = activity
        self._users = {u.name: u for u in params.users}
        self._peer = peer
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self._activity is not None:
            self._activity.lost = exc

    def begin_auth(self, username: str) -> bool:
        user = self._users.get(username)
        if user is None or not user.authorized_keys:
            log.warning("call home to %s: unknown user %r", self._peer, username)
            # Still "require auth": with no keys loaded every attempt fails.
            return True
        assert self._conn is not None
        self._conn.set_authorized_keys(asyncssh.import_authorized_keys("\n".join(user.authorized_keys) + "\n"))
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def host_based_auth_supported(self) -> bool:
        return False

    def session_requested(self):
        return _Channel(self._server, self._peer, self._activity)

    def connection_requested(self, *args) -> bool:
        return False

    def server_requested(self, *args) -> bool:
        return False


async def serve(
    sock: socket.socket,
    server: NetconfServer,
    params: SshServerParams,
    *,
    tcp_keepalive: bool,
    login_timeout: float = 60.0,
    activity: Activity | None = None,
) -> asyncssh.SSHServerConnection:
    """Run the SSH server side over an established call-home socket.

    Returns once the manager has authenticated; a manager that has not done so
    within ``login_timeout`` is dropped (RFC 8071 S5)."""
    if not params.host_keys:
        sock.close()
        raise KeyMaterialError("no usable host key in ssh-server-parameters/server-identity")
    try:
        peer = "%s:%s" % sock.getpeername()[:2]
    except OSError:
        peer = "?"
    conn = await asyncssh.connect_reverse(
        sock=sock,
        server_factory=lambda: _Server(server, params, peer, activity),
        server_host_keys=list(params.host_keys),
        login_timeout=login_timeout,
        connect_timeout=login_timeout,
        # asyncssh toggles SO_KEEPALIVE on connect; keep it as the config set it
        tcp_keepalive=tcp_keepalive,
        keepalive_interval=params.keepalive_max_wait or 0,
        keepalive_count_max=params.keepalive_max_attempts,
        encoding=None,
        allow_pty=False,
        agent_forwarding=False,
        x11_forwarding=False,
        line_editor=False,
        **_algorithms(),
    )
    return conn
