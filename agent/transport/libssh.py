"""libssh, the SSH server of the call-home connections: the one module that
touches it, as :mod:`agent.yang` is the one that touches libyang.

ABI mode (``ffi.dlopen("libssh.so.4")``), not API mode: nothing is compiled
when the agent is installed, so the firmware needs only libssh and cffi's
backend at run time (no compiler, no libssh headers), and the same
declarations fit every libssh 0.10 and 0.11 that keeps soname 4 (libssh only
appends to its public structs and enums within a soname).

The surface is kept narrow: a handful of calls and the two callback tables.
libssh's callback structs begin with their ``size`` and libssh checks each
member's presence against it (``ssh_callbacks_exists``), so each table is
declared only up to the last member used; 0.11's additions come after those.

Event-driven on the caller's asyncio loop: the socket's readiness comes from
``loop.add_reader``, and each turn runs ``ssh_event_dopoll(event, 0)``, which
polls with a zero timeout and handles what is there. libssh keeps what
``send()`` could not take; a writer is registered only while it has such
output (``SSH_WRITE_PENDING``), and reading stops meanwhile, so a peer that
sends requests but reads no replies cannot make the agent buffer without bound.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Protocol

import cffi

log = logging.getLogger(__name__)

ffi = cffi.FFI()
ffi.cdef(
    """
typedef struct ssh_session_struct *ssh_session;
typedef struct ssh_bind_struct *ssh_bind;
typedef struct ssh_channel_struct *ssh_channel;
typedef struct ssh_key_struct *ssh_key;
typedef struct ssh_event_struct *ssh_event;

enum ssh_bind_options_e {
  SSH_BIND_OPTIONS_BINDADDR,
  SSH_BIND_OPTIONS_BINDPORT,
  SSH_BIND_OPTIONS_BINDPORT_STR,
  SSH_BIND_OPTIONS_HOSTKEY,
  SSH_BIND_OPTIONS_DSAKEY,
  SSH_BIND_OPTIONS_RSAKEY,
  SSH_BIND_OPTIONS_BANNER,
  SSH_BIND_OPTIONS_LOG_VERBOSITY,
  SSH_BIND_OPTIONS_LOG_VERBOSITY_STR,
  SSH_BIND_OPTIONS_ECDSAKEY,
  SSH_BIND_OPTIONS_IMPORT_KEY,
  SSH_BIND_OPTIONS_KEY_EXCHANGE,
  SSH_BIND_OPTIONS_CIPHERS_C_S,
  SSH_BIND_OPTIONS_CIPHERS_S_C,
  SSH_BIND_OPTIONS_HMAC_C_S,
  SSH_BIND_OPTIONS_HMAC_S_C,
  SSH_BIND_OPTIONS_CONFIG_DIR,
  SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES,
  SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS,
  SSH_BIND_OPTIONS_PROCESS_CONFIG
};

/* truncated after the last member used: see the module docstring */
struct ssh_server_callbacks_struct {
  size_t size;
  void *userdata;
  void *auth_password_function;
  void *auth_none_function;
  void *auth_gssapi_mic_function;
  int (*auth_pubkey_function)(ssh_session, const char *, ssh_key, char, void *);
  void *service_request_function;
  ssh_channel (*channel_open_request_session_function)(ssh_session, void *);
};

/* every member up to write_wontblock; the request callbacks left NULL
   (pty, shell, x11, exec, env, agent) make libssh refuse those requests */
struct ssh_channel_callbacks_struct {
  size_t size;
  void *userdata;
  int (*channel_data_function)(ssh_session, ssh_channel, void *, uint32_t, int, void *);
  void (*channel_eof_function)(ssh_session, ssh_channel, void *);
  void (*channel_close_function)(ssh_session, ssh_channel, void *);
  void *channel_signal_function;
  void *channel_exit_status_function;
  void *channel_exit_signal_function;
  void *channel_pty_request_function;
  void *channel_shell_request_function;
  void *channel_auth_agent_req_function;
  void *channel_x11_req_function;
  void *channel_pty_window_change_function;
  void *channel_exec_request_function;
  void *channel_env_request_function;
  int (*channel_subsystem_request_function)(ssh_session, ssh_channel, const char *, void *);
  int (*channel_write_wontblock_function)(ssh_session, ssh_channel, uint32_t, void *);
};

const char *ssh_version(int req_version);

ssh_bind ssh_bind_new(void);
int ssh_bind_options_set(ssh_bind, enum ssh_bind_options_e, const void *);
int ssh_bind_accept_fd(ssh_bind, ssh_session, int fd);
void ssh_bind_free(ssh_bind);

ssh_session ssh_new(void);
void ssh_free(ssh_session);
void ssh_set_blocking(ssh_session, int);
int ssh_handle_key_exchange(ssh_session);
void ssh_set_auth_methods(ssh_session, int);
int ssh_set_server_callbacks(ssh_session, struct ssh_server_callbacks_struct *);
const char *ssh_get_error(void *);
int ssh_get_status(ssh_session);
int ssh_get_poll_flags(ssh_session);
void ssh_disconnect(ssh_session);
int ssh_send_keepalive(ssh_session);
const char *ssh_get_kex_algo(ssh_session);
const char *ssh_get_cipher_out(ssh_session);
const char *ssh_get_hmac_out(ssh_session);

ssh_event ssh_event_new(void);
int ssh_event_add_session(ssh_event, ssh_session);
int ssh_event_remove_session(ssh_event, ssh_session);
int ssh_event_dopoll(ssh_event, int timeout);
void ssh_event_free(ssh_event);

ssh_channel ssh_channel_new(ssh_session);
int ssh_set_channel_callbacks(ssh_channel, struct ssh_channel_callbacks_struct *);
int ssh_channel_write(ssh_channel, const void *, uint32_t);
int ssh_channel_read_nonblocking(ssh_channel, void *, uint32_t, int);
int ssh_channel_request_send_exit_status(ssh_channel, int);
int ssh_channel_send_eof(ssh_channel);
int ssh_channel_close(ssh_channel);
void ssh_channel_free(ssh_channel);

int ssh_pki_import_privkey_base64(const char *, const char *, void *, void *, ssh_key *);
int ssh_pki_export_pubkey_base64(const ssh_key, char **);
void ssh_key_free(ssh_key);
void ssh_string_free_char(char *);
"""
)

SSH_OK, SSH_ERROR, SSH_AGAIN = 0, -1, -2
SSH_AUTH_SUCCESS, SSH_AUTH_DENIED = 0, 1
SSH_AUTH_METHOD_PUBLICKEY = 0x0004
SSH_PUBLICKEY_STATE_NONE, SSH_PUBLICKEY_STATE_VALID = 0, 1
SSH_CLOSED, SSH_CLOSED_ERROR, SSH_WRITE_PENDING = 0x01, 0x04, 0x08

_lib = None


def lib():
    """libssh, opened on first use (a configuration without SSH never loads it)."""
    global _lib
    if _lib is None:
        _lib = ffi.dlopen(os.environ.get("DPU_AGENT_LIBSSH", "libssh.so.4"))
    return _lib


def version() -> str:
    return ffi.string(lib().ssh_version(0)).decode()


def public_key_of(private_pem: bytes) -> str:
    """The public half of a private key (PEM or OpenSSH), as the base64 of its
    SSH wire format; raises ValueError if libssh cannot read the key."""
    key = _import_private(private_pem)
    try:
        return _public_b64(key)
    finally:
        lib().ssh_key_free(key)


def _import_private(pem: bytes):
    out = ffi.new("ssh_key *")
    if lib().ssh_pki_import_privkey_base64(pem, ffi.NULL, ffi.NULL, ffi.NULL, out) != SSH_OK:
        raise ValueError("not a private key libssh can read")
    return out[0]


def _public_b64(key) -> str:
    out = ffi.new("char **")
    if lib().ssh_pki_export_pubkey_base64(key, out) != SSH_OK:
        raise ValueError("cannot export the public key")
    try:
        return ffi.string(out[0]).decode()
    finally:
        lib().ssh_string_free_char(out[0])


class Algorithms(Protocol):
    kex: str
    host_keys: str
    ciphers: str
    macs: str
    public_keys: str


class ChannelHandler(Protocol):
    def subsystem(self, channel: Channel, name: str) -> bool: ...
    def data(self, data: bytes) -> None: ...
    def eof(self) -> None: ...
    def closed(self) -> None: ...
    def writable(self, yes: bool) -> None: ...


class ConnectionHandler(Protocol):
    def auth_publickey(self, user: str, key_b64: str, signed: bool) -> bool: ...
    def open_session(self, channel: Channel) -> ChannelHandler | None: ...
    def key_exchange_done(self) -> None: ...
    def ended(self, error: str | None) -> None: ...


# -- callbacks: made once; userdata is a cffi handle of the Python object ------


def _guard(default):
    def onerror(exc_type, exc, tb):
        log.error("SSH callback failed", exc_info=(exc_type, exc, tb))
        return default

    return onerror


@ffi.callback("int(ssh_session, const char *, ssh_key, char, void *)", onerror=_guard(SSH_AUTH_DENIED))
def _auth_pubkey(session, user, key, state, userdata):
    conn: Connection = ffi.from_handle(userdata)
    state = ord(state) if isinstance(state, bytes) else state
    if state not in (SSH_PUBLICKEY_STATE_NONE, SSH_PUBLICKEY_STATE_VALID):
        ok = False  # a signature that does not verify
    else:
        ok = conn.handler.auth_publickey(ffi.string(user).decode(errors="replace"), _public_b64(key),
                                         state == SSH_PUBLICKEY_STATE_VALID)
    return SSH_AUTH_SUCCESS if ok else SSH_AUTH_DENIED


@ffi.callback("ssh_channel(ssh_session, void *)", onerror=_guard(ffi.NULL))
def _open_session(session, userdata):
    conn: Connection = ffi.from_handle(userdata)
    return conn._open_channel()


@ffi.callback("int(ssh_session, ssh_channel, void *, uint32_t, int, void *)", onerror=_guard(0))
def _channel_data(session, chan, data, length, is_stderr, userdata):
    ch: Channel = ffi.from_handle(userdata)
    if is_stderr or ch.handler is None:
        return length
    if ch.reading_paused:
        return 0  # libssh keeps it, and the peer's window shrinks by as much
    ch.handler.data(ffi.buffer(data, length)[:])
    return length


@ffi.callback("void(ssh_session, ssh_channel, void *)", onerror=_guard(None))
def _channel_eof(session, chan, userdata):
    ch: Channel = ffi.from_handle(userdata)
    if ch.handler is not None:
        ch.handler.eof()


@ffi.callback("void(ssh_session, ssh_channel, void *)", onerror=_guard(None))
def _channel_close(session, chan, userdata):
    ffi.from_handle(userdata)._remote_closed()


@ffi.callback("int(ssh_session, ssh_channel, const char *, void *)", onerror=_guard(-1))
def _channel_subsystem(session, chan, name, userdata):
    ch: Channel = ffi.from_handle(userdata)
    if ch.handler is None or ch.subsystem is not None:
        return -1
    text = ffi.string(name).decode(errors="replace")
    if not ch.handler.subsystem(ch, text):
        return -1
    ch.subsystem = text
    return 0


@ffi.callback("int(ssh_session, ssh_channel, uint32_t, void *)", onerror=_guard(0))
def _channel_writable(session, chan, nbytes, userdata):
    ffi.from_handle(userdata)._window_opened()
    return 0


class Channel:
    """A session channel: the byte stream a NETCONF session runs on. Its
    ``write`` takes all it is given; what the peer's window does not admit
    waits here and the handler hears ``writable(False)`` until it went out."""

    def __init__(self, conn: Connection, chan) -> None:
        self._conn = conn
        self._chan = chan
        self.handler: ChannelHandler | None = None
        self.subsystem: str | None = None
        self._outbox = bytearray()
        self._closed_local = False
        self._closed_remote = False
        self.reading_paused = False
        self._handle = ffi.new_handle(self)
        cb = ffi.new("struct ssh_channel_callbacks_struct *")
        cb.size = ffi.sizeof("struct ssh_channel_callbacks_struct")
        cb.userdata = self._handle
        cb.channel_data_function = _channel_data
        cb.channel_eof_function = _channel_eof
        cb.channel_close_function = _channel_close
        cb.channel_subsystem_request_function = _channel_subsystem
        cb.channel_write_wontblock_function = _channel_writable
        self._callbacks = cb
        lib().ssh_set_channel_callbacks(chan, cb)

    @property
    def is_open(self) -> bool:
        return not (self._closed_local or self._closed_remote or self._conn.ended)

    def write(self, data: bytes) -> None:
        if not self.is_open:
            raise ConnectionError("channel closed")
        self._outbox += data
        self._drain()
        self._conn._after_output()

    def _drain(self) -> None:
        while self._outbox and self.is_open:
            n = lib().ssh_channel_write(self._chan, bytes(self._outbox), len(self._outbox))
            if n < 0:
                self._conn._fail()
                return
            del self._outbox[:n]
            if n == 0:
                break
        if self.handler is not None:
            self.handler.writable(not self._outbox)

    def pause_reading(self, paused: bool) -> None:
        """Flow control towards the peer, per channel: while paused, what it
        sends stays in libssh and its window is not replenished; the socket
        is still read (window adjustments, keepalive replies, other channels)."""
        self.reading_paused = paused
        if not paused:
            asyncio.get_running_loop().call_soon(self._drain_input)

    def _drain_input(self) -> None:
        # what libssh kept while paused: read it out (this also replenishes
        # the window); the callback hands over whatever comes after it
        buf = ffi.new("char[]", 65536)
        while not self.reading_paused and self.handler is not None and self.is_open:
            n = lib().ssh_channel_read_nonblocking(self._chan, buf, 65536, 0)
            if n <= 0:
                break
            self.handler.data(ffi.buffer(buf, n)[:])
        self._conn._after_output()

    def _window_opened(self) -> None:
        if self._outbox:
            asyncio.get_running_loop().call_soon(self._resume)

    def _resume(self) -> None:
        self._drain()
        self._conn._after_output()

    def close(self, exit_status: int = 0) -> None:
        """End the channel: exit-status (RFC 4254 6.10), EOF and close."""
        if self._closed_local:
            return
        self._closed_local = True
        if not self._conn.ended:
            L = lib()
            if not self._closed_remote:
                L.ssh_channel_request_send_exit_status(self._chan, exit_status)
                L.ssh_channel_send_eof(self._chan)
                L.ssh_channel_close(self._chan)
            # libssh frees it once the peer's close arrives (callbacks until then)
            L.ssh_channel_free(self._chan)
            self._conn._after_output()
        if self._closed_remote:
            self._conn._forget(self)

    def _remote_closed(self) -> None:
        if self._closed_remote:
            return
        self._closed_remote = True
        handler, self.handler = self.handler, None
        if handler is not None:
            handler.closed()
        if not self._closed_local:
            asyncio.get_running_loop().call_soon(self.close)
        else:
            # libssh frees the channel once this callback returns
            asyncio.get_running_loop().call_soon(self._conn._forget, self)


class Connection:
    """The SSH server on one socket the agent connected (call home)."""

    def __init__(self, fd: int, host_keys_pem: list[bytes], algorithms: Algorithms, handler: ConnectionHandler) -> None:
        L = lib()
        self.handler = handler
        self.ended = False
        self.kex_done = False
        self._loop = asyncio.get_running_loop()
        # libssh closes the fd it was given: it gets its own
        self._fd = os.dup(fd)
        os.set_blocking(self._fd, False)
        self._channels: list[Channel] = []
        self._handle = ffi.new_handle(self)
        self._bind = L.ssh_bind_new()
        self._session = L.ssh_new()
        self._event = None
        self._reading = False
        self._writing = False
        try:
            self._configure_bind(host_keys_pem, algorithms)
            if L.ssh_bind_accept_fd(self._bind, self._session, self._fd) != SSH_OK:
                raise ConnectionError(self.error() or "ssh_bind_accept_fd failed")
        except BaseException:
            self._free()
            raise
        cb = ffi.new("struct ssh_server_callbacks_struct *")
        cb.size = ffi.sizeof("struct ssh_server_callbacks_struct")
        cb.userdata = self._handle
        cb.auth_pubkey_function = _auth_pubkey
        cb.channel_open_request_session_function = _open_session
        self._callbacks = cb
        L.ssh_set_server_callbacks(self._session, cb)
        L.ssh_set_auth_methods(self._session, SSH_AUTH_METHOD_PUBLICKEY)
        L.ssh_set_blocking(self._session, 0)

    def _configure_bind(self, host_keys_pem: list[bytes], algorithms: Algorithms) -> None:
        L = lib()
        no = ffi.new("bool *", False)
        # never /etc/ssh/libssh_server_config: the configuration is the agent's
        L.ssh_bind_options_set(self._bind, L.SSH_BIND_OPTIONS_PROCESS_CONFIG, no)
        for option, value in (
            (L.SSH_BIND_OPTIONS_KEY_EXCHANGE, algorithms.kex),
            (L.SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS, algorithms.host_keys),
            (L.SSH_BIND_OPTIONS_CIPHERS_C_S, algorithms.ciphers),
            (L.SSH_BIND_OPTIONS_CIPHERS_S_C, algorithms.ciphers),
            (L.SSH_BIND_OPTIONS_HMAC_C_S, algorithms.macs),
            (L.SSH_BIND_OPTIONS_HMAC_S_C, algorithms.macs),
            (L.SSH_BIND_OPTIONS_PUBKEY_ACCEPTED_KEY_TYPES, algorithms.public_keys),
        ):
            if L.ssh_bind_options_set(self._bind, option, value.encode()) != SSH_OK:
                raise ValueError(f"libssh {version()} refuses algorithms {value!r}: {self._bind_error()}")
        for pem in host_keys_pem:
            key = _import_private(pem)
            # the bind owns the key from here on
            if L.ssh_bind_options_set(self._bind, L.SSH_BIND_OPTIONS_IMPORT_KEY, key) != SSH_OK:
                L.ssh_key_free(key)
                raise ValueError(f"libssh cannot use a host key: {self._bind_error()}")

    def _bind_error(self) -> str:
        return ffi.string(lib().ssh_get_error(self._bind)).decode(errors="replace")

    def error(self) -> str:
        if self._session is None:
            return ""
        return ffi.string(lib().ssh_get_error(self._session)).decode(errors="replace")

    # -- running --

    def start(self) -> None:
        """Send the banner and start the key exchange; from here on the loop drives it."""
        L = lib()
        rc = L.ssh_handle_key_exchange(self._session)
        self._event = L.ssh_event_new()
        L.ssh_event_add_session(self._event, self._session)
        self._set_reading(True)
        self._after_kex_step(rc)
        self._after_output()

    def _set_reading(self, on: bool) -> None:
        if on == self._reading or self.ended:
            return
        self._reading = on
        if on:
            self._loop.add_reader(self._fd, self._turn)
        else:
            self._loop.remove_reader(self._fd)

    def _turn(self) -> None:
        if self.ended:
            return
        L = lib()
        if not self.kex_done:
            self._after_kex_step(L.ssh_handle_key_exchange(self._session))
        else:
            L.ssh_event_dopoll(self._event, 0)
        if self.ended:
            return
        status = L.ssh_get_status(self._session)
        if status & (SSH_CLOSED | SSH_CLOSED_ERROR):
            error = self.error() or "connection closed"
            self._end(error, orderly=not status & SSH_CLOSED_ERROR or self._orderly(error))
            return
        self._after_output()

    def _orderly(self, error: str) -> bool:
        """Whether the peer ended the connection as a manager that is done
        does: SSH_MSG_DISCONNECT "by application" (OpenSSH, libssh), or a TCP
        close with no channel left open (paramiko sends no DISCONNECT)."""
        if error.startswith("Received SSH_MSG_DISCONNECT: 11:"):
            return True
        return error == "Socket error: disconnected" and not any(ch.is_open for ch in self._channels)

    def _after_kex_step(self, rc: int) -> None:
        if rc == SSH_ERROR:
            self._end(f"key exchange failed: {self.error()}", orderly=False)
        elif rc == SSH_OK and not self.kex_done:
            self.kex_done = True
            self.handler.key_exchange_done()

    def _after_output(self) -> None:
        """Watch for writability only while libssh holds unsent output, and
        read nothing new meanwhile."""
        if self.ended:
            return
        pending = bool(lib().ssh_get_poll_flags(self._session) & SSH_WRITE_PENDING)
        if pending != self._writing:
            self._writing = pending
            if pending:
                self._loop.add_writer(self._fd, self._turn)
            else:
                self._loop.remove_writer(self._fd)
            for ch in self._channels:
                if ch.handler is not None:
                    ch.handler.writable(not pending and not ch._outbox)
        self._set_reading(not pending)

    def _open_channel(self):
        chan = lib().ssh_channel_new(self._session)
        if chan == ffi.NULL:
            return ffi.NULL
        ch = Channel(self, chan)
        handler = self.handler.open_session(ch)
        if handler is None:
            lib().ssh_channel_free(chan)
            return ffi.NULL
        ch.handler = handler
        self._channels.append(ch)
        return chan

    def _forget(self, ch: Channel) -> None:
        # only once libssh is done with the channel: its callbacks struct and
        # handle must live as long (a channel freed locally still hears the
        # peer's close)
        if ch in self._channels:
            self._channels.remove(ch)

    def send_keepalive(self) -> None:
        """A keepalive@openssh.com request, unless one is still unanswered.

        ssh_send_keepalive() is a global request with want_reply: a call while
        the previous one's reply is in only collects that reply (and sends
        nothing), a call while it is outstanding does nothing. The second call
        sends when the first only collected."""
        if not self.ended and self.kex_done:
            lib().ssh_send_keepalive(self._session)
            lib().ssh_send_keepalive(self._session)
            self._after_output()

    def negotiated(self) -> tuple[str, str, str]:
        L = lib()

        def s(p):
            return ffi.string(p).decode() if p != ffi.NULL else "?"

        return s(L.ssh_get_kex_algo(self._session)), s(L.ssh_get_cipher_out(self._session)), s(L.ssh_get_hmac_out(self._session))

    def _fail(self) -> None:
        self._loop.call_soon(self._end, self.error() or "SSH error", False)

    def close(self) -> None:
        """Disconnect (SSH_MSG_DISCONNECT when the session got that far) and free."""
        if self.ended:
            return
        for ch in list(self._channels):
            if ch.handler is not None:
                handler, ch.handler = ch.handler, None
                handler.closed()
        if self._session is not None and self.kex_done:
            lib().ssh_disconnect(self._session)
        self._end(None, orderly=True)

    def _end(self, error: str | None, orderly: bool) -> None:
        if self.ended:
            return
        for ch in list(self._channels):
            if ch.handler is not None:
                handler, ch.handler = ch.handler, None
                handler.closed()
        self.ended = True
        if self._reading:
            self._loop.remove_reader(self._fd)
        if self._writing:
            self._loop.remove_writer(self._fd)
        self._reading = self._writing = False
        self._free()
        self.handler.ended(None if orderly else error or "connection lost")

    def _free(self) -> None:
        L = lib()
        if self._event is not None:
            L.ssh_event_remove_session(self._event, self._session)
            L.ssh_event_free(self._event)
            self._event = None
        if self._session is not None:
            L.ssh_free(self._session)  # closes self._fd
            self._session = None
        else:
            os.close(self._fd)
        if self._bind is not None:
            L.ssh_bind_free(self._bind)
            self._bind = None
        self._channels.clear()
