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
from typing import Callable

import asyncssh
from cryptography.hazmat.primitives import serialization

from ..server import NetconfServer
from . import keys
from .keys import KeyMaterialError
from .stream import Activity, BridgeEnd

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
    #: RFC 8071 S7 SSH keepalives (ietf-ssh-server keepalives); None = off.
    #: A probe goes out after max-wait s without data from the manager, then
    #: one every max-wait s; after max-attempts unanswered ones the
    #: connection is dropped, (max-attempts + 1) x max-wait after the last data.
    keepalive_max_wait: int | None = None
    keepalive_max_attempts: int = 3


def public_key_from_config(fmt: str, data: bytes) -> asyncssh.SSHKey:
    """A public key as ietf-crypto-types carries it (SSH wire format or SPKI DER)."""
    from asyncssh.public_key import decode_ssh_public_key

    try:
        if fmt.endswith("ssh-public-key-format"):
            return decode_ssh_public_key(data)
        return asyncssh.import_public_key(data)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise KeyMaterialError(f"public key in {fmt.rpartition(':')[2]} cannot be read: {exc}") from None


def _host_key(private: keys.PrivateKey, what: str) -> asyncssh.SSHKey:
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        return asyncssh.import_private_key(der)
    except (asyncssh.KeyImportError, ValueError):
        raise KeyMaterialError(f"{what}: not a key type SSH can use") from None


def params_from_config(params: dict, keys_dir: Path) -> SshServerParams:
    """Resolve an endpoint's ``ssh`` container (RFC 7951 JSON) to key material."""
    p = params.get("ssh-server-parameters", {})
    host_keys = []
    for hk in p.get("server-identity", {}).get("host-key", []):
        inline = hk.get("public-key", {}).get("inline-definition")
        if inline is None:
            raise KeyMaterialError(f"host key {hk['name']}: only inline definitions are supported")
        public = None
        if "public-key" in inline:
            public = public_key_from_config(inline.get("public-key-format", ""), base64.b64decode(inline["public-key"]))
        what = f"host key {hk['name']}"
        private = keys.resolve_private_key(inline, public.export_public_key("pkcs8-der") if public else None, keys_dir, what)
        host_keys.append(_host_key(private, what))
    users = []
    for u in p.get("client-authentication", {}).get("users", {}).get("user", []):
        lines = []
        for pk in u.get("public-keys", {}).get("inline-definition", {}).get("public-key", []):
            key = public_key_from_config(pk.get("public-key-format", ""), base64.b64decode(pk.get("public-key", "")))
            lines.append(key.export_public_key("openssh").decode().strip())
        users.append(SshUser(u["name"], tuple(lines)))
    ka = p.get("keepalives")
    if ka is None:
        return SshServerParams(tuple(host_keys), tuple(users))
    return SshServerParams(
        tuple(host_keys),
        tuple(users),
        keepalive_max_wait=int(ka.get("max-wait", 30)),
        keepalive_max_attempts=int(ka.get("max-attempts", 3)),
    )


class SshRejected(Exception):
    """The manager failed SSH authentication."""


class _Channel(BridgeEnd, asyncssh.SSHServerSession):
    def __init__(self, server: NetconfServer, peer: str, activity: Activity | None, on_close=None) -> None:
        self._server = server
        self._peer = peer
        self._activity = activity
        self._on_close = on_close
        self._chan: asyncssh.SSHServerChannel | None = None

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
        self.open_bridge(self._server, chan, username=chan.get_extra_info("username"), transport="netconf-ssh",
                         peer=self._peer, activity=self._activity)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self._on_close is not None:
            self._on_close()


class _Server(asyncssh.SSHServer):
    def __init__(self, server: NetconfServer, params: SshServerParams, peer: str, activity: Activity | None) -> None:
        self._server = server
        self._activity = activity
        self._users = {u.name: u for u in params.users}
        self._peer = peer
        self._conn: asyncssh.SSHServerConnection | None = None
        self._channels = 0
        #: the user the manager tried to log in as, and whether it succeeded
        self.username: str | None = None
        self.unknown_user = False
        self.authenticated = False

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self._activity is not None:
            self._activity.lost = exc

    def begin_auth(self, username: str) -> bool:
        self.username = username
        user = self._users.get(username)
        if user is None or not user.authorized_keys:
            self.unknown_user = True
            # Still "require auth": with no keys loaded every attempt fails.
            return True
        assert self._conn is not None
        self._conn.set_authorized_keys(asyncssh.import_authorized_keys("\n".join(user.authorized_keys) + "\n"))
        return True

    def auth_completed(self) -> None:
        self.authenticated = True

    def rejection(self, exc: BaseException, login_timeout: float) -> str:
        """Why the manager did not get in, for the log and the client's state."""
        if self.username is None:
            return f"no SSH authentication ({str(exc) or type(exc).__name__}; login timeout {login_timeout:g} s)"
        if self.unknown_user:
            return f"unknown user {self.username!r}"
        return f"user {self.username!r} offered no authorized public key"

    def public_key_auth_supported(self) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def host_based_auth_supported(self) -> bool:
        return False

    def session_requested(self):
        if self._channels >= self._server.limits.max_sessions_per_connection or not self._server.admits_session():
            log.warning("call home to %s: refusing another session on this connection", self._peer)
            return False
        self._channels += 1
        return _Channel(self._server, self._peer, self._activity, on_close=self._channel_closed)

    def _channel_closed(self) -> None:
        self._channels -= 1

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
    handlers: list[_Server] = []

    def server_factory() -> _Server:
        handlers.append(_Server(server, params, peer, activity))
        return handlers[-1]

    try:
        return await _connect_reverse(sock, server_factory, params, tcp_keepalive, login_timeout)
    except Exception as exc:
        if not handlers or handlers[0].authenticated:
            raise
        why = handlers[0].rejection(exc, login_timeout)
        log.warning("SSH call home to %s refused: %s", peer, why)
        raise SshRejected(why) from exc


async def _connect_reverse(
    sock: socket.socket,
    server_factory: Callable[[], _Server],
    params: SshServerParams,
    tcp_keepalive: bool,
    login_timeout: float,
) -> asyncssh.SSHServerConnection:
    return await asyncssh.connect_reverse(
        sock=sock,
        server_factory=server_factory,
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
