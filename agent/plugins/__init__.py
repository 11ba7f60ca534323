"""The plugin API: what a DPU vendor writes to put its own hardware behind
the agent's NETCONF, validation, transactions, persistence and rollback.

A plugin subscribes to configuration subtrees and is called in a transaction
whenever running changes there::

    validate(change)  every involved plugin may veto with an RpcError
    apply(change)     in ``priority`` order; pushes the values to the hardware
    abort(change)     called on the plugins already applied when a later
                      one fails, in reverse order; running stays unchanged

It may also serve operational data for its ``state_subtrees`` on <get>
(called only when the request asks for them), run the YANG 1.1 actions
(RFC 7950 7.15) found in its ``action_subtrees`` and emit notifications,
top-level or nested in a data node (RFC 7950 7.16: give the parents too).
The agent validates an action's input and output with libyang and checks
NACM exec on the action node before ``action`` is called.

All methods are coroutines run on the agent's event loop: awaiting is fine,
blocking is not. Blocking driver calls go through ``ctx.run_blocking``
(a worker thread). Plugins are found through the entry-point group
``dpu_agent.plugins`` or named in the agent's settings (``module:attribute``).
See ``agent/plugins/gfast_sim.py`` for a complete one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from ..netconf.errors import OperationNotSupported, RpcError  # noqa: F401  (plugins raise these)

T = TypeVar("T")

ENTRY_POINT_GROUP = "dpu_agent.plugins"


class Edit(NamedTuple):
    #: data path in libyang's JSON form, e.g. /ietf-interfaces:interfaces/interface[name='x']/enabled
    path: str
    #: create, delete or replace
    operation: str


class Change(NamedTuple):
    """A change of running as one plugin sees it: its subtrees before and
    after (RFC 7951 JSON, defaults included) and the edits within them."""

    old: dict[str, Any]
    new: dict[str, Any]
    edits: tuple[Edit, ...]


class ActionCall(NamedTuple):
    """One invocation of a YANG 1.1 action, validated."""

    #: the action instance's data path (libyang JSON form, keys included)
    path: str
    module: str
    name: str
    #: key values of the lists above the action: list name -> {key: value}
    keys: dict[str, dict[str, str]]
    #: the input, RFC 7951 JSON of the nodes below the action
    input: dict[str, Any]


class PluginContext:
    """What the agent hands a plugin in ``setup``."""

    def __init__(
        self,
        board: Any,
        log: logging.Logger,
        notify: Callable[[dict[str, Any]], None],
        on_event: Callable[[str, str, Callable[[], None]], None] = lambda module, name, callback: None,
    ) -> None:
        #: the board (agent.hal): the only way to the hardware
        self.board = board
        self.log = log
        #: emit a notification given as RFC 7951 JSON, e.g. {"bbf-fast:...": {...}};
        #: a nested one comes with its parents, as in a <get> reply
        self.notify = notify
        #: ``on_event(module, name, callback)``: call ``callback()`` whenever the
        #: agent publishes that notification (e.g. dpu-agent call-home-connected)
        self.on_event = on_event

    async def run_blocking(self, fn: Callable[..., T], *args: Any) -> T:
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
    #: subtrees (schema paths, no keys) whose actions it runs
    action_subtrees: tuple[str, ...] = ()
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

    async def state(self, paths: list[str] | None) -> dict[str, Any] | None:
        """Operational data (RFC 7951 JSON) for ``state_subtrees``; ``paths``
        are the XPaths asked for, or None for everything."""
        return None

    async def action(self, call: ActionCall) -> dict[str, Any] | None:
        """Run an action in ``action_subtrees``: return its output (RFC 7951
        JSON of the nodes below the action, None for none) or raise an
        RpcError. Long work (a download) goes into a task of its own: the
        reply should not wait for it, its end is told by a notification."""
        raise OperationNotSupported(f"{self.name}: the action {call.module}:{call.name} is not implemented")
