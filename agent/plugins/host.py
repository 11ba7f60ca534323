"""Loads the plugins and runs them: the transaction around every change of
running, the <get> state they serve, the notifications they emit."""

from __future__ import annotations

import asyncio
import functools
import importlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from ..hal.base import Board
from ..netconf.errors import OperationFailed, OperationNotSupported, RpcError
from ..yang import Action, Schema, Tree, YangError
from . import ENTRY_POINT_GROUP, ActionCall, Change, Edit, Plugin, PluginContext, entrypoints

log = logging.getLogger(__name__)

#: a plugin call that takes longer is abandoned and the transaction refused
CALL_TIMEOUT = 60.0

_PREDICATE = re.compile(r"\[[^\]]*\]")


class PluginError(Exception):
    """A plugin cannot be loaded; the message says which and why."""


def load(specs: list[str], discover: bool = True) -> list[Plugin]:
    """Plugins from ``module:attribute`` specs and the entry-point group.

    The attribute may be a Plugin instance, a Plugin subclass or a factory."""
    found: list[tuple[str, str | entrypoints.EntryPoint]] = []
    if discover:
        for ep in entrypoints.entry_points(ENTRY_POINT_GROUP):
            found.append((f"entry point {ep.name}", ep))
    for spec in specs:
        found.append((spec, spec))
    plugins = []
    for where, source in found:
        try:
            if isinstance(source, str):
                module, _, attr = source.partition(":")
                obj = getattr(importlib.import_module(module), attr or "plugin")
            else:
                obj = source.load()
            plugin = obj() if callable(obj) and not isinstance(obj, Plugin) else obj
        except Exception as exc:
            raise PluginError(f"plugin {where}: {exc}") from exc
        if not isinstance(plugin, Plugin):
            raise PluginError(f"plugin {where}: {type(plugin).__name__} is not an agent.plugins.Plugin")
        plugins.append(plugin)
    return plugins


def _steps(path: str) -> list[tuple[str | None, str]]:
    """(module, name) for each step of a JSON-form path, predicates dropped."""
    out: list[tuple[str | None, str]] = []
    module = None
    for step in _PREDICATE.sub("", path).strip("/").split("/"):
        if not step:
            continue
        if ":" in step:
            module, step = step.split(":", 1)
        out.append((module, step))
    return out


def overlaps(path: str, subtree: str) -> bool:
    """Is the node at ``path`` inside ``subtree``, or does it contain it?"""
    a, b = _steps(path), _steps(subtree)
    n = min(len(a), len(b))
    return a[:n] == b[:n]


class PluginHost:
    def __init__(self, schema: Schema, plugins: list[Plugin], board: Board, publish: Callable[[str, str, str], None],
                 on_event: Callable[[str, str, Callable[[], None]], None] | None = None) -> None:
        self.schema = schema
        self.plugins = sorted(plugins, key=lambda p: p.priority)
        self._publish = publish
        for plugin in self.plugins:
            ctx = PluginContext(board=board, log=logging.getLogger(f"agent.plugin.{plugin.name}"),
                                notify=functools.partial(self._notify, plugin))
            if on_event is not None:
                ctx.on_event = on_event
            plugin.setup(ctx)

    def _notify(self, plugin: Plugin, data: dict[str, Any]) -> None:
        try:
            module, name, xml = self.schema.notification_xml(json.dumps(data))
        except YangError as exc:
            log.error("plugin %s: invalid notification dropped: %s", plugin.name, exc)
            return
        self._publish(module, name, xml)

    def _change(self, plugin: Plugin, old: Tree, new: Tree, edits: list[tuple[str, str]]) -> Change | None:
        mine = [Edit(p, op) for p, op in edits if any(overlaps(p, s) for s in plugin.subtrees)]
        if not mine:
            return None
        return Change(_json(old, plugin.subtrees), _json(new, plugin.subtrees), tuple(mine))

    async def _call(self, plugin: Plugin, what: str, change: Change) -> None:
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel
            async with asyncio.timeout(CALL_TIMEOUT):
                await getattr(plugin, what)(change)
        except RpcError as err:
            if err.path and not err.path_namespaces:
                # plugins name nodes in the JSON form their data comes in
                err.path, err.path_namespaces = self.schema.xml_path(err.path)
            raise
        except TimeoutError:
            raise OperationFailed(f"plugin {plugin.name}: {what} did not finish in {CALL_TIMEOUT:.0f} s; nothing was changed") from None
        except Exception as exc:
            log.exception("plugin %s: %s failed", plugin.name, what)
            raise OperationFailed(f"plugin {plugin.name}: {what} failed: {exc}; nothing was changed") from None

    def serving(self, path: str) -> Plugin | None:
        """The plugin whose action subtrees hold the action at ``path``."""
        steps = _steps(path)
        for plugin in self.plugins:
            for subtree in plugin.action_subtrees:
                mine = _steps(subtree)
                if steps[: len(mine)] == mine:
                    return plugin
        return None

    async def run_action(self, action: Action) -> dict[str, Any] | None:
        """The server's action runner (agent/rpc/actions.py): ``action`` is
        an agent.yang.Action already authorised and validated."""
        plugin = self.serving(action.path)
        if plugin is None:
            raise OperationNotSupported(f"no plugin runs the action {action.module}:{action.name}")
        # an action node has a name and a module (yang.py types C strings as str | None)
        call = ActionCall(action.path, action.module, action.name, action.keys(), action.input())
        try:
            async with asyncio.timeout(CALL_TIMEOUT):
                return await plugin.action(call)
        except RpcError as err:
            if err.path and not err.path_namespaces:
                err.path, err.path_namespaces = self.schema.xml_path(err.path)
            raise
        except TimeoutError:
            raise OperationFailed(f"plugin {plugin.name}: the action {action.name} did not finish in {CALL_TIMEOUT:.0f} s") from None
        except Exception as exc:
            log.exception("plugin %s: action %s failed", plugin.name, action.name)
            raise OperationFailed(f"plugin {plugin.name}: the action {action.name} failed: {exc}") from None

    async def transaction(self, old: Tree, new: Tree) -> None:
        """Validate with every involved plugin, then apply in order; if an
        apply fails, abort the applied ones and raise: running stays as it was."""
        if not self.plugins:
            return
        edits = old.diff(new)
        if not edits:
            return
        involved = [(p, c) for p in self.plugins if (c := self._change(p, old, new, edits)) is not None]
        for plugin, change in involved:
            await self._call(plugin, "validate", change)
        applied: list[tuple[Plugin, Change]] = []
        try:
            for plugin, change in involved:
                await self._call(plugin, "apply", change)
                applied.append((plugin, change))
        except RpcError:
            for plugin, change in reversed(applied):
                try:
                    async with asyncio.timeout(CALL_TIMEOUT):
                        await plugin.abort(change)
                except Exception:
                    log.exception("plugin %s: abort failed; its hardware may not match running", plugin.name)
            raise

    async def replay(self, running: Tree) -> None:
        """At start-up, apply the stored configuration once through the plugins."""
        empty = self.schema.empty()
        try:
            await self.transaction(empty, running)
        except RpcError as exc:
            log.error("start-up configuration not applied by the plugins: %s", exc.message)

    def state_provider(self) -> Callable[[list[str] | None], Awaitable[Tree | None]]:
        """A state provider for the NETCONF server: asks only the plugins whose
        state subtrees the request selects."""

        async def provide(selection: list[str] | None) -> Tree | None:
            merged: dict[str, Any] = {}
            for plugin in self.plugins:
                if not plugin.state_subtrees:
                    continue
                if selection is not None and not any(overlaps(x, s) for x in selection for s in plugin.state_subtrees):
                    continue
                try:
                    async with asyncio.timeout(CALL_TIMEOUT):
                        data = await plugin.state(selection)
                except Exception:
                    log.exception("plugin %s: state failed", plugin.name)
                    continue
                if data:
                    _merge(merged, data)
            if not merged:
                return None
            return self.schema.parse(json.dumps(merged), "json", state=True)

        return provide


def _json(tree: Tree, subtrees: tuple[str, ...]) -> dict[str, Any]:
    with tree.select(list(subtrees)) as selected:
        data: dict[str, Any] = json.loads(selected.to_json("report-all"))
        return data


def _merge(into: dict[str, Any], data: dict[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        elif isinstance(value, list) and isinstance(into.get(key), list):
            into[key].extend(value)
        else:
            into[key] = value
