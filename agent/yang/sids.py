"""The walk of a compiled schema that names every data node as RFC 9595
schema-node identifiers do (the keys of a ``.sid`` file)."""

from __future__ import annotations

from collections.abc import Iterator

from .bindings import CData, _added_by_libyang, _s, ffi, lib
from .nodes import _KINDS, SchemaNode

_SID_WALK = lib.LYS_GETNEXT_WITHCHOICE | lib.LYS_GETNEXT_WITHCASE


def _sid_identifiers(parent: CData, compiled: CData, path: str, data_parent_module: str | None) -> Iterator[tuple[SchemaNode, str]]:
    last = ffi.NULL
    while True:
        node = lib.lys_getnext(last, parent, compiled, _SID_WALK)
        if node == ffi.NULL:
            return
        last = node
        choice_or_case = node.nodetype in (lib.LYS_CHOICE, lib.LYS_CASE)
        if node.nodetype not in _KINDS and not choice_or_case:
            continue  # rpc, action, notification: never stored
        if parent == ffi.NULL and _added_by_libyang(node):
            continue
        module = _s(node.module.name)
        # pyang's rule: a case names its choice's module, a node in a case
        # that case's module, anything else its nearest data ancestor's
        same = module == data_parent_module or (
            parent != ffi.NULL
            and _s(parent.module.name) == module
            and (node.nodetype == lib.LYS_CASE or parent.nodetype == lib.LYS_CASE)
        )
        step = f"{path}/{_s(node.name) if same else f'{module}:{_s(node.name)}'}"
        if choice_or_case:
            yield from _sid_identifiers(node, ffi.NULL, step, data_parent_module)
            continue
        yield SchemaNode(node), step
        if node.nodetype in (lib.LYS_CONTAINER, lib.LYS_LIST):
            yield from _sid_identifiers(node, ffi.NULL, step, module)
