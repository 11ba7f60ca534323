"""Generates :mod:`agent._malloc_cffi`, the out-of-line ABI-mode FFI of
:mod:`agent.memory`: glibc's two malloc calls declared once, here, so that
the agent does not import cffi's C parser (pycparser: 20-60 ms and its
tables in memory) at start-up only to read two lines.

After changing CDEF: ``python -m agent.memory_build`` (a test checks that the
committed module is up to date).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODULE = "agent._malloc_cffi"
TARGET = Path(__file__).with_name("_malloc_cffi.py")

CDEF = """
int malloc_trim(size_t pad);
int mallopt(int param, int value);
"""


def builder() -> Any:  # a cffi.FFI (cffi ships no types)
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    ffi.set_source(MODULE, None)
    return ffi


def generate(target: Path = TARGET) -> None:
    builder().emit_python_code(str(target))


if __name__ == "__main__":
    generate()
