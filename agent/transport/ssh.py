"""NETCONF over SSH on a call-home socket: the agent is the SSH *server*
(RFC 8071 S3) on a TCP connection it opened itself, on libssh
(:mod:`agent.transport.libssh`).

Only the "netconf" subsystem is offered (RFC 6242); shell, exec, PTY, env,
X11, agent and port forwarding and every other subsystem are refused. Client
authentication is by public key against the users of
``ssh-server-parameters/client-authentication``, at most
:data:`MAX_AUTH_TRIES` refused attempts per connection (as OpenSSH's
MaxAuthTries). Algorithms are set explicitly, SHA-2 only, host-key
signatures included (never ``ssh-rsa``).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
import struct
from pathlib import Path
from typing import Any, NamedTuple

from ..server import NetconfServer
from ..settings import LOGIN_TIMEOUT
from . import keys, libssh
from .keys import KeyMaterialError
from .stream import Activity, BridgeEnd

log = logging.getLogger(__name__)

SUBSYSTEM = "netconf"

#: refused authentication requests before the connection is dropped (OpenSSH's MaxAuthTries)
MAX_AUTH_TRIES = 6


class Algorithms(NamedTuple):
    """What the server offers, SHA-2 only. libssh drops the names it does not
    implement (the post-quantum hybrids come with the libssh that has them)."""

    kex: str = ",".join((
        "mlkem768x25519-sha256",
        "sntrup761x25519-sha512",
        "sntrup761x25519-sha512@openssh.com",
        "curve25519-sha256",
        "curve25519-sha256@libssh.org",
        "ecdh-sha2-nistp256",
        "ecdh-sha2-nistp384",
        "ecdh-sha2-nistp521",
        "diffie-hellman-group14-sha256",
        "diffie-hellman-group16-sha512",
        "diffie-hellman-group18-sha512",
    ))
    host_keys: str = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256"
    ciphers: str = ",".join((
        "chacha20-poly1305@openssh.com",
        "aes256-gcm@openssh.com",
        "aes128-gcm@openssh.com",
        "aes256-ctr",
        "aes192-ctr",
        "aes128-ctr",
    ))
    macs: str = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512"
    #: client public keys: the host-key list (rsa-sha2-* signatures only)
    public_keys: str = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256"


ALGORITHMS = Algorithms()


class SshUser(NamedTuple):
    name: str
    #: the user's public keys, base64 of the SSH wire format
    public_keys: frozenset[str]


class SshServerParams(NamedTuple):
    """What ``ssh-server-parameters`` says, resolved to key material."""

    #: host private keys, PEM or OpenSSH text as libssh imports them
    host_keys: tuple[bytes, ...]
    users: tuple[SshUser, ...]
    #: RFC 8071 S7 SSH keepalives (ietf-ssh-server keepalives); None = off.
    #: A probe goes out after max-wait s without data from the manager, then
    #: one every max-wait s; after max-attempts unanswered ones the
    #: connection is dropped, (max-attempts + 1) x max-wait after the last data.
    keepalive_max_wait: int | None = None
    keepalive_max_attempts: int = 3
    algorithms: Algorithms = ALGORITHMS


def public_key_from_config(fmt: str, data: bytes) -> str:
    """A public key as ietf-crypto-types carries it, as the base64 of its SSH
    wire format (how libssh names a key)."""
    if fmt.endswith("ssh-public-key-format"):
        if len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
            raise KeyMaterialError("public key in ssh-public-key-format cannot be read")
        return base64.b64encode(data).decode()
    # SubjectPublicKeyInfo: rare in SSH configurations; only this path needs cryptography
    try:
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_der_public_key(data)
        line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        return line.split()[1].decode()
    except Exception:
        raise KeyMaterialError(f"public key in {fmt.rpartition(':')[2]} cannot be read") from None


def _host_key(inline: dict[str, Any], public_b64: str | None, keys_dir: Path, what: str) -> bytes:
    if "cleartext-private-key" in inline:
        fmt = inline.get("private-key-format", "")
        pem = keys.der_to_pem(base64.b64decode(inline["cleartext-private-key"]), fmt)
        try:
            found = libssh.public_key_of(pem)
        except ValueError:
            raise KeyMaterialError(f"{what}: not a key type SSH can use") from None
        if public_b64 is not None and found != public_b64:
            raise KeyMaterialError(f"{what}: private and public key do not match")
        return pem
    if "hidden-private-key" in inline:
        if public_b64 is None:
            raise KeyMaterialError(f"{what}: a hidden private key needs its public key to be found")
        for path in keys.key_files(keys_dir):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            for pem in keys.pem_candidates(data):
                try:
                    if libssh.public_key_of(pem) == public_b64:
                        return pem
                except ValueError:
                    continue
        raise KeyMaterialError(f"{what}: no private key for it in {keys_dir}")
    raise KeyMaterialError(f"{what}: only cleartext and hidden private keys are supported")


def params_from_config(params: dict[str, Any], keys_dir: Path) -> SshServerParams:
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
        host_keys.append(_host_key(inline, public, keys_dir, f"host key {hk['name']}"))
    users = []
    for u in p.get("client-authentication", {}).get("users", {}).get("user", []):
        found = set()
        for pk in u.get("public-keys", {}).get("inline-definition", {}).get("public-key", []):
            found.add(public_key_from_config(pk.get("public-key-format", ""), base64.b64decode(pk.get("public-key", ""))))
        users.append(SshUser(u["name"], frozenset(found)))
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


class _Channel(BridgeEnd):
    """One session channel: the NETCONF session once "netconf" is requested."""

    def __init__(self, conn: SshConnection) -> None:
        self._conn = conn
        self._chan: libssh.Channel | None = None
        #: what the manager sent before the session was opened (its <hello>
        #: may come in the same read as the subsystem request)
        self._early: list[bytes] | None = []

    def subsystem(self, channel: libssh.Channel, name: str) -> bool:
        if name != SUBSYSTEM:
            log.info("call home to %s: refusing subsystem %r", self._conn.peer, name[:64])
            return False
        self._chan = channel
        # after libssh has answered the request: the <hello> follows the success reply
        asyncio.get_running_loop().call_soon(self._open)
        return True

    def _open(self) -> None:
        chan = self._chan
        if chan is None or not chan.is_open:
            return
        self.open_bridge(self._conn.server, self, username=self._conn.username or "", transport="netconf-ssh",
                         peer=self._conn.peer, activity=self._conn.activity)
        early, self._early = self._early or [], None
        for data in early:
            if data:
                self.data_received(data)
            else:
                self.eof_received()

    # the channel side of the bridge
    def write(self, data: bytes) -> None:
        assert self._chan is not None
        self._chan.write(data)

    def close(self) -> None:
        if self._chan is not None:
            self._chan.close(0)

    def pause_reading(self) -> None:
        if self._chan is not None:
            self._chan.pause_reading(True)

    def resume_reading(self) -> None:
        if self._chan is not None:
            self._chan.pause_reading(False)

    # libssh's channel handler
    def data(self, data: bytes) -> None:
        if self._early is not None:
            if self._chan is not None:
                self._early.append(data)
            return
        self.data_received(data)

    def eof(self) -> None:
        if self._early is not None:
            self._early.append(b"")
            return
        self.eof_received()

    def closed(self) -> None:
        self._conn.channel_closed(self)
        self.connection_lost(None)

    def writable(self, yes: bool) -> None:
        if yes:
            self.resume_writing()
        else:
            self.pause_writing()


class SshConnection:
    """One call-home connection's SSH server: what call home holds
    (:class:`agent.transport.base.Connection`)."""

    def __init__(self, sock: socket.socket, server: NetconfServer, params: SshServerParams, peer: str,
                 activity: Activity | None, login_timeout: float) -> None:
        self.server = server
        self.peer = peer
        self.activity = activity
        self._sock = sock
        self._params = params
        self._users = {u.name: u for u in params.users}
        self._login_timeout = login_timeout
        self._loop = asyncio.get_running_loop()
        self.username: str | None = None
        self._tried_user: str | None = None
        self._unknown_user = False
        self._refused = 0
        self.authenticated = False
        self._channels: list[_Channel] = []
        self._closed = self._loop.create_future()
        self._auth = self._loop.create_future()
        # retrieved also when call home was cancelled while waiting on it
        self._auth.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._keepalive: asyncio.TimerHandle | None = None
        #: RFC 8071 S7 keepalives (max-wait s, None: off; max-attempts), retunable in place
        self._ka_wait, self._ka_attempts = params.keepalive_max_wait, params.keepalive_max_attempts
        self._ssh = libssh.Connection(sock.fileno(), list(params.host_keys), params.algorithms, self)
        self._login_timer = self._loop.call_later(login_timeout, self._login_timed_out)

    # -- what call home uses --

    async def authenticated_or_refused(self) -> None:
        self._ssh.start()
        try:
            await asyncio.shield(self._auth)
        except asyncio.CancelledError:
            self.close()
            raise

    def close(self) -> None:
        self._ssh.close()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    # -- libssh's connection handler --

    def key_exchange_done(self) -> None:
        kex, cipher, mac = self._ssh.negotiated()
        log.debug("call home to %s: SSH key exchange done (%s, %s, %s)", self.peer, kex, cipher, mac)

    def auth_publickey(self, user: str, key_b64: str, signed: bool) -> bool:
        if self.authenticated or self._refused >= MAX_AUTH_TRIES:
            return False
        self._tried_user = user
        known = self._users.get(user)
        if known is not None and key_b64 in known.public_keys:
            if signed:
                self.authenticated = True
                self.username = user
                self._login_timer.cancel()
                self._start_keepalives()
                if not self._auth.done():
                    self._auth.set_result(None)
            return True
        self._unknown_user = known is None
        self._refused += 1
        if self._refused >= MAX_AUTH_TRIES:
            self._loop.call_soon(self._reject, f"{self._who()}; {MAX_AUTH_TRIES} authentication attempts refused")
        return False

    def open_session(self, channel: libssh.Channel) -> libssh.ChannelHandler | None:
        limits = self.server.limits
        if not self.authenticated:
            return None
        if len(self._channels) >= limits.max_sessions_per_connection or not self.server.admits_session():
            log.warning("call home to %s: refusing another session on this connection", self.peer)
            return None
        ch = _Channel(self)
        self._channels.append(ch)
        return ch

    def channel_closed(self, ch: _Channel) -> None:
        if ch in self._channels:
            self._channels.remove(ch)

    def ended(self, error: str | None) -> None:
        self._login_timer.cancel()
        if self._keepalive is not None:
            self._keepalive.cancel()
        try:
            self._sock.close()
        except OSError:
            pass
        if not self.authenticated:
            why = self._why_not(error)
            log.warning("SSH call home to %s refused: %s", self.peer, why)
            if not self._auth.done():
                self._auth.set_exception(SshRejected(why))
        elif error is not None and self.activity is not None:
            self.activity.lost = ConnectionError(error)
        if not self._closed.done():
            self._closed.set_result(None)

    # -- internals --

    def _who(self) -> str:
        if self._unknown_user:
            return f"unknown user {self._tried_user!r}"
        return f"user {self._tried_user!r} offered no authorized public key"

    def _why_not(self, error: str | None) -> str:
        if self._rejection is not None:
            return self._rejection
        if not self._ssh.kex_done:
            return f"key exchange failed: {error}" if error and not error.startswith("key exchange") else (error or "connection closed before the key exchange")
        if self._tried_user is not None:
            return self._who()
        return f"no SSH authentication ({error or 'connection closed'})"

    _rejection: str | None = None

    def _reject(self, why: str) -> None:
        if self._rejection is None:
            self._rejection = why
        self._ssh.close()

    def _login_timed_out(self) -> None:
        if self.authenticated:
            return
        t = f"{self._login_timeout:g} s"
        if not self._ssh.kex_done:
            why = f"no SSH authentication within {t} (no key exchange)"
        elif self._tried_user is None:
            why = f"no SSH authentication within {t} (key exchange done, no public key offered)"
        else:
            why = f"{self._who()} (login timeout {t})"
        self._reject(why)

    # RFC 8071 S7 keepalives: one timer per max-wait period; the kernel says
    # when the manager last sent anything (TCP_INFO tcpi_last_data_recv).
    def _start_keepalives(self) -> None:
        if self._ka_wait:
            self._keepalive = self._loop.call_later(self._ka_wait, self._keepalive_due)

    def set_keepalive(self, interval: int, count: int) -> None:
        """Retune the keepalives of this live connection (``interval`` 0: off),
        from now on: a changed ``ssh-server-parameters/keepalives`` needs no re-dial."""
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None
        self._ka_wait, self._ka_attempts = interval or None, count
        if self.authenticated:
            self._start_keepalives()

    def _keepalive_due(self) -> None:
        wait, attempts = self._ka_wait, self._ka_attempts
        assert wait
        silent = _silent_for(self._sock)
        log.debug("call home to %s: %s s since the manager last sent data", self.peer, silent)
        if silent is None:
            return
        if silent < wait:
            self._keepalive = self._loop.call_later(wait - silent, self._keepalive_due)
            return
        if silent >= (attempts + 1) * wait:
            log.warning("call home to %s: %d SSH keepalives unanswered; dropping the connection", self.peer, attempts)
            if self.activity is not None:
                self.activity.lost = TimeoutError(f"{attempts} SSH keepalives unanswered")
            self._ssh.close()
            return
        self._ssh.send_keepalive()
        self._keepalive = self._loop.call_later(wait, self._keepalive_due)


_TCP_INFO_LAST_DATA_RECV = 52  # offsetof(struct tcp_info, tcpi_last_data_recv)


def _silent_for(sock: socket.socket) -> float | None:
    """Seconds since the peer last sent data, as the kernel counts them."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    except OSError:
        return None
    last_recv_ms: int = struct.unpack_from("I", info, _TCP_INFO_LAST_DATA_RECV)[0]
    return last_recv_ms / 1000


async def serve(
    sock: socket.socket,
    server: NetconfServer,
    params: SshServerParams,
    *,
    tcp_keepalive: bool,
    login_timeout: float = LOGIN_TIMEOUT,
    activity: Activity | None = None,
) -> SshConnection:
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
    try:
        conn = SshConnection(sock, server, params, peer, activity, login_timeout)
    except ValueError as exc:
        raise KeyMaterialError(str(exc)) from None
    await conn.authenticated_or_refused()
    return conn
