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

from . import configfile, hal, modset, state
from .callhome.manager import CallHomeManager, ManagerSettings
from .datastore.persist import ConfigFile
from .datastore.store import Datastore
from .hal.base import Identity
from .server import NetconfServer
from .settings import Settings
from .yang import Schema

log = logging.getLogger(__name__)


def build_schema(settings: Settings) -> Schema:
    return Schema(modset.search_dirs(list(settings.yang_dirs) if settings.yang_dirs else None), modset.MODULES)


class Agent:
    def __init__(self, settings: Settings, board: hal.Board | None = None, manager_settings: dict | None = None) -> None:
        self.settings = settings
        self.board = board
        self._manager_settings = manager_settings or {}
        self.started = datetime.datetime.now(datetime.timezone.utc)
        #: "current", "previous", "initial-file" or "empty" (dpu-agent:agent-state)
        self.loaded_from = "empty"
        self.store_problem: str | None = None
        self._stop = asyncio.Event()
        self._kicker: asyncio.Task | None = None

    async def start(self) -> None:
        s = self.settings
        if self.board is None:
            # fail before touching the state dir
            self.board = hal.load(s.board, watchdog_path=s.watchdog_path)
        self.schema = build_schema(s)
        self.config_file = ConfigFile(s.state_dir)
        running = self.config_file.load(self.schema)
        if running is not None:
            self.loaded_from = "current"
        else:
            if s.config_file is not None:
                running = configfile.load(self.schema, s.config_file)
                self.loaded_from = "initial-file"
                log.info("no stored configuration: starting from %s", s.config_file)
            else:
                running = self.schema.empty()
                self.loaded_from = "empty"
                log.warning("no stored configuration and no --config: nothing to call home to")
            running.validate()
            self.config_file.save(running)
        self.datastore = Datastore(self.schema, running, self.config_file)
        self.server = NetconfServer(self.schema, self.datastore, max_message_size=s.max_message_size)
        self.server.state_providers.append(state.provider(self))
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
        self.datastore.add_listener(self._running_changed)
        self.callhome.apply(self.datastore.running)
        log.info("dpu-agent started on board %s, state in %s", self.board.name, s.state_dir)

    def _running_changed(self, name: str, old, new, by) -> None:
        if name == "running":
            self.callhome.apply(new)

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
