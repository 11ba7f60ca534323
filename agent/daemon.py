"""The composition root: builds the agent from its settings and runs it.

Three steps: :meth:`Agent.start` builds every component once, by its
constructor, in dependency order (:class:`Components`), and starts them;
:meth:`Agent.run` serves until asked to stop; :meth:`Agent.stop` reverses
the start. Only the command line and the demo import this module.

Ownership: the datastore owns the running tree, the call-home manager owns
the sockets (and serves the call-home state), the server its sessions (and
serves their monitoring data), the board the hardware (and its identity).
NACM and the notifications are built here too and handed to whoever uses
them: no component builds another, or sets a hook on one after the fact.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import json
import logging
import signal
import time
from typing import Any, NamedTuple

from . import eventlog, hal, memory, modset, notify, recovery, state
from .callhome.config import affects_clients
from .callhome.manager import CallHomeManager, ManagerSettings
from .datastore.persist import FACTORY, FILENAME, LEGACY_NAMES, PREVIOUS, StartupStore, StoreError
from .datastore.store import ChangedBy, Datastore
from .nacm import Nacm, affects_policy, read_policy
from .plugins import Plugin
from .plugins import host as plugin_host
from .server import Limits, NetconfServer
from .settings import Settings
from .state import StartupReport
from .transport import keys
from .yang import Schema, Tree

#: the stored configuration may hold cleartext keys: it is guarded like them
STORE_FILES = (FILENAME, PREVIOUS, FACTORY, *LEGACY_NAMES.values())

log = logging.getLogger(__name__)


class Components(NamedTuple):
    """What a started agent is made of, each built once by its constructor
    in :meth:`Agent.start`, each owning the state it serves."""

    board: hal.Board
    schema: Schema
    #: the startup datastore's file (the stored configuration)
    store: StartupStore
    #: access control, following running
    nacm: Nacm
    #: the agent's event stream and its replay log
    notifications: notify.Notifications
    datastore: Datastore
    plugins: plugin_host.PluginHost
    server: NetconfServer
    callhome: CallHomeManager


class Agent:
    """Start-up, run, shutdown: :meth:`start` builds and starts the
    components, :meth:`run` serves until asked to stop, :meth:`stop`
    reverses the start."""

    def __init__(
        self,
        settings: Settings,
        board: hal.Board | None = None,
        manager_settings: dict[str, Any] | None = None,
        plugins: list[Plugin] | None = None,
    ) -> None:
        self.settings = settings
        self._board = board
        #: plugin objects given directly (tests, embedding), besides the settings'
        self._extra_plugins = plugins or []
        self._manager_settings = manager_settings or {}
        self.started = datetime.datetime.now(datetime.UTC)
        self.startup = StartupReport()
        #: None until start() has built them
        self.components: Components | None = None
        self._stop = asyncio.Event()
        self._kicker: asyncio.Task[None] | None = None

    # the components, by name (tests and the demo reach for them)

    def _parts(self) -> Components:
        if self.components is None:
            raise RuntimeError("the agent is not started")
        return self.components

    @property
    def board(self) -> hal.Board | None:
        return self._board

    @property
    def schema(self) -> Schema:
        return self._parts().schema

    @property
    def store(self) -> StartupStore:
        return self._parts().store

    @property
    def datastore(self) -> Datastore:
        return self._parts().datastore

    @property
    def plugins(self) -> plugin_host.PluginHost:
        return self._parts().plugins

    @property
    def server(self) -> NetconfServer:
        return self._parts().server

    @property
    def callhome(self) -> CallHomeManager:
        return self._parts().callhome

    @property
    def loaded_from(self) -> str:
        return self.startup.loaded_from

    @property
    def store_problem(self) -> str | None:
        return self.startup.store_problem

    # start-up

    async def start(self) -> None:
        """Build the components from the settings, in dependency order, then start them."""
        s = self.settings
        memory.limit_arenas()
        board = self._board
        if board is None:
            # fail before touching the state dir. The simulated board "reboots"
            # by ending the agent: its supervisor starts it again, on the slot
            # the board now boots
            board = hal.load(s.board, watchdog_path=s.watchdog_path, state_dir=s.state_dir, on_reboot=self.request_stop)
            self._board = board
        store_files = [s.state_dir / n for n in STORE_FILES]
        repaired = recovery.move_aside(store_files) + recovery.repair_modes(keys.key_files(s.keys_dir) + store_files)
        plugin_list = plugin_host.load(list(s.plugins), discover=s.discover_plugins) + self._extra_plugins
        schema = modset.build_schema(s, plugin_list)
        store = StartupStore(s.state_dir, schema)
        for copied in store.migrate():
            log.info("startup store: %s", copied)
        startup, report = _load_configuration(s, schema, store)
        self.startup = report._replace(repaired=tuple(repaired))
        nacm = Nacm(schema, read_policy(startup))
        # who may read which event is NACM's call
        notifications = notify.Notifications(access=nacm.can_notify, log=eventlog.EventLog(s.state_dir / eventlog.FILENAME),
                                             settle=self._settle_changes)
        plugins = plugin_host.PluginHost(schema, plugin_list, board, notifications.publish, on_event=notifications.observe)
        datastore = Datastore(
            schema, startup, store,
            # the manager has the reply to its edit while the change's
            # notification is built and logged; the event keeps the time of the
            # commit and its place in the stream (docs/conformance.md, notifications)
            reply_first=True,
            transaction_hook=plugins.transaction,
            on_confirm_event=lambda event, by, timeout: notifications.publish(
                "ietf-netconf-notifications", "netconf-confirmed-commit", notify.confirmed_commit(event, by, timeout)),
        )
        server = NetconfServer(
            schema,
            datastore,
            max_message_size=s.max_message_size,
            limits=Limits(s.max_sessions, s.max_sessions_per_connection, s.hello_timeout),
            nacm=nacm,
            notifications=notifications,
            actions=plugins.run_action,
            state_providers=[self._operational_state, plugins.state_provider()],
        )
        callhome = CallHomeManager(
            server,
            ManagerSettings(
                keys_dir=s.keys_dir,
                memory_file=s.state_dir / "callhome-last.json",
                login_timeout=s.login_timeout,
                backoff_min=s.backoff_min,
                backoff_max=s.backoff_max,
                bind_interface=s.mgmt_interface,
                **self._manager_settings,
            ),
            notifications.publish,
            nics=board.nics,
        )
        self.components = Components(board, schema, store, nacm, notifications, datastore, plugins, server, callhome)

        await plugins.replay(datastore.running)
        if board.watchdog is not None:
            board.watchdog.start(s.watchdog_timeout)
            self._kicker = asyncio.get_running_loop().create_task(self._kick_watchdog())
        datastore.add_listener(self._datastore_changed)
        board.nics.subscribe(self._link_changed)
        callhome.apply(datastore.running)
        log.info("dpu-agent started on board %s, state in %s", board.name, s.state_dir)

    def _operational_state(self, _selection: list[str] | None) -> Tree:
        """The operational data the agent itself serves on <get>, each part
        from the component that owns it."""
        c = self._parts()
        data = {
            **state.interfaces(c.board.nics, self.started),
            **state.hardware(hal.identity(c.board, self.settings.identity_file)),
            **state.agent_state(c.board, self.started, c.callhome.state(), self.startup),
            **c.server.monitoring(),
        }
        return c.schema.parse(json.dumps(data), "json", state=True)

    # events

    def _datastore_changed(self, name: str, old: Tree, new: Tree, by: ChangedBy | None) -> None:
        c = self._parts()
        # logged for replay even when no one listens (a tree walk per change).
        # A change of a large tree is reported without its edit list (RFC 6470
        # allows it): its diff would cost seconds and megabytes on the loop
        # and leave the heap fragmented after a 100 000-entry edit.
        # Past the limit the diff names each changed top-level node, so it
        # still tells NACM and call home whether their subtree changed.
        try:
            changes = None if c.datastore.large_change else old.diff(new, limit=notify.MAX_CONFIG_CHANGE_EDITS)
        except Exception:
            if name == "running":  # the policy and call home follow running all the same
                c.nacm.update(new)
                c.callhome.apply(new)
            raise
        if name == "running":
            paths = None if changes is None else [path for path, _ in changes]
            if paths is None or affects_policy(paths):
                c.nacm.update(new)
            if paths is None or affects_clients(paths):
                c.callhome.apply(new)
        c.datastore.after_reply(functools.partial(self._publish_change, name, by, changes, time.time()))

    def _publish_change(self, name: str, by: ChangedBy | None, changes: list[tuple[str, str]] | None, at: float) -> None:
        c = self._parts()
        edits = [] if changes is None else [(*c.schema.xml_path(path), op) for path, op in changes]
        c.notifications.publish("ietf-netconf-notifications", "netconf-config-change", notify.config_change(name, by, edits),
                                at=at)

    def _settle_changes(self) -> None:
        """Before any event is published: what follows the last change, if still due."""
        if self.components is not None:
            self.components.datastore.settle()

    def _link_changed(self, interface: str, up: bool) -> None:
        self._parts().notifications.publish("dpu-agent", "interface-link-change", notify.link_change(interface, up))

    def healthy(self) -> bool:
        """Kick the watchdog only while this holds (and the loop turns, since
        the kicker runs on it): a wedged agent gets the board reset."""
        return self.datastore.healthy()

    async def _kick_watchdog(self) -> None:
        wd = self._parts().board.watchdog
        assert wd is not None
        interval = max(0.2, self.settings.watchdog_timeout / 3)
        while True:
            if self.healthy():
                wd.kick()
            else:
                log.error("agent unhealthy: no longer kicking the watchdog")
            await asyncio.sleep(interval)

    def request_stop(self) -> None:
        self._stop.set()

    # shutdown

    async def stop(self) -> None:
        """Reverse the start (of what start() got to: it may have failed half-way)."""
        if self._kicker is not None:
            self._kicker.cancel()
        if self.components is not None:
            self._settle_changes()  # the last change's event, into the log
            await self.components.callhome.stop()
            await self.components.notifications.log.close()  # the replay log's last batch
        if self._board is not None:
            self._board.close()  # disarms the watchdog: an orderly stop must not reset the board
        log.info("dpu-agent stopped")

    # the three steps

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            try:
                await self.start()
            finally:
                memory.resume_gc()  # paused by the command line for the start-up
            await self._stop.wait()
        finally:
            await self.stop()


def _load_configuration(s: Settings, schema: Schema, store: StartupStore) -> tuple[Tree, StartupReport]:
    """Startup, from the first usable of: the current slot, the previous
    slot, --config, the factory configuration; else empty. StoreError only
    when something is stored, none of it is usable and there is no fallback."""
    store_problem: str | None
    try:
        loaded = store.load()
        store_problem = None
    except StoreError as exc:
        loaded, store_problem = None, str(exc)
    if loaded is not None:
        return loaded.tree, StartupReport(loaded.source, loaded.problem, loaded.previous_problem)
    unusable = f" (the stored one is unusable: {store_problem})" if store_problem else ""
    if s.config_file is not None:
        # only without a usable store: a boot from the store does not import
        # the XML edit machinery before its first call home
        from . import initial_config

        startup = initial_config.load(schema, s.config_file)
        loaded_from = "initial-file"
        (log.error if unusable else log.info)("starting from %s%s", s.config_file, unusable)
    else:
        try:
            factory = store.load_factory()
        except StoreError as exc:
            if store_problem is None:
                raise
            raise StoreError(f"no usable configuration: {store_problem}; {exc}") from None
        if factory is not None:
            startup, loaded_from = factory, "factory"
            log.error("starting from the factory configuration %s%s", store.factory_path, unusable)
        elif store_problem is not None:
            raise StoreError(f"{store_problem}; no --config and no factory configuration to fall back to")
        else:
            startup, loaded_from = schema.empty(), "empty"
            log.warning("no stored configuration and no --config: nothing to call home to")
    startup.validate()
    store.save(startup)
    return startup, StartupReport(loaded_from, store_problem)
