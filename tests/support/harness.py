"""The agent under test on a private event loop in a thread, with its keys,
its managers' listeners and, on demand, a TLS PKI."""

from __future__ import annotations

import asyncio
import ssl
import threading
from pathlib import Path

import asyncssh

from agent.callhome import build
from agent.daemon import Agent
from agent.settings import Settings
from agent.transport.cert_to_name import fingerprint
from agent.transport.keys import write_key_file

from . import pki
from .listener import Listener, b64

#: seconds Agent.stop() may take (TLS close_notify waits at most 5 s)
STOP_TIMEOUT = 15


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


def start_two_managers(harness: Harness, names: tuple[str, str] = ("nms1", "nms2"), *,
                       endpoints: dict[str, dict] | None = None, clients: dict[str, dict] | None = None,
                       **start) -> tuple[Listener, Listener]:
    """Start the agent with two managers, each calling home to its own
    listener through one endpoint "a" on 127.0.0.1; returns the listeners in
    the order of ``names``, for the test to accept as it needs (SSH, TLS,
    raw; in its own order). ``endpoints``: a manager's Endpoint fields
    (``host`` also binds its listener there), ``clients``: its Client fields."""
    endpoints = endpoints or {}
    clients = clients or {}
    listeners = []
    for name in names:
        lst = Listener(host=endpoints.get(name, {}).get("host", "127.0.0.1"))
        harness.listeners.append(lst)
        listeners.append(lst)
    harness.start(harness.config([
        harness.client(name, [build.Endpoint(**{"name": "a", "host": lst.host, "port": lst.port, **endpoints.get(name, {})})],
                       **clients.get(name, {}))
        for name, lst in zip(names, listeners, strict=True)
    ]), **start)
    return listeners[0], listeners[1]


def two_managers(harness: Harness, names: tuple[str, str] = ("nms1", "nms2"), *,
                 endpoints: dict[str, dict] | None = None, clients: dict[str, dict] | None = None, **start):
    """:func:`start_two_managers`, and both managers' SSH sessions accepted;
    returns ``(listener, session)`` of each, in the order of ``names``."""
    listeners = start_two_managers(harness, names, endpoints=endpoints, clients=clients, **start)
    return tuple((lst, lst.accept(harness)) for lst in listeners)
