"""Giving freed memory back to the system.

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

import logging

log = logging.getLogger(__name__)


def _find_malloc_trim():
    try:
        import cffi
    except ImportError:
        return None
    ffi = cffi.FFI()
    ffi.cdef("int malloc_trim(size_t pad);")
    try:
        libc = ffi.dlopen(None)  # the C library the process runs on
        return libc.malloc_trim
    except (OSError, AttributeError):  # no such library or symbol: not glibc
        return None


_malloc_trim = _find_malloc_trim()


def can_trim() -> bool:
    return _malloc_trim is not None


def trim() -> None:
    """Return the allocator's free memory to the system, where the C library can."""
    if _malloc_trim is not None:
        _malloc_trim(0)


#: bytes of messages in and out since the last trim; a trim walks every
#: arena, so it waits until this much went through
TRIM_AFTER = 1 << 20
_traffic = 0


def note(nbytes: int) -> None:
    """Count message bytes that made the agent allocate."""
    global _traffic
    _traffic += nbytes


def settle() -> None:
    """Call when a piece of work is done and its memory freed: trims once
    enough traffic went through since the last time."""
    global _traffic
    if _traffic >= TRIM_AFTER:
        _traffic = 0
        trim()
