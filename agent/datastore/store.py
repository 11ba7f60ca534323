"""The configuration datastores (running, candidate, startup), their locks,
the commit path and confirmed commits.

The agent boots from startup, the only datastore kept on flash (:startup,
RFC 6241 8.7): running and candidate live in memory, so a change that cuts
the box off is undone by a reboot as well as by a confirmed-commit timeout.

A change of running is: validate the new tree as a whole, swap it in, tell
the listeners. A change of startup is: validate, write through
:class:`~agent.datastore.persist.StartupStore`, swap. If any step fails, the
datastore stays exactly as it was, in memory and on disk. Read-modify-write
sequences hold :attr:`Datastore.write_lock` so no update is lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple, Protocol

from ..netconf.errors import (
    InUse,
    InvalidValue,
    LockDenied,
    OperationFailed,
    ResourceDenied,
    RpcError,
    error_for_tag,
)
from ..yang import Schema, Tree, YangError
from .readcache import ReadCache

log = logging.getLogger(__name__)

RUNNING = "running"
CANDIDATE = "candidate"
STARTUP = "startup"
DATASTORES = (RUNNING, CANDIDATE, STARTUP)

DEFAULT_CONFIRM_TIMEOUT = 600
#: seconds: a datastore whose last validation took longer counts as large,
#: and its work (validation, printing) moves off the event loop
LARGE_VALIDATION = 0.02


class Persistence(Protocol):
    def save(self, tree: Tree) -> None: ...

    def holds(self, tree: Tree) -> bool:
        """Whether ``tree`` is what is stored already (a save would change nothing)."""
        ...


class ChangedBy(NamedTuple):
    """Who made a change (RFC 6470 changed-by); None session: the agent itself."""

    session_id: int | None = None
    username: str | None = None
    source_host: str | None = None


#: called after running or startup changed with (datastore, old, new, by);
#: the old tree is freed when all listeners have returned, so take what you need now
Listener = Callable[[str, Tree, Tree, ChangedBy], None]


def rpc_error_from(exc: YangError, schema: Schema) -> RpcError:
    issue = exc.issues[0]
    path = nsmap = None
    if issue.path:
        path, nsmap = schema.xml_path(issue.path)
    return error_for_tag(issue.tag, issue.message, path=path, path_namespaces=nsmap, app_tag=issue.app_tag)


class PendingConfirm:
    """A confirmed commit waiting for its confirmation (RFC 6241 8.4)."""

    def __init__(self, backup: Tree, session_id: int | None, persist: str | None) -> None:
        self.backup = backup  # running before the first confirmed commit
        self.session_id = session_id  # the issuing session, when not persist
        self.persist = persist
        self.timer: asyncio.TimerHandle | None = None


class Datastore:
    def __init__(
        self,
        schema: Schema,
        startup: Tree,
        persistence: Persistence | None = None,
        *,
        reply_first: bool = False,
        transaction_hook: Callable[[Tree, Tree], Awaitable[None]] | None = None,
        on_confirm_event: Callable[[str, ChangedBy | None, int | None], None] | None = None,
    ) -> None:
        self.schema = schema
        self.startup = startup
        self.running = startup.duplicate()
        #: the candidate's own tree while it holds edits not yet committed or
        #: discarded; None while it follows running (it is running then, and
        #: a change of running costs no copy)
        self._candidate: Tree | None = None
        #: running's version when the candidate's edits began
        self._candidate_base = 0
        self._persistence = persistence
        self._listeners: list[Listener] = []
        #: work given to after_reply() waits for the change's reply to be queued
        #: (the daemon's choice: the manager has the reply to its edit while
        #: the change's notification is built and logged); False: done at once
        self.reply_first = reply_first
        #: work that only follows a committed change, not done yet
        self._after: list[Callable[[], None]] = []
        self._settling = False
        #: datastore name -> id of the session holding its lock
        self.locks: dict[str, int] = {}
        #: datastore name -> when its lock was taken (time.time())
        self.lock_times: dict[str, float] = {}
        #: held around every read-modify-write of a datastore
        self.write_lock = asyncio.Lock()
        #: bumped on every change of running; lets readers cache what they print
        self.version = 0
        #: replies to reads printed from the datastores as they are now
        self.reads = ReadCache()
        #: set when a commit failed unexpectedly (see healthy())
        self.broken: str | None = None
        #: the last validation took long: do the work of this datastore off the event loop
        self.large = False
        self.large_change = False
        self.pending: PendingConfirm | None = None
        #: schedules the confirm-timeout (loop.call_later's signature): a test
        #: puts a clock of its own here rather than waiting real seconds
        self.call_later: Callable[..., asyncio.TimerHandle] = (
            lambda delay, callback, *args: asyncio.get_running_loop().call_later(delay, callback, *args))
        self._tasks: set[asyncio.Task[None]] = set()
        #: runs before running changes, may refuse by raising (the plugins' transaction)
        self.transaction_hook = transaction_hook
        #: told of confirmed-commit events (RFC 6470): (event, by, timeout)
        self.on_confirm_event = on_confirm_event

    def healthy(self) -> bool:
        """False once a change failed in a way the datastore cannot vouch for
        (not a refused edit: an internal error). The watchdog then lets the
        board reset rather than keep a wedged agent on the network."""
        return self.broken is None

    @property
    def candidate(self) -> Tree:
        """Borrowed, as :meth:`get`."""
        return self.running if self._candidate is None else self._candidate

    @property
    def candidate_dirty(self) -> bool:
        """The candidate holds edits not yet committed or discarded."""
        return self._candidate is not None

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def after_reply(self, work: Callable[[], None]) -> None:
        """Do ``work``, which only follows a committed change and which its
        reply does not depend on, once that reply is queued: in the next turn
        of the loop, or sooner, when :meth:`settle` is called (before the next
        RPC of any session is served and before any other event is published,
        so nothing sees the work undone and events keep their order)."""
        if not self.reply_first:
            work()
            return
        if not self._after:
            asyncio.get_running_loop().call_soon(self.settle)
        self._after.append(work)

    def settle(self) -> None:
        """Do the work after_reply() holds, in the order it was given. A failure
        is logged: the reply is out, and the session goes on."""
        if self._settling:
            return  # called from the work itself (it publishes an event): the order stays
        self._settling = True
        try:
            while self._after:
                work = self._after.pop(0)
                try:
                    work()
                except Exception:
                    log.exception("work after a configuration change failed")
        finally:
            self._settling = False

    def get(self, name: str) -> Tree:
        """A datastore's tree, borrowed: do not free it, do not keep it across awaits."""
        return {RUNNING: self.running, CANDIDATE: self.candidate, STARTUP: self.startup}[name]

    # -- locks (RFC 6241 7.5, 7.6) --

    def lock(self, name: str, session_id: int) -> None:
        holder = self.locks.get(name)
        if holder is not None:
            raise LockDenied(f"{name} is already locked by session {holder}", info={"session-id": str(holder)})
        if name == CANDIDATE and self.candidate_dirty:
            # RFC 6241 7.5: no lock on a candidate holding someone's uncommitted edits
            raise LockDenied("the candidate holds uncommitted changes; commit or discard them first", info={"session-id": "0"})
        if name == RUNNING and self.pending is not None and self.pending.session_id not in (None, session_id):
            raise LockDenied("a confirmed commit of another session is pending", info={"session-id": str(self.pending.session_id)})
        self.locks[name] = session_id
        self.lock_times[name] = time.time()

    def unlock(self, name: str, session_id: int) -> None:
        if self.locks.get(name) != session_id:
            raise OperationFailed(f"{name} is not locked by this session", type="protocol")
        del self.locks[name]

    def release_all(self, session_id: int) -> list[str]:
        released = [n for n, sid in self.locks.items() if sid == session_id]
        for n in released:
            del self.locks[n]
        if CANDIDATE in released and self.candidate_dirty:
            # RFC 6241 8.3.5.2: the lock holder's uncommitted changes go with it
            self.discard_candidate()
        return released

    def check_writable(self, name: str, session_id: int) -> None:
        holder = self.locks.get(name)
        if holder is not None and holder != session_id:
            raise InUse(f"{name} is locked by session {holder}", type="protocol", info={"session-id": str(holder)})

    # -- changes --

    def validate(self, tree: Tree, since: Tree | None = None) -> None:
        """``since``: the valid tree ``tree`` is an edited copy of (only what
        the edit can affect is validated again)."""
        if self.large:
            # validated whole: only that time tells when the datastore is no longer large
            since = None
        if since is not None:
            self.schema.prepare_partial_validation()  # once: not this validation's time
        started = time.monotonic()
        try:
            tree.validate(since)
        except YangError as exc:
            raise rpc_error_from(exc, self.schema) from None
        finally:
            took = time.monotonic() - started
            # a validation of part of the datastore does not tell that the whole is small
            if took > LARGE_VALIDATION or since is None:
                self.large = took > LARGE_VALIDATION

    async def replace(self, name: str, new: Tree, by: ChangedBy = ChangedBy(), *, offload: bool = False) -> None:
        """Make ``new`` the content of datastore ``name``; ``new`` is owned by
        the store afterwards, and freed on error (the datastore is then unchanged).

        The candidate is not validated here: it may hold an unfinished
        configuration until <commit> or <validate>."""
        try:
            if name == CANDIDATE:
                if self._candidate is None:
                    self._candidate_base = self.version
                else:
                    self._candidate.free()
                self._candidate = new
                self.reads.changed()
                return
            #: the change involved a large tree, before or after (listeners skip detail)
            self.large_change = offload or self.large
            # running is valid: an edited copy of it needs validating only where the edit reaches
            since = self.running if name == RUNNING else None
            if offload or self.large:
                # off the event loop: libyang releases the GIL, so a large
                # configuration validates while other sessions are served
                await asyncio.to_thread(self.validate, new, since)
            else:
                self.validate(new, since)  # a thread hop would cost more
            if name == RUNNING and self.transaction_hook is not None:
                await self.transaction_hook(self.running, new)
            if name == STARTUP and self._persistence is not None:
                try:
                    # off the event loop: flash can be slow, other sessions go on;
                    # a copy that changes nothing writes nothing (and so needs no space)
                    if not await asyncio.to_thread(self._persistence.holds, new):
                        await asyncio.to_thread(self._persistence.save, new)
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
            self.broken = f"change of {name} failed: {exc!r}"
            log.exception("change of %s failed unexpectedly", name)
            raise
        self.large_change = self.large_change or self.large
        if name == STARTUP:
            old, self.startup = self.startup, new
        else:
            old, self.running = self.running, new
            self.version += 1
        self.reads.changed()
        try:
            for listener in self._listeners:
                try:
                    listener(name, old, new, by)
                except Exception:
                    log.exception("configuration listener failed")
        finally:
            old.free()

    def discard_candidate(self) -> None:
        old, self._candidate = self._candidate, None
        if old is not None:
            self.reads.changed()
            old.free()

    # -- commit (RFC 6241 8.3, 8.4) --

    async def commit(
        self,
        session_id: int,
        by: ChangedBy,
        *,
        confirmed: bool = False,
        timeout: int = DEFAULT_CONFIRM_TIMEOUT,
        persist: str | None = None,
        persist_id: str | None = None,
    ) -> None:
        pending = self.pending
        if pending is not None:
            if pending.persist is not None:
                if persist_id != pending.persist:
                    raise InvalidValue("a persistent confirmed commit is pending: give its <persist-id>",
                                       type="protocol", info={"bad-element": "persist-id"})
            elif pending.session_id != session_id:
                raise InUse(f"a confirmed commit of session {pending.session_id} is pending",
                            type="protocol", info={"session-id": str(pending.session_id)})
        elif persist_id is not None:
            raise InvalidValue("no confirmed commit is pending for this <persist-id>", type="protocol",
                               info={"bad-element": "persist-id"})
        if self.candidate_dirty and self._candidate_base != self.version:
            # committing would silently undo what was written to running meanwhile
            raise OperationFailed(
                "running changed since the candidate was edited, and committing the candidate would silently "
                "undo that change: nothing was committed. <discard-changes> (the candidate then equals running) "
                "and edit again; lock running and candidate before editing to keep other writers out",
                type="protocol", app_tag="running-changed",
            )
        backup = None
        if confirmed and pending is None:
            backup = self.running.duplicate()
        new = self.candidate.duplicate()
        try:
            await self.replace(RUNNING, new, by)
        except BaseException:
            if backup is not None:
                backup.free()
            raise
        self.discard_candidate()  # it is running now
        if not confirmed:
            if pending is not None:
                self._end_pending()
                log.info("confirmed commit confirmed")
                self._confirm_event("complete", by)
            return
        if pending is None:
            assert backup is not None  # duplicated above for a first confirmed commit
            pending = self.pending = PendingConfirm(backup, None if persist else session_id, persist)
            self._confirm_event("start", by, timeout)
        else:
            pending.persist = persist  # a follow-up may set or change it
            pending.session_id = None if persist else session_id
            self._confirm_event("extend", by, timeout)
        if pending.timer is not None:
            pending.timer.cancel()
        pending.timer = self.call_later(timeout, self._spawn, "confirm-timeout expired", "timeout")
        log.info("confirmed commit: rolls back in %d s unless confirmed", timeout)

    async def cancel_commit(self, session_id: int, persist_id: str | None) -> None:
        pending = self.pending
        if pending is None:
            raise OperationFailed("no confirmed commit is pending", type="protocol")
        if pending.persist is not None:
            if persist_id != pending.persist:
                raise InvalidValue("give the pending commit's <persist-id>", type="protocol", info={"bad-element": "persist-id"})
        elif pending.session_id != session_id:
            raise InUse("the pending confirmed commit belongs to another session", type="protocol",
                        info={"session-id": str(pending.session_id)})
        await self.rollback("cancel-commit", event="cancel")

    async def rollback(self, reason: str, event: str = "cancel") -> None:
        """Restore running as it was before the pending confirmed commit."""
        pending = self.pending
        if pending is None:
            return
        async with self.write_lock:
            if self.pending is not pending:
                return
            self._end_pending(free_backup=False)
            log.warning("confirmed commit rolled back: %s", reason)
            await self.replace(RUNNING, pending.backup, ChangedBy())
            self.discard_candidate()
            self._confirm_event(event, None)

    def session_ended(self, session_id: int) -> None:
        """RFC 6241 8.4.1: a confirmed commit without persist dies with its session."""
        if self.pending is not None and self.pending.session_id == session_id:
            self._spawn(f"session {session_id} ended before confirming")

    def _spawn(self, reason: str, event: str = "cancel") -> None:
        task = asyncio.get_running_loop().create_task(self.rollback(reason, event))
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    def _confirm_event(self, event: str, by: ChangedBy | None, timeout: int | None = None) -> None:
        if self.on_confirm_event is not None:
            try:
                self.on_confirm_event(event, by, timeout)
            except Exception:
                log.exception("confirmed-commit listener failed")

    def _end_pending(self, free_backup: bool = True) -> None:
        pending, self.pending = self.pending, None
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        if free_backup:
            pending.backup.free()
