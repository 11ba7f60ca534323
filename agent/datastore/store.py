"""The configuration datastores in memory, their locks, and the commit path.

A commit is: validate the new tree as a whole, write it to flash through
:class:`~agent.datastore.persist.ConfigFile`, then swap it in and tell the
listeners. If any step fails, running stays exactly as it was, in memory
and on disk.
"""

from __future__ import annotations

import logging
from typing import Callable, Protocol

from ..netconf.errors import InUse, LockDenied, OperationFailed, ResourceDenied, RpcError, error_for_tag
from ..yang import Schema, Tree, YangError

log = logging.getLogger(__name__)

RUNNING = "running"


class Persistence(Protocol):
    def save(self, tree: Tree) -> None: ...


#: called after a commit with (old running, new running); the old tree is
#: freed when all listeners have returned, so take what you need now
Listener = Callable[[Tree, Tree], None]


def rpc_error_from(exc: YangError, schema: Schema) -> RpcError:
    issue = exc.issues[0]
    path = nsmap = None
    if issue.path:
        path, nsmap = schema.xml_path(issue.path)
    return error_for_tag(issue.tag, issue.message, path=path, path_namespaces=nsmap, app_tag=issue.app_tag)


class Datastore:
    def __init__(self, schema: Schema, running: Tree, persistence: Persistence | None = None) -> None:
        self.schema = schema
        self.running = running
        self._persistence = persistence
        self._listeners: list[Listener] = []
        #: datastore name -> id of the session holding its lock
        self.locks: dict[str, int] = {}
        #: bumped on every commit; lets readers cache what they print
        self.version = 0
        #: set when a commit failed unexpectedly (see healthy())
        self.broken: str | None = None

    def healthy(self) -> bool:
        """False once a commit failed in a way the datastore cannot vouch for
        (not a refused edit: an internal error). The watchdog then lets the
        board reset rather than keep a wedged agent on the network."""
        return self.broken is None

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # -- locks (RFC 6241 7.5, 7.6) --

    def lock(self, name: str, session_id: int) -> None:
        holder = self.locks.get(name)
        if holder is not None:
            raise LockDenied(
                f"{name} is already locked by session {holder}", info={"session-id": str(holder)}
            )
        self.locks[name] = session_id

    def unlock(self, name: str, session_id: int) -> None:
        if self.locks.get(name) != session_id:
            raise OperationFailed(f"{name} is not locked by this session", type="protocol")
        del self.locks[name]

    def release_all(self, session_id: int) -> list[str]:
        released = [n for n, sid in self.locks.items() if sid == session_id]
        for n in released:
            del self.locks[n]
        return released

    def check_writable(self, name: str, session_id: int) -> None:
        holder = self.locks.get(name)
        if holder is not None and holder != session_id:
            raise InUse(f"{name} is locked by session {holder}", type="protocol", info={"session-id": str(holder)})

    # -- commit --

    def validate(self, tree: Tree) -> None:
        try:
            tree.validate()
        except YangError as exc:
            raise rpc_error_from(exc, self.schema) from None

    def commit(self, new: Tree) -> None:
        """Make ``new`` the running configuration; it is owned by the store afterwards.

        On error ``new`` is freed and running is unchanged."""
        try:
            self.validate(new)
            if self._persistence is not None:
                try:
                    self._persistence.save(new)
                except OSError as exc:
                    log.error("cannot store the configuration: %s", exc)
                    raise ResourceDenied(
                        f"the configuration could not be stored ({exc.strerror or exc}); nothing was changed"
                    ) from None
        except RpcError:
            new.free()
            raise
        except Exception as exc:
            new.free()
            self.broken = f"commit failed: {exc!r}"
            log.exception("commit failed unexpectedly")
            raise
        old, self.running = self.running, new
        self.version += 1
        try:
            for listener in self._listeners:
                try:
                    listener(old, new)
                except Exception:
                    log.exception("configuration listener failed")
        finally:
            old.free()
