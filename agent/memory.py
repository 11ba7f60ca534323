"""Giving freed memory back to the system.

The agent does large work (parsing, edits, validation) in worker threads,
and glibc gives every thread that allocates its own arena: memory freed
there stays with the arena, partly out of malloc_trim's reach. One arena for
the whole process (``M_ARENA_MAX`` 1, :func:`limit_arenas`) costs a little
lock contention between the loop and a worker, and brings the process back
to its resting size after the work: measured after a 100 000-entry edit and
its removal, 6 MB above rest instead of 20.

After a large message the agent's Python objects are freed, but glibc's
malloc keeps the freed pages in its arenas (the main heap only shrinks from
its top, thread arenas rarely) and the process stays at its peak: a
manager sending large messages again and again would ratchet a DPU's memory
up. ``malloc_trim(0)`` returns the free pages of every arena. It is glibc's
and nobody else's: the firmware may use another C library (musl's allocator
returns memory eagerly on its own), and Buildroot's Python may be built
without ctypes, so it is reached through cffi (which the agent has anyway:
libyang's bindings need it), and :func:`trim` does nothing where it is missing.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

# asyncio (and logging, which it imports) are not imported here: the command
# line imports this module before the start-up it runs without the
# collector (pause_gc), and they are most of that start-up's imports


#: the allocator the agent runs on (CPython's PYTHONMALLOC)
ALLOCATOR = "malloc"


def run_on_malloc() -> None:
    """Start the process again, same PID and arguments, on the C library's
    malloc instead of CPython's own small-object allocator (pymalloc), unless
    PYTHONMALLOC is set (the init script and the systemd unit set it, so
    only an agent started some other way pays for a second interpreter
    start; any value, "pymalloc" too, is left as it is).

    pymalloc carves objects out of 1 MiB arenas and returns an arena only
    when every object in it is gone: one object that outlives a large
    edit (its notification, an event-log entry) keeps a whole arena of the
    edit's freed temporaries resident, about 2 MB more after each further
    100 000-entry create and remove. malloc gives freed memory back page by
    page (:func:`trim`). Measured (docs/performance.md): the hostile set
    back within 1 MB of rest instead of 1.5-8.5 MB above it, for about
    0.1 MB more at rest, 10 % more CPU to start and 15-25 % more on a
    large message; small RPCs' rates the same within noise."""
    if os.environ.get("PYTHONMALLOC") or not sys.executable or not sys.orig_argv:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, sys.orig_argv, dict(os.environ, PYTHONMALLOC=ALLOCATOR))


#: whether :func:`pause_gc` stopped the collector (and :func:`resume_gc` has not started it again)
_gc_paused = False


def pause_gc() -> None:
    """No cyclic garbage collection while the agent starts: the imports and
    the start-up build tens of thousands of objects that live on, and the
    collector would walk them again and again (a few dozen young-generation
    collections before the first call home) to find nearly nothing.
    :func:`resume_gc` starts it again once the agent has started, whether
    or not a manager answers."""
    global _gc_paused
    if gc.isenabled():
        gc.disable()
        _gc_paused = True


def resume_gc() -> None:
    """Undo :func:`pause_gc` (nothing if it did not stop the collector).
    What start-up built goes straight to the oldest generation, which only
    full collections walk (freeze, then unfreeze into it): left in the young
    one, all of it would be walked by the next young collection, before the
    first call home. Nothing is kept from collection: full collections
    (:func:`release`'s too) see it."""
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.freeze()
        gc.unfreeze()
        gc.enable()


#: glibc's mallopt parameter (malloc.h)
_M_ARENA_MAX = -8


def _glibc(name: str) -> Any:
    """A function of glibc's malloc, or None where the C library has no such thing."""
    try:
        from agent._malloc_cffi import ffi  # declarations parsed ahead: agent/memory_build.py
    except ImportError:  # no cffi backend
        return None
    try:
        libc = ffi.dlopen(None)  # the C library the process runs on
        return getattr(libc, name)
    except (OSError, AttributeError):  # no such library or symbol: not glibc
        return None


_malloc_trim = _glibc("malloc_trim")
_mallopt = _glibc("mallopt")


def limit_arenas() -> None:
    """One malloc arena for every thread (call before threads allocate)."""
    if _mallopt is not None and _malloc_trim is not None:  # both: it is glibc
        _mallopt(_M_ARENA_MAX, 1)


def can_trim() -> bool:
    return _malloc_trim is not None


def trim() -> None:
    """Return the allocator's free memory to the system, where the C library can."""
    if _malloc_trim is not None:
        _malloc_trim(0)


#: a trim walks every arena: only after work that moved this many bytes
TRIM_AFTER = 256 * 1024


def settle(nbytes: int) -> None:
    """Call when a piece of work that read or wrote ``nbytes`` of messages is
    done and its memory freed: trims after large work. (Counted per piece of
    work: a global count would let a small request that ends while a large
    one runs take the trim the large one needs when it ends.)"""
    if nbytes >= TRIM_AFTER:
        release()
        _release_again()


#: seconds after large work before the second release (:func:`settle`)
RELEASE_AGAIN_AFTER = 0.1
_again: asyncio.TimerHandle | None = None


def _release_again() -> None:
    """Release once more a moment later: the worker thread that did the work
    drops its last references to it (the executor's work item, with the
    message and what was made of it) only when it next gets the GIL, after
    the event loop has moved on. On pymalloc that frees whole arenas at once;
    on malloc the freed pages stay until the next trim."""
    global _again
    if _again is not None:
        return
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not in the agent's loop: nothing to wait for
        return

    def again() -> None:
        global _again
        _again = None
        release()

    _again = loop.call_later(RELEASE_AGAIN_AFTER, again)


def release() -> None:
    """Give back everything freed: after large work, and when a call-home
    connection has ended (its SSH/TLS state, buffers and session objects
    freed in between the allocations that live on). Without it the
    allocator keeps those holes resident: the soak's anonymous memory rose
    ~20 kB per 1000 operations while live memory (Python objects, malloc's
    blocks in use) stayed flat."""
    # A full collection also empties the interpreter's free lists
    # (tuples, dicts, ...), whose scattered blocks would keep whole
    # 1 MiB arenas of Python's allocator from going back.
    gc.collect()
    trim()
