"""One task per configured netconf-client, each owning its connection.

The manager follows the running configuration: on every commit it compares
each client's call-home settings. A change the live connection can take
(keepalives, reconnect strategy, other endpoints) is applied to it in place;
only a change of the connected endpoint's address, port, local binding,
transport or credentials re-establishes that client, and the log says why.

It also follows the management link: when a NIC goes down the connections
through it are closed at once, and when a link comes up every client that
is waiting (between attempts or backing off) tries again immediately.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import json
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from .. import memory, notify
from ..datastore.persist import write_atomic
from ..hal.base import Nics
from ..server import NetconfServer
from ..settings import BACKOFF_MAX, BACKOFF_MIN, LOGIN_TIMEOUT
from ..timestamps import when
from ..transport import ssh, tcp
from ..transport.base import Connection, Transport
from ..transport.keys import KeyMaterialError
from ..transport.stream import Activity
from ..yang import Tree
from . import retune
from .config import ClientConfig, EndpointConfig, read_clients
from .policy import EndpointCycle, backoff_delay, next_periodic_start

log = logging.getLogger(__name__)

#: ietf-netconf-server transport case -> module with params_from_config() and serve()
TRANSPORTS: dict[str, Transport] = {"ssh": ssh}  # modules as Protocols; "tls" added by _transport()


def _transport(name: str) -> Transport | None:
    if name == "tls" and name not in TRANSPORTS:
        # on first use: its DER and cert-to-name modules are not imported before a TLS endpoint's call home
        from ..transport import tls

        TRANSPORTS["tls"] = tls
    return TRANSPORTS.get(name)


#: seconds a client task waits after an internal error before it starts over
RESTART_DELAY = 10.0


class Clock:
    """Wall-clock time and sleeping, injectable so that periodic schedules
    (minutes to hours) can be tested in milliseconds."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def to_real(self, seconds: float) -> float:
        """Real seconds for ``seconds`` of this clock's time."""
        return seconds

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, self.to_real(seconds)))


class Attempt(NamedTuple):
    endpoint: str
    at: float  # Clock.time()
    result: str  # "connected" or an error text


class ClientState:
    """What a client task is doing, for operational state and tests."""

    def __init__(self, name: str) -> None:
        self.name = name
        #: connecting | connected | backing-off | waiting-for-period
        self.status = "connecting"
        self.connected_endpoint: str | None = None
        self.connected_since: float | None = None
        self.last_error: str | None = None
        #: what is wrong with the key material, while it keeps the client from calling home
        self.key_problem: str | None = None
        #: when the current run of failed cycles began ("all endpoints exhausted")
        self.exhausted_since: float | None = None
        self.next_attempt: float | None = None
        #: the kernel socket of the current connection (to read its options back)
        self.sock: socket.socket | None = None
        #: interface the current connection goes through, if known
        self.interface: str | None = None
        self.attempts: collections.deque[Attempt] = collections.deque(maxlen=64)
        self.connections = 0
        #: when the last connection ended (Clock.time())
        self.disconnected_at: float | None = None
        self.conn: Connection | None = None


class ConnectError(Exception):
    pass


class ManagerSettings:
    def __init__(
        self,
        keys_dir: Path,
        *,
        memory_file: Path | None = None,
        login_timeout: float = LOGIN_TIMEOUT,
        backoff_min: float = BACKOFF_MIN,
        backoff_max: float = BACKOFF_MAX,
        bind_interface: str | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.keys_dir = keys_dir
        #: where the last connected endpoint of each client is remembered across
        #: reboots (start-with last-connected); None: only in memory
        self.memory_file = memory_file
        self.login_timeout = login_timeout
        #: bounds of the back-off between exhausted cycles, seconds
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        #: the management interface: call-home sockets are bound to it (SO_BINDTODEVICE)
        self.bind_interface = bind_interface
        self.clock = Clock() if clock is None else clock
        self.rng = random.Random() if rng is None else rng


class CallHomeManager:
    def __init__(self, server: NetconfServer, settings: ManagerSettings, publish: Callable[[str, str, str], None],
                 nics: Nics | None = None) -> None:
        self.server = server
        #: publishes an event (the agent's notifications)
        self._publish = publish
        self.settings = settings
        self.clock = settings.clock
        self.nics = nics
        self.configs: dict[str, ClientConfig] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.states: dict[str, ClientState] = {}
        #: start-with last-connected, remembered across reconfiguration and reboots
        self._last_connected: dict[str, str] = self._recall()
        #: when each client's periodic schedule was anchored (no anchor-time given)
        self._applied_at: dict[str, float] = {}
        self._wakeup = asyncio.Event()
        self._stopping = False
        if nics is not None:
            nics.subscribe(self.link_changed)

    def _recall(self) -> dict[str, str]:
        path = self.settings.memory_file
        if path is None:
            return {}
        try:
            data = json.loads(path.read_text())
            return {str(k): str(v) for k, v in data.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("ignoring %s: %s", path, exc)
            return {}

    def _remember(self, client: str, endpoint: str) -> None:
        if self._last_connected.get(client) == endpoint:
            return  # written only when it changes: flash wear
        self._last_connected[client] = endpoint
        if self.settings.memory_file is not None:
            try:
                write_atomic(self.settings.memory_file, json.dumps(self._last_connected).encode())
            except OSError as exc:
                log.warning("cannot remember the last connected endpoint: %s", exc)

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
            if new is None:
                why = ["removed"]
            else:
                why = self._redial_reasons(name, old, new)
                if not why:
                    assert old is not None  # no reasons: connected with the old settings
                    self.configs[name] = new
                    self._retune(name, old, new)
                    continue
            log.info("call home %s: %s", name, "; ".join(why) + ("" if new is None else ": re-dialling"))
            self.tasks.pop(name).cancel()
            self.configs.pop(name, None)
            self._applied_at.pop(name, None)
            if new is None:
                self.states.pop(name, None)
        for name, cfg in wanted.items():
            if name in self.tasks:
                continue
            if not cfg.endpoints:
                continue
            self.configs[name] = cfg
            self._applied_at.setdefault(name, self.clock.time())
            state = self.states.setdefault(name, ClientState(name))
            self.tasks[name] = asyncio.get_running_loop().create_task(self._run(name, state), name=f"call-home-{name}")

    def _redial_reasons(self, name: str, old: ClientConfig | None, new: ClientConfig) -> list[str]:
        """Why the client must start over with ``new``; empty when its live
        connection can take the change in place."""
        current = self.states.get(name)
        if old is None or current is None or current.connected_endpoint is None or current.conn is None:
            return ["settings changed while not connected"]
        endpoint = current.connected_endpoint
        why = retune.redial_reasons(old, new, endpoint)
        if not why and retune.retune(old, new, endpoint).ssh and not hasattr(current.conn, "set_keepalive"):
            why = ["SSH keepalives changed and this SSH transport cannot retune them in place"]
        return why

    def _retune(self, name: str, old: ClientConfig, new: ClientConfig) -> None:
        """Apply a change to the live connection (see _redial_reasons)."""
        state = self.states[name]
        endpoint = state.connected_endpoint
        assert endpoint is not None  # connected (_redial_reasons)
        change = retune.retune(old, new, endpoint)
        ep = {e.name: e for e in new.endpoints}[endpoint]
        if change.tcp:
            assert state.sock is not None  # connected (_redial_reasons)
            try:
                tcp.retune_keepalives(state.sock, ep.keepalives)
            except OSError as exc:  # the connection is going anyway; the next one gets the new values
                log.warning("call home %s: cannot retune TCP keepalives on %s: %s", name, endpoint, _describe(exc))
            else:
                log.info("call home %s: TCP keepalives on %s retuned in place (%s)", name, endpoint,
                         "off" if ep.keepalives is None else
                         f"idle {ep.keepalives.idle_time} s, {ep.keepalives.max_probes} probes every {ep.keepalives.probe_interval} s")
        if change.ssh:
            ka = retune.ssh_keepalives(ep)
            # the SSH connection's set_keepalive (interval 0 turns them off;
            # _redial_reasons made sure the connection has it)
            conn: Any = state.conn
            conn.set_keepalive(ka.max_wait, ka.max_attempts)
            log.info("call home %s: SSH keepalives on %s retuned in place (%s)", name, endpoint,
                     "off" if not ka.max_wait else f"every {ka.max_wait} s, {ka.max_attempts} unanswered")
        if not (change.tcp or change.ssh):
            log.info("call home %s: settings changed; the connection to %s stays up and the next attempt uses them", name, endpoint)

    async def stop(self) -> None:
        self._stopping = True
        tasks = list(self.tasks.values())
        self.tasks.clear()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- operational state --

    def state(self) -> dict[str, Any] | None:
        """The call-home container of dpu-agent:agent-state (RFC 7951 JSON):
        what each client task is doing; None while no client is configured."""
        clients = [
            {k: v for k, v in {
                "name": st.name,
                "status": st.status,
                "connected-endpoint": st.connected_endpoint,
                "connected-since": when(st.connected_since),
                "interface": st.interface,
                "last-error": st.last_error,
                "key-problem": st.key_problem,
                "endpoints-exhausted-since": when(st.exhausted_since),
                "next-attempt": when(st.next_attempt),
                "connections": st.connections,
            }.items() if v is not None}
            for st in self.states.values()
        ]
        return {"netconf-client": clients} if clients else None

    # -- link awareness --

    def link_changed(self, interface: str, up: bool) -> None:
        if up:
            log.info("link %s up: calling home now", interface)
            self.kick()
            return
        for state in self.states.values():
            if state.conn is not None and state.interface == interface:
                log.warning("call home %s: link %s down, closing the connection", state.name, interface)
                state.last_error = f"link {interface} down"
                state.conn.close()

    def kick(self) -> None:
        """Wake every client waiting between attempts or backing off."""
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    async def _nap(self, seconds: float) -> bool:
        """Sleep, unless a link comes up first. True when woken early."""
        if seconds <= 0:
            return False
        event = self._wakeup
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
        # cancel that meets the wakeup, and stop() would wait forever
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
            return True
        except TimeoutError:
            return False

    # -- one client --

    async def _run(self, name: str, state: ClientState) -> None:
        # A box whose client task died is unreachable until someone climbs
        # the pole: a bug in here is logged and the client starts over.
        while True:
            try:
                if self.configs[name].connection_type == "periodic":
                    await self._run_periodic(name, state)
                else:
                    while True:
                        await self._connect_and_hold(name, state)
            except Exception as exc:
                log.exception("call home %s: internal error; starting over in %.0f s", name, RESTART_DELAY)
                state.last_error = f"internal error: {exc!r}"
                state.status = "backing-off"
                await self._nap(RESTART_DELAY)

    async def _run_periodic(self, name: str, state: ClientState) -> None:
        cfg = self.configs[name]
        # Without anchor-time the grid is anchored where this configuration
        # was applied (module text): the first connection is right away.
        anchor = _parse_anchor(cfg.anchor_time) if cfg.anchor_time else self._applied_at[name]
        period = cfg.period * 60
        wait = cfg.anchor_time is not None
        while True:
            if wait:
                start = next_periodic_start(self.clock.time(), period, anchor)
                state.status = "waiting-for-period"
                state.next_attempt = start
                # not woken by link events: the schedule is the operator's
                await self.clock.sleep(start - self.clock.time())
            # A session that ended without <close-session> is re-established
            # at once (ietf-netconf-server, periodic).
            wait = await self._connect_and_hold(name, state, idle_timeout=self.configs[name].idle_timeout)

    async def _connect_and_hold(self, name: str, state: ClientState, idle_timeout: int = 0) -> bool:
        """Try endpoints (cycles with back-off) until connected, hold the
        connection until it ends. True when the manager ended it gracefully
        (or it idled out)."""
        loop = asyncio.get_running_loop()
        exhausted = 0
        while True:
            # settings may have been updated in place while connected
            cfg = self.configs[name]
            policy = EndpointCycle(
                [e.name for e in cfg.endpoints],
                start_with=cfg.start_with,
                max_attempts=cfg.max_attempts,
                last_connected=self._last_connected.get(name),
                rng=self.settings.rng,
            )
            endpoints = {e.name: e for e in cfg.endpoints}
            for ep_name in policy.cycle():
                ep = endpoints[ep_name]
                state.status = "connecting"
                started = loop.time()
                activity = Activity(clock=self.clock.monotonic)
                try:
                    conn, sock = await self._connect(cfg, ep, activity)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    text = _describe(exc)
                    state.last_error = f"{ep.name}: {text}"
                    if isinstance(exc, KeyMaterialError):
                        self._key_problem(name, state, ep.name, text)
                    state.attempts.append(Attempt(ep.name, self.clock.time(), text))
                    log.info("call home %s: endpoint %s (%s:%s) failed: %s", name, ep.name, ep.remote_address, ep.remote_port, text)
                    # One attempt per max-wait period, however fast it failed.
                    await self._nap(cfg.max_wait - (loop.time() - started))
                    continue
                self._remember(name, ep.name)
                return await self._hold(cfg, ep, state, conn, sock, activity, idle_timeout)
            exhausted += 1
            delay = backoff_delay(exhausted, self.settings.backoff_min, self.settings.backoff_max, self.settings.rng)
            if state.exhausted_since is None:
                state.exhausted_since = self.clock.time()
            log.warning("call home %s: all endpoints exhausted; next cycle in %.1f s", name, delay)
            state.status = "backing-off"
            state.next_attempt = self.clock.time() + delay
            self._publish("dpu-agent", "call-home-endpoints-exhausted",
                                notify.call_home_exhausted(name, when(state.next_attempt)))
            if await self._nap(delay):
                exhausted = 0  # a link came up: start the back-off afresh

    def _key_problem(self, name: str, state: ClientState, endpoint: str, text: str) -> None:
        """A box whose keys are missing or broken never calls home: say so at
        ERROR (once per distinct problem, not per attempt) and in its state."""
        problem = (f"endpoint {endpoint}: {text}. The agent cannot call home through it until the key is usable: "
                   f"provision the device keys again (dpu-agent provision) or put the private key, mode 600, "
                   f"in {self.settings.keys_dir} (read on every attempt, no restart needed)")
        if problem != state.key_problem:
            log.error("call home %s: %s", name, problem)
        state.key_problem = problem

    async def _connect(self, cfg: ClientConfig, ep: EndpointConfig, activity: Activity) -> tuple[Connection, socket.socket]:
        transport = _transport(ep.transport)
        if transport is None:
            raise ConnectError(f"{ep.transport} call home is not supported")
        # Key material is resolved per attempt: a key provisioned later, or a
        # bad one fixed by an edit, takes effect without a restart.
        params = transport.params_from_config(json.loads(ep.server_params), self.settings.keys_dir)
        async with asyncio.timeout(cfg.max_wait):  # not wait_for: see _nap
            sock = await tcp.connect(
                ep.remote_address,
                ep.remote_port,
                keepalives=ep.keepalives,
                local_address=ep.local_address,
                local_port=ep.local_port,
                bind_device=self.settings.bind_interface,
            )
        try:
            conn = await transport.serve(
                sock,
                self.server,
                params,
                tcp_keepalive=ep.keepalives is not None,
                login_timeout=self.settings.login_timeout,
                activity=activity,
            )
        except BaseException:
            sock.close()
            raise
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # asyncssh bounds its handshake with wait_for, which on Python 3.11
            # returns the connection and drops a cancel that came with it
            conn.close()
            sock.close()
            raise asyncio.CancelledError
        return conn, sock

    def _interface_of(self, sock: socket.socket) -> str | None:
        if self.settings.bind_interface:
            return self.settings.bind_interface
        if self.nics is None:
            return None
        try:
            return self.nics.interface_of(sock.getsockname()[0])
        except OSError:
            return None

    async def _hold(self, cfg: ClientConfig, ep: EndpointConfig, state: ClientState, conn: Connection,
                    sock: socket.socket, activity: Activity, idle_timeout: int) -> bool:
        state.status = "connected"
        state.key_problem = None
        state.connected_endpoint = ep.name
        state.connected_since = self.clock.time()
        state.last_error = None
        state.exhausted_since = None
        state.next_attempt = None
        state.sock = sock
        state.conn = conn
        state.interface = self._interface_of(sock)
        state.connections += 1
        state.attempts.append(Attempt(ep.name, self.clock.time(), "connected"))
        log.info("call home %s: connected to %s (%s:%s)", cfg.name, ep.name, ep.remote_address, ep.remote_port)
        self._publish("dpu-agent", "call-home-connected", notify.call_home_connected(cfg.name, ep.name))
        idled_out = False
        try:
            if idle_timeout:
                idled_out = await self._wait_or_idle(conn, activity, idle_timeout)
            else:
                await conn.wait_closed()
            if activity.lost is not None:
                state.last_error = f"{ep.name}: connection lost: {_describe(activity.lost)}"
                log.warning("call home %s: connection to %s lost: %s", cfg.name, ep.name, _describe(activity.lost))
            else:
                log.info("call home %s: connection to %s ended%s", cfg.name, ep.name, " (idle)" if idled_out else "")
        finally:
            conn.close()
            state.disconnected_at = self.clock.time()
            state.connected_endpoint = None
            state.connected_since = None
            state.sock = None
            state.conn = None
            state.interface = None
            memory.release()  # what the connection held goes back (agent/memory.py)
        return idled_out or activity.closed_by_manager

    async def _wait_or_idle(self, conn: Connection, activity: Activity, idle_timeout: int) -> bool:
        """Wait for the connection to end; close it once idle for ``idle_timeout`` s.

        One timer per idle period, not a poll: it re-arms at last activity + timeout."""
        closed = asyncio.ensure_future(conn.wait_closed())
        try:
            while True:
                remaining = activity.last + idle_timeout - self.clock.monotonic()
                if remaining <= 0:
                    conn.close()
                    await closed
                    return True
                done, _ = await asyncio.wait({closed}, timeout=self.clock.to_real(remaining))
                if done:
                    return False
        finally:
            closed.cancel()


def _parse_anchor(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _describe(exc: BaseException) -> str:
    # Since Python 3.10 a socket timeout and ETIMEDOUT are both TimeoutError:
    # only errno tells a dead peer from our own deadline.
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
