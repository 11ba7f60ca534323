"""CBOR diagnostic notation (RFC 8949 section 8) of a YANG-CBOR item, with
the name of every SID in a comment: what `dpu-agent show config --format
cbor-diag` prints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import cbor2

from ..yang import LeafType
from .sids import SidMap
from .yangcbor import TAG_IDENTITYREF, TAG_SID

INDENT = "  "


def diagnostic(item: Any, sids: SidMap) -> str:
    return "".join(_value(item, sids, 0, 0, None))


def _value(item: Any, sids: SidMap, depth: int, reference: int, sid: int | None) -> Iterator[str]:
    """Yield the notation of ``item``; ``sid`` is the SID of the member it is the
    value of (None under a name key), ``reference`` the SID its map keys are relative to."""
    pad = INDENT * depth
    if isinstance(item, dict):
        if not item:
            yield "{}"
            return
        yield "{\n"
        for i, (key, value) in enumerate(item.items()):
            key_text, child = _key(key, sids, reference)
            yield f"{pad}{INDENT}{key_text}: "
            yield from _value(value, sids, depth + 1, child or 0, child)
            yield ",\n" if i < len(item) - 1 else "\n"
        yield pad + "}"
    elif isinstance(item, list):
        if not any(isinstance(v, (dict, list)) for v in item):
            yield "[" + ", ".join("".join(_value(v, sids, 0, reference, sid)) for v in item) + "]"
            return
        yield "[\n"
        for i, value in enumerate(item):
            yield pad + INDENT
            yield from _value(value, sids, depth + 1, reference, sid)
            yield ",\n" if i < len(item) - 1 else "\n"
        yield pad + "]"
    else:
        yield _scalar(item, sids, sid)


def _key(key: Any, sids: SidMap, reference: int) -> tuple[str, int | None]:
    if isinstance(key, cbor2.CBORTag) and key.tag == TAG_SID:
        return f"{TAG_SID}({key.value}) / {_name(sids, key.value)} /", key.value
    if isinstance(key, int):
        return f"{key} / {_name(sids, reference + key)} /", reference + key
    return json.dumps(key, ensure_ascii=False), None


def _name(sids: SidMap, sid: int) -> str:
    identifier = sids.names.get(sid)
    if identifier is None:
        return f"SID {sid}: unknown"
    return identifier.rsplit("/", 1)[-1] if identifier.count("/") > 1 else identifier.lstrip("/")


def _scalar(item: Any, sids: SidMap, sid: int | None) -> str:
    if isinstance(item, cbor2.CBORTag):
        inner = _scalar(item.value, sids, sid if item.tag == TAG_IDENTITYREF else None)
        return f"{item.tag}({inner})"
    if item is None:
        return "null"
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        node = sids.node(sid) if sid is not None else None
        if node is not None and "identityref" in _bases(node.leaf_type) and item in sids.identity_of:
            return f"{item} / {sids.identity_of[item]} /"
        return str(item)
    if isinstance(item, bytes):
        return f"h'{item.hex()}'"
    if isinstance(item, str):
        return json.dumps(item, ensure_ascii=False)
    return repr(item)


def _bases(lt: LeafType) -> set[str]:
    if lt.base == "union":
        return {b for m in lt.members for b in _bases(m)}
    return {lt.base}
