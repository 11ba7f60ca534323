"""One task per configured netconf-client, each owning its connection.

The manager follows the running configuration: on every commit it compares
each client's call-home settings and re-establishes only the clients whose
settings changed; the others keep their sessions.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..server import NetconfServer
from ..transport import ssh, tcp, tls

#: ietf-netconf-server transport case -> module with params_from_config() and serve()
TRANSPORTS = {"ssh": ssh, "tls": tls}
from ..yang import Tree
from .config import ClientConfig, EndpointConfig, read_clients
from .policy import EndpointCycle

log = logging.getLogger(__name__)


@dataclass
class Attempt:
    endpoint: str
    at: float  # wall clock
    result: str  # "connected" or an error text


@dataclass
class ClientState:
    """What a client task is doing, for operational state and tests."""

    name: str
    connected_endpoint: str | None = None
    connected_since: float | None = None
    last_error: str | None = None
    #: the kernel socket of the current connection (to read its options back)
    sock: object | None = None
    attempts: collections.deque = field(default_factory=lambda: collections.deque(maxlen=64))
    connections: int = 0


class ConnectError(Exception):
    pass


@dataclass
class ManagerSettings:
    keys_dir: Path
    login_timeout: float = 60.0


class CallHomeManager:
    def __init__(self, server: NetconfServer, settings: ManagerSettings) -> None:
        self.server = server
        self.settings = settings
        self.configs: dict[str, ClientConfig] = {}
        self.tasks: dict[str, asyncio.Task] = {}
        self.states: dict[str, ClientState] = {}
        #: remembered across re-configuration: start-with last-connected
        self._last_connected: dict[str, str] = {}
        self._stopping = False

    # -- configuration --

    def apply(self, tree: Tree) -> None:
        """Reconcile the running client tasks with ``tree``'s call-home subtree."""
        if self._stopping:
            return
        wanted = read_clients(tree)
        for name in list(self.tasks):
            new = wanted.get(name)
            old = self.configs.get(name)
            if new == old:
                continue
            if new is not None and self._keeps_connection(name, old, new):
                # The live session is unaffected; the task uses the new
                # settings from its next connection attempt on.
                log.info("call home %s: settings changed; the current connection stays up", name)
                self.configs[name] = new
                continue
            log.info("call home %s: %s", name, "removed" if new is None else "settings changed, reconnecting")
            self.tasks.pop(name).cancel()
            self.configs.pop(name, None)
            if new is None:
                self.states.pop(name, None)
        for name, cfg in wanted.items():
            if name in self.tasks:
                continue
            self.configs[name] = cfg
            state = self.states.setdefault(name, ClientState(name))
            self.tasks[name] = asyncio.get_running_loop().create_task(self._run(cfg, state), name=f"call-home-{name}")

    def _keeps_connection(self, name: str, old: ClientConfig | None, new: ClientConfig) -> bool:
        current = self.states.get(name)
        if old is None or current is None or current.connected_endpoint is None:
            return False
        if old.connection_type != new.connection_type or old.period != new.period or old.anchor_time != new.anchor_time:
            return False
        before = {e.name: e for e in old.endpoints}.get(current.connected_endpoint)
        after = {e.name: e for e in new.endpoints}.get(current.connected_endpoint)
        return before is not None and before == after

    def on_config_change(self, old: Tree, new: Tree) -> None:
        self.apply(new)

    async def stop(self) -> None:
        self._stopping = True
        tasks = list(self.tasks.values())
        self.tasks.clear()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- one client --

    async def _run(self, cfg: ClientConfig, state: ClientState) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # settings may have been updated in place while connected
            cfg = self.configs.get(cfg.name, cfg)
            policy = EndpointCycle(
                [e.name for e in cfg.endpoints],
                start_with=cfg.start_with,
                max_attempts=cfg.max_attempts,
                last_connected=self._last_connected.get(cfg.name),
            )
            endpoints = {e.name: e for e in cfg.endpoints}
            for name in policy.cycle():
                ep = endpoints[name]
                started = loop.time()
                try:
                    conn, sock = await self._connect(cfg, ep)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    text = _describe(exc)
                    state.last_error = f"{ep.name}: {text}"
                    state.attempts.append(Attempt(ep.name, time.time(), text))
                    log.info("call home %s: endpoint %s (%s:%s) failed: %s", cfg.name, ep.name, ep.remote_address, ep.remote_port, text)
                    # One attempt per max-wait period, however fast it failed.
                    await asyncio.sleep(max(0.0, cfg.max_wait - (loop.time() - started)))
                    continue
                self._last_connected[cfg.name] = ep.name
                await self._hold(cfg, ep, state, conn, sock)
                break  # the connection ended: start over as start-with says

    async def _connect(self, cfg: ClientConfig, ep: EndpointConfig):
        transport = TRANSPORTS.get(ep.transport)
        if transport is None:
            raise ConnectError(f"{ep.transport} call home is not supported")
        # Key material is resolved per attempt: a key provisioned later, or a
        # bad one fixed by an edit, takes effect without a restart.
        params = transport.params_from_config(json.loads(ep.server_params), self.settings.keys_dir)
        sock = await asyncio.wait_for(
            tcp.connect(
                ep.remote_address,
                ep.remote_port,
                keepalives=ep.keepalives,
                local_address=ep.local_address,
                local_port=ep.local_port,
            ),
            timeout=cfg.max_wait,
        )
        try:
            conn = await transport.serve(
                sock,
                self.server,
                params,
                tcp_keepalive=ep.keepalives is not None,
                login_timeout=self.settings.login_timeout,
            )
        except BaseException:
            sock.close()
            raise
        return conn, sock

    async def _hold(self, cfg: ClientConfig, ep: EndpointConfig, state: ClientState, conn, sock) -> None:
        state.connected_endpoint = ep.name
        state.connected_since = time.time()
        state.last_error = None
        state.sock = sock
        state.connections += 1
        state.attempts.append(Attempt(ep.name, time.time(), "connected"))
        log.info("call home %s: connected to %s (%s:%s)", cfg.name, ep.name, ep.remote_address, ep.remote_port)
        try:
            await conn.wait_closed()
            log.info("call home %s: connection to %s ended", cfg.name, ep.name)
        finally:
            conn.close()
            state.connected_endpoint = None
            state.connected_since = None
            state.sock = None


def _describe(exc: BaseException) -> str:
    # Since Python 3.10 a socket timeout and ETIMEDOUT are both TimeoutError:
    # only errno tells a dead peer from our own deadline.
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
