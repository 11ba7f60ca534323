"""Generates :mod:`agent.yang._libyang_abi_cffi`, the out-of-line ABI-mode
FFI of the libyang calls python-libyang does not declare (its compiled
``_libyang`` cannot be extended): declared once, here, so that the agent
does not import cffi's C parser (pycparser) at run time.

Pointers are passed as addresses (``uintptr_t``): this FFI's types are not
``_libyang``'s, and on the ABIs the agent runs on a pointer and an address
travel alike.

After changing CDEF: ``python -m agent.yang.libyang_build`` (a test checks
that the committed module is up to date).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MODULE = "agent.yang._libyang_abi_cffi"
TARGET = Path(__file__).with_name("_libyang_abi_cffi.py")

CDEF = """
int lyd_validate_module(uintptr_t tree, uintptr_t module, uint32_t val_opts, uintptr_t diff);
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
