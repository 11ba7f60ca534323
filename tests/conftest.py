"""Shared fixtures: a real agent on its own event loop thread, real keys, and
ncclient as the call-home manager over loopback."""

from __future__ import annotations

import asyncio
import base64
import os
import select
import socket
import ssl
import threading
from pathlib import Path

import asyncssh
import pytest

from agent import modset
from agent.callhome import build
from agent.daemon import Agent
from agent.settings import Settings
from agent.transport.cert_to_name import fingerprint
from agent.transport.keys import write_key_file

from . import pki

ROOT = Path(__file__).resolve().parent.parent
SHARED_YANG = ROOT.parent / "shared" / "yang"
#: seconds Agent.stop() may take (TLS close_notify waits at most 5 s)
STOP_TIMEOUT = 15


def yang_dir() -> str:
    env = os.environ.get("DPU_AGENT_YANG_DIR")
    if env:
        return env
    if SHARED_YANG.is_dir():
        return str(SHARED_YANG)
    pytest.skip("no standard YANG modules: run through `make test` or set DPU_AGENT_YANG_DIR")


@pytest.fixture(scope="session")
def yang_dirs() -> list[str]:
    return [yang_dir()]


@pytest.fixture(scope="session")
def schema(yang_dirs):
    from agent.yang import Schema

    return Schema(modset.search_dirs(yang_dirs), modset.MODULES)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64(key: asyncssh.SSHKey) -> str:
    return base64.b64encode(key.public_data).decode()


class Listener:
    """A manager's call-home listener (ncclient's manager.call_home, but kept
    open across reconnects and with SO_REUSEADDR)."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port or 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0

    def reset(self) -> None:
        """Drop connections waiting in the backlog (e.g. from an agent since stopped)."""
        self.sock.close()
        self.__init__(self.port, self.host)

    def accept_raw(self, timeout: float = 20) -> socket.socket:
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        conn.settimeout(None)
        self.accepted += 1
        return conn

    def accept(self, harness: Harness, username: str = "admin", key: Path | None = None, timeout: float = 20):
        from ncclient import manager

        conn = self.accept_raw(timeout)
        return manager.connect_ssh(
            sock=conn,
            host=self.host,
            port=self.port,
            username=username,
            key_filename=str(key or harness.client_key_file),
            hostkey_b64=harness.host_b64,
            allow_agent=False,
            look_for_keys=False,
            timeout=timeout,
        )

    def accept_tls(self, context: ssl.SSLContext, timeout: float = 20):
        """A netconf-client session over TLS with ``context`` (the manager's side)."""
        from netconf_client.ncclient import Manager
        from netconf_client.session import Session

        conn = self.accept_raw(timeout)
        conn.settimeout(timeout)
        try:
            tls = context.wrap_socket(conn, server_hostname="127.0.0.1")
            return Manager(Session(OneThreadAtATime(tls, timeout)), timeout=timeout)
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        self.sock.close()


class OneThreadAtATime:
    """An SSLSocket that netconf-client can share between its reader thread
    and the caller's thread.

    netconf-client reads in a thread while the caller writes; CPython releases
    the GIL inside SSL_read and SSL_write, and one OpenSSL connection must never
    be used by two threads at once (a write racing a read can leave the reader
    with a spurious error, and netconf-client then silently stops reading).
    Here every SSL call holds a lock and nobody waits while holding it."""

    def __init__(self, sock: ssl.SSLSocket, timeout: float) -> None:
        self._sock = sock
        self._timeout = timeout
        self._lock = threading.Lock()
        sock.setblocking(False)

    def recv(self, size: int) -> bytes:
        while True:
            with self._lock:
                try:
                    return self._sock.recv(size)
                except ssl.SSLWantReadError:
                    pass
            if not select.select([self._sock], [], [], self._timeout)[0]:
                raise TimeoutError("timed out")

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            with self._lock:
                try:
                    view = view[self._sock.send(view) :]
                    continue
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    pass
            if not select.select([], [self._sock], [], self._timeout)[1]:
                raise TimeoutError("timed out")

    def close(self) -> None:
        with self._lock:
            self._sock.close()

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class TlsPki:
    """The device's certificate under a vendor CA (its key in the agent's key
    directory), and managers' certificates under an operator CA."""

    def __init__(self, tmp: Path, keys_dir: Path) -> None:
        self.tmp = tmp
        self.vendor_root = pki.ca("vendor root")
        self.vendor_issuing = pki.ca("vendor issuing", self.vendor_root)
        self.device = pki.leaf("dpu-0001", self.vendor_issuing, dns=("localhost",), ips=("127.0.0.1",), server=True)
        self.device.write_key(keys_dir / "device-tls.pem")
        self.vendor_root_file = self.vendor_root.write_cert(tmp / "vendor-root.crt")
        self.operator_root = pki.ca("operator root")
        self.operator_issuing = pki.ca("operator issuing", self.operator_root)
        self.manager = pki.leaf("pma-1", self.operator_issuing, dns=("PMA.example.net",))
        self.manager_cert, self.manager_key = self.manager.write(tmp, "manager")

    def server(self, **kw) -> build.TlsServer:
        """TLS settings of a client: the operator's CAs trusted, the operator root mapped to user admin."""
        kw.setdefault("ca_certs", {"operator": [self.operator_issuing.der, self.operator_root.der]})
        kw.setdefault("cert_to_name", [build.CertToName(1, "specified", fingerprint(self.operator_root.der), "admin")])
        return build.TlsServer(self.device.chain_der, **kw)

    def context(self, who: pki.Issued | None = None, *, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        """A manager's client context presenting ``who`` (default: the good manager)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if who is None:
            ctx.load_cert_chain(self.manager_cert, self.manager_key)
        else:
            ctx.load_cert_chain(*who.write(self.tmp, f"client-{who.cert.serial_number}"))
        # the device sends its intermediate: the vendor root alone must do
        ctx.load_verify_locations(self.vendor_root_file)
        if version is not None:
            ctx.minimum_version = ctx.maximum_version = version
        return ctx


class Harness:
    """The agent under test, on a private event loop in a thread."""

    def __init__(self, tmp: Path, yang_dirs: list[str]) -> None:
        self.tmp = tmp
        self.yang_dirs = yang_dirs
        self.state_dir = tmp / "state"
        (self.state_dir / "keys").mkdir(parents=True, mode=0o700)
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        write_key_file(self.state_dir / "keys" / "host.key", self.host_key.export_private_key())
        self.host_b64 = b64(self.host_key)
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key_file = tmp / "client.key"
        self.client_key.write_private_key(str(self.client_key_file))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.agent: Agent | None = None
        self._thread: threading.Thread | None = None
        self.listeners: list[Listener] = []
        self._tls: TlsPki | None = None

    @property
    def tls(self) -> TlsPki:
        if self._tls is None:
            self._tls = TlsPki(self.tmp, self.state_dir / "keys")
        return self._tls

    def listener(self, port: int | None = None) -> Listener:
        lst = Listener(port)
        self.listeners.append(lst)
        return lst

    def client(self, name: str, endpoints: list[build.Endpoint], **kw) -> build.Client:
        kw.setdefault("users", {"admin": [b64(self.client_key)]})
        kw.setdefault("max_wait", 1)
        return build.Client(name, endpoints, **kw)

    def config(self, clients: list[build.Client]) -> str:
        return build.config_xml(clients, self.host_b64)

    def start(self, config_xml: str | None = None, *, netns: str | None = None, board=None,
              manager_settings: dict | None = None, plugins=None, **settings) -> Agent:
        """Start the agent; ``netns`` runs its event loop (and so its sockets,
        netlink included) inside that network namespace."""
        cfg = None
        if config_xml is not None:
            cfg = self.tmp / "initial.xml"
            cfg.write_text(config_xml)
        settings.setdefault("login_timeout", 10)
        settings.setdefault("yang_dirs", tuple(self.yang_dirs))
        settings.setdefault("discover_plugins", False)
        self.agent = Agent(
            Settings(state_dir=self.state_dir, config_file=cfg, **settings),
            board=board,
            manager_settings=manager_settings,
            plugins=plugins,
        )
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            if netns is not None:
                from . import netns as ns

                ns.enter(netns)
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(ready.set)
            self.loop.run_forever()

        self._thread = threading.Thread(target=run, name="agent-loop", daemon=True)
        self._thread.start()
        ready.wait()
        self.call(self.agent.start())
        return self.agent

    def call(self, coro_or_fn, timeout: float = 30):
        """Run a coroutine (or a plain function) on the agent's loop and return its result."""
        assert self.loop is not None
        if not asyncio.iscoroutine(coro_or_fn):
            fn = coro_or_fn

            async def wrap():
                return fn()

            coro_or_fn = wrap()
        return asyncio.run_coroutine_threadsafe(coro_or_fn, self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop is None:
            return
        hung = False
        if self.agent is not None:
            try:
                self.call(self.agent.stop(), timeout=STOP_TIMEOUT)
            except TimeoutError:
                hung = True  # a stop that hangs is a bug: fail, after cleaning up

        async def cancel_leftovers():
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.call(cancel_leftovers())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
        self.loop = None
        if hung:
            raise AssertionError(f"the agent did not stop within {STOP_TIMEOUT} s")

    def close(self) -> None:
        try:
            self.stop()
        finally:
            for lst in self.listeners:
                lst.close()


@pytest.fixture
def harness(tmp_path, yang_dirs):
    h = Harness(tmp_path, yang_dirs)
    yield h
    h.close()


def yanglint(kind: str, data_file, yang_dirs: list[str], *extra: str):
    """Run yanglint on ``data_file`` against the agent's module set; skips without yanglint."""
    import shutil
    import subprocess

    if shutil.which("yanglint") is None:
        pytest.skip("yanglint (libyang2-tools) is not installed")
    dirs = modset.search_dirs(yang_dirs)
    args = ["yanglint", "-t", kind, *extra]
    for d in dirs:
        args += ["-p", d]
    for module, feats in modset.MODULES.items():
        if feats:
            args += ["-F", f"{module}:{','.join(feats)}"]
    args += [module_file(m, dirs) for m in modset.MODULES] + [str(data_file)]
    return subprocess.run(args, capture_output=True, text=True)


def module_file(name: str, dirs: list[str]) -> str:
    for d in dirs:
        found = sorted(Path(d).glob(f"{name}@*.yang")) or sorted(Path(d).glob(f"{name}.yang"))
        if found:
            return str(found[-1])
    raise FileNotFoundError(name)
