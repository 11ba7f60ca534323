"""The composition root: builds the agent from its settings and runs it.

Ownership: the datastore owns the running tree, the call-home manager owns
the sockets, the board owns the hardware. Stopping reverses the start.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import logging
import signal

from . import configfile, eventlog, hal, memory, modset, notify, recovery, state
from .callhome.manager import CallHomeManager, ManagerSettings
from .datastore.persist import FACTORY, FILENAME, PREVIOUS, ConfigFile, StoreError
from .datastore.store import Datastore
from .hal.base import Identity
from .plugins import Plugin
from .plugins import host as plugin_host
from .server import Limits, NetconfServer
from .transport import keys

from .settings import Settings

#: the stored configuration may hold cleartext keys: it is guarded like them
STORE_FILES = (FILENAME, PREVIOUS, FACTORY)

log = logging.getLogger(__name__)


class Agent:
    def __init__(
        self,
        settings: Settings,
        board: hal.Board | None = None,
        manager_settings: dict | None = None,
        plugins: list[Plugin] | None = None,
    ) -> None:
        self.settings = settings
        self.board = board
        #: plugin objects given directly (tests, embedding), besides the settings'
        self._extra_plugins = plugins or []
        self._manager_settings = manager_settings or {}
        self.started = datetime.datetime.now(datetime.timezone.utc)
        #: "current", "previous", "factory", "initial-file" or "empty" (dpu-agent:agent-state)
        self.loaded_from = "empty"
        self.store_problem: str | None = None
        #: why the previous slot is unusable while the current one is fine
        self.previous_problem: str | None = None
        #: what start-up repaired in the state directory (dpu-agent:agent-state)
        self.repaired: list[str] = []
        self._stop = asyncio.Event()
        self._kicker: asyncio.Task | None = None

    async def start(self) -> None:
        s = self.settings
        memory.limit_arenas()
        if self.board is None:
            # fail before touching the state dir
            self.board = hal.load(s.board, watchdog_path=s.watchdog_path, state_dir=s.state_dir)
            if s.board == "sim" and self.board.slots is not None:
                # the simulated board "reboots" by ending the agent: its supervisor
                # starts it again, on the slot the board now boots
                self.board.slots.on_reboot = self.request_stop
        store_files = [s.state_dir / n for n in STORE_FILES]
        self.repaired = recovery.move_aside(store_files) + recovery.repair_modes(keys.key_files(s.keys_dir) + store_files)
        plugins = plugin_host.load(list(s.plugins), discover=s.discover_plugins) + self._extra_plugins
        self.schema = modset.build_schema(s, plugins)
        self.config_file = ConfigFile(s.state_dir, self.schema)
        running = self._load_configuration()
        self.datastore = Datastore(self.schema, running, self.config_file)
        self.server = NetconfServer(
            self.schema,
            self.datastore,
            max_message_size=s.max_message_size,
            limits=Limits(s.max_sessions, s.max_sessions_per_connection, s.hello_timeout),
        )
        self.server.notifications.log = eventlog.EventLog(s.state_dir / eventlog.FILENAME)
        self.server.state_providers.append(state.provider(self))
        self.plugins = plugin_host.PluginHost(self.schema, plugins, self.board, self.server.notifications.publish,
                                              on_event=self.server.notifications.observe)
        self.server.actions = self.plugins.run_action
        self.datastore.transaction_hook = self.plugins.transaction
        self.server.state_providers.append(self.plugins.state_provider())
        await self.plugins.replay(self.datastore.running)
        if self.board.watchdog is not None:
            self.board.watchdog.start(s.watchdog_timeout)
            self._kicker = asyncio.get_running_loop().create_task(self._kick_watchdog())
        self.callhome = CallHomeManager(
            self.server,
            ManagerSettings(
                keys_dir=s.keys_dir,
                memory_file=s.state_dir / "callhome-last.json",
                login_timeout=s.login_timeout,
                backoff_min=s.backoff_min,
                backoff_max=s.backoff_max,
                bind_interface=s.mgmt_interface,
                **self._manager_settings,
            ),
            nics=self.board.nics,
        )
        self.datastore.add_listener(self._datastore_changed)
        self.datastore.on_confirm_event = self._confirm_event
        self.board.nics.subscribe(self._link_changed)
        self.callhome.apply(self.datastore.running)
        log.info("dpu-agent started on board %s, state in %s", self.board.name, s.state_dir)

    def _load_configuration(self):
        """Startup, from the first usable of: the current slot, the previous
        slot, --config, the factory configuration; else empty. StoreError only
        when something is stored, none of it is usable and there is no fallback."""
        s = self.settings
        try:
            loaded = self.config_file.load()
        except StoreError as exc:
            loaded, self.store_problem = None, str(exc)
        if loaded is not None:
            self.loaded_from = loaded.source
            self.store_problem = loaded.problem
            self.previous_problem = loaded.previous_problem
            return loaded.tree
        unusable = f" (the stored one is unusable: {self.store_problem})" if self.store_problem else ""
        if s.config_file is not None:
            running = configfile.load(self.schema, s.config_file)
            self.loaded_from = "initial-file"
            (log.error if unusable else log.info)("starting from %s%s", s.config_file, unusable)
        else:
            try:
                running = self.config_file.load_factory()
            except StoreError as exc:
                if self.store_problem is None:
                    raise
                raise StoreError(f"no usable configuration: {self.store_problem}; {exc}") from None
            if running is not None:
                self.loaded_from = "factory"
                log.error("starting from the factory configuration %s%s", self.config_file.factory_path, unusable)
            elif self.store_problem is not None:
                raise StoreError(f"{self.store_problem}; no --config and no factory configuration to fall back to")
            else:
                running = self.schema.empty()
                self.loaded_from = "empty"
                log.warning("no stored configuration and no --config: nothing to call home to")
        running.validate()
        self.config_file.save(running)
        return running

    def _datastore_changed(self, name: str, old, new, by) -> None:
        if name == "running":
            self.server.nacm.update(new)
            self.callhome.apply(new)
        events = self.server.notifications
        # logged for replay even when no one listens (a tree walk per change).
        # A change of a large tree is reported without its edit list (RFC 6470
        # allows it): its diff would cost seconds and megabytes on the loop
        # and leave the heap fragmented after a 100 000-entry edit.
        edits = [] if self.datastore.large_change else [
            (*self.schema.xml_path(path), op) for path, op in old.diff(new, limit=notify.MAX_CONFIG_CHANGE_EDITS)]
        events.publish("ietf-netconf-notifications", "netconf-config-change", notify.config_change(name, by, edits))

    def _confirm_event(self, event: str, by, timeout: int | None) -> None:
        self.server.notifications.publish("ietf-netconf-notifications", "netconf-confirmed-commit",
                                          notify.confirmed_commit(event, by, timeout))

    def _link_changed(self, interface: str, up: bool) -> None:
        self.server.notifications.publish("dpu-agent", "interface-link-change", notify.link_change(interface, up))

    def identity(self) -> Identity:
        """The board's identity, overridden by what factory provisioning wrote."""
        ident = self.board.identity()
        try:
            provisioned = json.loads(self.settings.identity_file.read_text())
        except FileNotFoundError:
            return ident
        except (OSError, ValueError) as exc:
            log.warning("ignoring %s: %s", self.settings.identity_file, exc)
            return ident
        fields = {f.name for f in dataclasses.fields(Identity)}
        return dataclasses.replace(ident, **{k: v for k, v in provisioned.items() if k in fields and v})

    def healthy(self) -> bool:
        """Kick the watchdog only while this holds (and the loop turns, since
        the kicker runs on it): a wedged agent gets the board reset."""
        return self.datastore.healthy()

    async def _kick_watchdog(self) -> None:
        wd = self.board.watchdog
        interval = max(0.2, self.settings.watchdog_timeout / 3)
        while True:
            if self.healthy():
                wd.kick()
            else:
                log.error("agent unhealthy: no longer kicking the watchdog")
            await asyncio.sleep(interval)

    def request_stop(self) -> None:
        self._stop.set()

    async def stop(self) -> None:
        if self._kicker is not None:
            self._kicker.cancel()
        if getattr(self, "callhome", None) is not None:
            await self.callhome.stop()
        if getattr(self, "server", None) is not None:
            await self.server.notifications.log.close()  # the replay log's last batch
        if self.board is not None:
            self.board.close()  # disarms the watchdog: an orderly stop must not reset the board
        log.info("dpu-agent stopped")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await self.start()
            await self._stop.wait()
        finally:
            await self.stop()
