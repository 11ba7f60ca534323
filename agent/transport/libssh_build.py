"""Generates :mod:`agent.transport._libssh_cffi`, the out-of-line ABI-mode
FFI of :mod:`agent.transport.libssh`: the declarations below parsed once,
here, so that the agent imports neither pycparser nor a parser at start-up,
and nothing is compiled (``set_source(..., None)``).

After changing CDEF: ``python -m agent.transport.libssh_build`` (a test
checks that the committed module is up to date).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODULE = "agent.transport._libssh_cffi"
TARGET = Path(__file__).with_name("_libssh_cffi.py")

CDEF = """
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


def builder() -> Any:  # a cffi.FFI (cffi ships no types)
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source(MODULE, None)
    return ffi


def generate(target: Path = TARGET) -> None:
    builder().emit_python_code(str(target))


if __name__ == "__main__":
    generate()
