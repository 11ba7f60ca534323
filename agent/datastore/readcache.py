"""Replies to reads that repeat: a manager polling <get-config> of a datastore
that has not changed gets the XML printed for the previous identical request
instead of a copy, NACM pruning, filtering and printing all over again.

An entry stands for (datastore, user, with-defaults mode, filter) at one
generation of the datastores and under one NACM policy object; any change of
any datastore empties the cache (:meth:`ReadCache.changed`), and a policy is
replaced, never changed in place, when NACM re-reads it. Only small replies
are kept: a large configuration is printed afresh, so the cache never holds
more than ``MAX_ENTRIES`` × ``MAX_CHARS``.
"""

from __future__ import annotations

from collections.abc import Hashable

#: distinct reads remembered (users × filters × modes a few managers poll with)
MAX_ENTRIES = 8
#: replies longer than this are not kept
MAX_CHARS = 32 * 1024


class ReadCache:
    def __init__(self) -> None:
        #: bumped by every change of a datastore
        self.generation = 0
        self._entries: dict[Hashable, tuple[object, str]] = {}

    def changed(self) -> None:
        self.generation += 1
        self._entries.clear()

    def get(self, key: Hashable, policy: object) -> str | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] is not policy:
            return None
        return entry[1]

    def put(self, key: Hashable, policy: object, generation: int, text: str) -> None:
        """Remember ``text``, printed from the datastores as they were at
        ``generation`` (taken before the read began: a change meanwhile,
        while the print ran in a worker thread, makes it stale)."""
        if generation != self.generation or len(text) > MAX_CHARS:
            return
        if key not in self._entries and len(self._entries) >= MAX_ENTRIES:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (policy, text)
