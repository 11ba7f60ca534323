"""The composition root: builds the agent from its settings and runs it.

Ownership: the datastore owns the running tree, the call-home manager owns
the sockets, the board owns the hardware. Stopping reverses the start.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import signal

from . import __version__, configfile, hal, modset
from .callhome.manager import CallHomeManager, ManagerSettings
from .datastore.persist import ConfigFile
from .datastore.store import Datastore
from .server import NetconfServer
from .settings import Settings
from .yang import Schema

log = logging.getLogger(__name__)

WATCHDOG_TIMEOUT = 30


def build_schema(settings: Settings) -> Schema:
    return Schema(modset.search_dirs(list(settings.yang_dirs) if settings.yang_dirs else None), modset.MODULES)


class Agent:
    def __init__(self, settings: Settings, board: hal.Board | None = None) -> None:
        self.settings = settings
        self.board = board
        self.started = datetime.datetime.now(datetime.timezone.utc)
        #: "current", "previous", "initial-file" or "empty" (dpu-agent:agent-state)
        self.loaded_from = "empty"
        self.store_problem: str | None = None
        self._stop = asyncio.Event()
        self._kicker: asyncio.Task | None = None

    async def start(self) -> None:
        s = self.settings
        if self.board is None:
            self.board = hal.load(s.board)  # fail before touching the state dir
        self.schema = build_schema(s)
        self.config_file = ConfigFile(s.state_dir, self.schema)
        loaded = self.config_file.load()
        if loaded is not None:
            running = loaded.tree
            self.loaded_from = loaded.source
            self.store_problem = loaded.problem
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
        self.server.state_providers.append(self._agent_state)
        self.callhome = CallHomeManager(self.server, ManagerSettings(keys_dir=s.keys_dir, login_timeout=s.login_timeout))
        self.datastore.add_listener(self.callhome.on_config_change)
        self.callhome.apply(self.datastore.running)
        if self.board.watchdog is not None:
            self.board.watchdog.start(WATCHDOG_TIMEOUT)
            self._kicker = asyncio.get_running_loop().create_task(self._kick_watchdog())
        log.info("dpu-agent started on board %s, state in %s", self.board.name, s.state_dir)

    def _agent_state(self):
        wd = self.board.watchdog if self.board is not None else None
        reset = "unknown" if wd is None or self.board.name == "sim" else ("watchdog" if wd.last_reset_by_watchdog else "power-on")
        store = {"loaded-from": self.loaded_from}
        if self.store_problem:
            store["problem"] = self.store_problem
        state = {
            "dpu-agent:agent-state": {
                "software-version": __version__,
                "started": self.started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "last-reset-reason": reset,
                "config-store": store,
            }
        }
        return self.schema.parse(json.dumps(state), "json", state=True)

    async def _kick_watchdog(self) -> None:
        # Kicked from the event loop itself: a blocked loop stops the kicks.
        wd = self.board.watchdog
        while True:
            wd.kick()
            await asyncio.sleep(WATCHDOG_TIMEOUT / 3)

    def request_stop(self) -> None:
        self._stop.set()

    async def stop(self) -> None:
        if self._kicker is not None:
            self._kicker.cancel()
        await self.callhome.stop()
        if self.board is not None:
            self.board.close()
        log.info("dpu-agent stopped")

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        await self.start()
        try:
            await self._stop.wait()
        finally:
            await self.stop()
