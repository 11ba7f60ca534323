"""The libyang bindings, loaded once, and every difference between their two
generations: python-libyang 2.8 over libyang 2.1 (Debian 12) and
python-libyang 3.x over libyang 3 (Buildroot 2026.02, Debian 13). The rest of
the package reads libyang through ``ffi``/``lib`` from here and asks
:data:`LIBYANG3` nowhere else.

The ``_libyang`` cffi ``lib`` serves where the Python API falls short
(sibling lists, flags, structured errors).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

from _libyang import ffi, lib

from .issue import Issue, YangError

#: a cffi pointer or struct of libyang's (untyped: cffi gives no types)
CData = Any

__all__ = ["CData", "LIBYANG3", "ffi", "lib"]


def _s(c: CData) -> str | None:
    return str(ffi.string(c).decode()) if c != ffi.NULL else None


def _str(c: CData) -> str:
    """A string libyang always sets (names, namespaces)."""
    return str(ffi.string(c).decode())


def _array(cdata: CData) -> Iterator[CData]:
    """Items of a libyang sized array (its count sits just before it)."""
    if cdata == ffi.NULL:
        return
    for i in range(ffi.cast("uint64_t *", cdata)[-1]):
        yield cdata[i]


# -- binding generations -------------------------------------------------------
# libyang 3 reports where an error is in two fields of ly_err_item
# (data_path, schema_path); libyang 2 in one string, "Data location ..." or
# "Schema location ...". That field set tells the generations apart.
_ERR_FIELDS = {name for name, _ in ffi.typeof("struct ly_err_item").fields}
LIBYANG3 = "data_path" in _ERR_FIELDS


def configure_logging() -> None:
    """libyang keeps errors in the context only when asked, and only errors:
    stored warnings would come before them, without their location. libyang 2
    adds the location only when the log callback "wants paths"; libyang 3
    always does. Importing python-libyang's package sets these process-wide
    settings its own way (no paths): done again after any such import."""
    lib.ly_log_level(lib.LY_LLERR)
    lib.ly_log_options(lib.LY_LOSTORE)
    if LIBYANG3:
        lib.ly_set_log_clb(ffi.NULL)
    else:
        lib.ly_set_log_clb(ffi.NULL, True)


configure_logging()

_LOC = re.compile(r'^(Data|Schema) location "(.*)"(?:, line number \d+)?\.?$')


def _err_location(err: CData) -> tuple[str | None, str | None]:
    """(data path, schema path) of a stored libyang error; either may be None."""
    if LIBYANG3:
        return _s(err.data_path), (_s(err.schema_path) if err.data_path == ffi.NULL else None)
    m = _LOC.match(_s(err.path) or "")
    if not m:
        return None, None
    return (m.group(2), None) if m.group(1) == "Data" else (None, m.group(2))


def _new_context(search_dirs: list[str]) -> CData:
    """A libyang context that implements ietf-yang-library, freed with its
    last reference. python-libyang 3's Context leaves that module out unless
    it is given a yang-library file, so the context is made here, the same
    way for both generations (python-libyang's YANGPATH is not consulted)."""
    out = ffi.new("struct ly_ctx **")
    # compiled once, after the whole module set is loaded (Schema), rather
    # than again after each module that augments or deviates the others
    options = lib.LY_CTX_DISABLE_SEARCHDIR_CWD | lib.LY_CTX_SET_PRIV_PARSED | lib.LY_CTX_EXPLICIT_COMPILE
    # libyang refuses a search directory that does not exist (an image
    # without the optional ones, a root being provisioned)
    dirs = ":".join(d for d in search_dirs if os.path.isdir(d))
    if lib.ly_ctx_new(dirs.encode(), options, out) != lib.LY_SUCCESS:
        raise YangError([Issue("operation-failed", "cannot create a libyang context")])
    return ffi.gc(out[0], lib.ly_ctx_destroy)


#: top-level nodes libyang 3 adds to modules it loads, absent from their
#: YANG text (ietf-netconf:rpc-error, for parsing <rpc-reply> errors): not
#: the agent's data, so neither addressable in an edit nor given a SID
_LIBYANG_ADDED: set[tuple[str | None, str | None]] = {("ietf-netconf", "rpc-error")} if LIBYANG3 else set()


def _added_by_libyang(node: CData) -> bool:
    return (_s(node.module.name), _s(node.name)) in _LIBYANG_ADDED


def _union_member_type(ctx: CData, node: CData) -> CData:
    """The member type a union leaf's value matched (NULL if unknown).
    libyang 3 keeps it in the stored value; python-libyang 2 does not declare
    the stored union value, so libyang 2 validates the value again."""
    if LIBYANG3:
        sub = ffi.cast("struct lyd_node_term *", node).value.subvalue
        return sub.value.realtype if sub != ffi.NULL else ffi.NULL
    value = lib.lyd_get_value(node)
    realtype = ffi.new("const struct lysc_type **")
    ret = lib.lyd_value_validate(ctx, node.schema, value, len(ffi.string(value)), node, realtype, ffi.NULL)
    if ret not in (lib.LY_SUCCESS, lib.LY_EINCOMPLETE):
        lib.ly_err_clean(ctx, ffi.NULL)
        return ffi.NULL
    return realtype[0]
