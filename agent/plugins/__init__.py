"""The plugin API: what a DPU vendor writes to put its own hardware behind
the agent's NETCONF, validation, transactions, persistence and rollback.

A plugin subscribes to configuration subtrees and is called in a transaction
whenever running changes there::

    validate(change)  every involved plugin may veto with an RpcError
    apply(change)     in ``priority`` order; pushes the values to the hardware
    abort(change)     called on the plugins already applied when a later
                      one fails, in reverse order; running stays unchanged

It may also serve operational data for its ``state_subtrees`` on <get>
(called only when the request asks for them) and emit notifications.

All methods are coroutines run on the agent's event loop: awaiting is fine,
blocking is not. Blocking driver calls go through ``ctx.run_blocking``
(a worker thread). Plugins are found through the entry-point group
``dpu_agent.plugins`` or named in the agent's settings (``module:attribute``).
See ``agent/plugins/gfast_sim.py`` for a complete one.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Callable

from ..netconf.errors import RpcError  # noqa: F401  (plugins raise these)

ENTRY_POINT_GROUP = "dpu_agent.plugins"


@dataclass(frozen=True)
class Edit:
    #: data path in libyang's JSON form, e.g. /ietf-interfaces:interfaces/interface[name='x']/enabled
    path: str
    #: create, delete or replace
    operation: str


@dataclass(frozen=True)
class Change:
    """A change of running as one plugin sees it: its subtrees before and
    after (RFC 7951 JSON, defaults included) and the edits within them."""

    old: dict
    new: dict
    edits: tuple[Edit, ...]


@dataclass
class PluginContext:
    """What the agent hands a plugin in ``setup``."""

    #: the board (agent.hal): the only way to the hardware
    board: Any
    log: logging.Logger
    #: emit a notification given as RFC 7951 JSON, e.g. {"bbf-fast:...": {...}}
    notify: Callable[[dict], None]

    async def run_blocking(self, fn: Callable, *args):
        """Run a blocking driver call in a worker thread."""
        return await asyncio.to_thread(fn, *args)


class Plugin:
    """Base class; set the class attributes and override what you need."""

    name: str = "plugin"
    #: YANG modules the plugin needs, with their features ("*" = all)
    modules: dict[str, list[str]] = {}
    #: configuration subtrees (schema paths in JSON form, no keys) it applies
    subtrees: tuple[str, ...] = ()
    #: operational subtrees it serves on <get>
    state_subtrees: tuple[str, ...] = ()
    #: apply order among plugins: lower first
    priority: int = 100
    ctx: PluginContext

    def setup(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    async def validate(self, change: Change) -> None:
        """Raise an RpcError (InvalidValue, ...) to veto the change."""

    async def apply(self, change: Change) -> None:
        """Make the hardware match ``change.new``. Raise to refuse."""

    async def abort(self, change: Change) -> None:
        """Undo a successful ``apply`` of ``change`` (back to ``change.old``)."""

    async def state(self, paths: list[str] | None) -> dict | None:
        """Operational data (RFC 7951 JSON) for ``state_subtrees``; ``paths``
        are the XPaths asked for, or None for everything."""
        return None
