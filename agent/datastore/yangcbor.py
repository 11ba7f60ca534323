"""YANG data <-> CBOR per RFC 9254, keyed by SID (``id=sid``) or by name (``id=name``).

With a :class:`~agent.datastore.sids.SidMap`, a member whose schema node has a
SID is keyed by the delta from its parent's SID (RFC 9254 section 3.2; the
outermost reference is 0, and so is the reference under a name-keyed
member), and identityref values are their identity's SID. Anything without a
SID keeps its name, as without a SidMap: names follow the JSON encoding
(RFC 7951), ``module:name`` at the top and where the module changes, ``name``
elsewhere. Values take the CBOR types of RFC 9254 section 6 (integers
native, decimal64 as tag 4, enumerations as their integer, bits and binary as
byte strings, empty as null, and inside a union tags 43/44/45/46 where the
type would otherwise be ambiguous).

Decoding produces RFC 7951 JSON which libyang parses and validates, so a
stored file can never inject data the schema would refuse.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import cbor2

from ..yang import Kind, LeafType, Schema, SchemaNode, Tree
from .sids import SidMap

TAG_DECIMAL = 4
TAG_BITS = 43
TAG_ENUM = 44
TAG_IDENTITYREF = 45
TAG_INSTANCE_ID = 46
TAG_SID = 47  # an absolute SID where a delta would be expected

_INTS = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
_JSON_STRING_INTS = {"int64", "uint64"}  # RFC 7951 6.1


class CodecError(Exception):
    pass


# -- encode ------------------------------------------------------------------


def encode_tree(tree: Tree, sids: SidMap | None = None) -> dict[int | str, Any]:
    """The explicit (non-default) nodes of ``tree`` as a YANG-CBOR item,
    SID-keyed where ``sids`` has a SID, name-keyed elsewhere."""
    return _encode_siblings(tree, None, None, 0, sids)


def _encode_siblings(tree: Tree, parent: Any, parent_module: str | None, reference: int, sids: SidMap | None) -> dict[int | str, Any]:
    out: dict[int | str, Any] = {}
    for node in tree.children(parent):
        if tree.is_default(node):
            continue
        sn = tree.schema_of(node)
        sid = sids.sid(sn) if sids is not None else None
        if sid is not None:
            key: int | str = sid - reference
        else:
            key = _name(sn) if sn.module == parent_module else f"{sn.module}:{sn.name}"
            sid = 0
        if sn.kind == Kind.CONTAINER:
            out[key] = _encode_siblings(tree, node, sn.module, sid, sids)
        elif sn.kind == Kind.LIST:
            out.setdefault(key, []).append(_encode_siblings(tree, node, sn.module, sid, sids))
        elif sn.kind == Kind.LEAFLIST:
            out.setdefault(key, []).append(_encode_value(tree, node, sn, sids))
        elif sn.kind == Kind.LEAF:
            out[key] = _encode_value(tree, node, sn, sids)
    return out


def _encode_value(tree: Tree, node: Any, sn: SchemaNode, sids: SidMap | None) -> Any:
    text = tree.value_of(node) or ""
    declared = sn.leaf_type
    vt = tree.value_type(node) if declared.base == "union" else declared
    return encode_scalar(vt, text, in_union=declared.base == "union", sids=sids)


def encode_scalar(vt: LeafType, text: str, in_union: bool = False, sids: SidMap | None = None) -> Any:
    base = vt.base
    if base in _INTS:
        return int(text)
    if base == "decimal64":
        from decimal import Decimal  # few modules have decimal64 leaves: not imported at every start

        digits = vt.fraction_digits
        scaled = int((Decimal(text) * (10**digits)).to_integral_value())
        return cbor2.CBORTag(TAG_DECIMAL, [-digits, scaled])
    if base == "boolean":
        return text == "true"
    if base == "empty":
        return None
    if base == "enumeration":
        if in_union:
            return cbor2.CBORTag(TAG_ENUM, text)
        assert vt.enums is not None  # an enumeration has its enums
        return vt.enums[text]
    if base == "bits":
        if in_union:  # RFC 9254 6.7: the names, space-separated
            return cbor2.CBORTag(TAG_BITS, text)
        assert vt.bits is not None  # a bits type has its bits
        positions = [vt.bits[b] for b in text.split()]
        raw = bytearray((max(positions) // 8 + 1) if positions else 0)
        for p in positions:
            raw[p // 8] |= 1 << (p % 8)
        return bytes(raw)
    if base == "binary":
        return base64.b64decode(text)
    if base == "identityref":
        ident = sids.identity_sid.get(text, text) if sids is not None else text
        return cbor2.CBORTag(TAG_IDENTITYREF, ident) if in_union else ident
    if base == "instance-identifier":
        return cbor2.CBORTag(TAG_INSTANCE_ID, text) if in_union else text
    return text


# -- decode ------------------------------------------------------------------


def decode_to_json(schema: Schema, item: Any, sids: SidMap | None = None) -> dict[str, Any]:
    """A YANG-CBOR item as RFC 7951 JSON, ready for libyang. SID keys and
    SID identities need ``sids``; names are understood either way."""
    if not isinstance(item, dict):
        raise CodecError("top level of YANG-CBOR data must be a map")
    return _decode_siblings(schema, sids, None, 0, item)


def _decode_siblings(schema: Schema, sids: SidMap | None, parent: SchemaNode | None, reference: int,
                     item: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    parent_module = parent.module if parent is not None else None
    for key, value in item.items():
        sn, sid = _member(schema, sids, parent, reference, key)
        where = f"{sn.module}:{sn.name}"
        jkey = _name(sn) if sn.module == parent_module else where
        if jkey in out:
            raise CodecError(f"{where} appears twice")
        if sn.kind == Kind.CONTAINER:
            out[jkey] = _decode_siblings(schema, sids, sn, sid, _expect(value, dict, where))
        elif sn.kind == Kind.LIST:
            out[jkey] = [_decode_siblings(schema, sids, sn, sid, _expect(v, dict, where)) for v in _expect(value, list, where)]
        elif sn.kind == Kind.LEAFLIST:
            out[jkey] = [decode_scalar(sn.leaf_type, v, sids) for v in _expect(value, list, where)]
        elif sn.kind == Kind.LEAF:
            out[jkey] = decode_scalar(sn.leaf_type, value, sids)
        else:
            raise CodecError(f"{where} cannot be stored")
    return out


def _member(schema: Schema, sids: SidMap | None, parent: SchemaNode | None, reference: int, key: Any) -> tuple[SchemaNode, int]:
    """The schema node a map key names, and the reference SID for its children."""
    if isinstance(key, str):
        module: str | None
        module, _, name = key.rpartition(":")
        module = module or (parent.module if parent is not None else None)
        if module is None:
            raise CodecError(f"top-level member {key!r} lacks its module name")
        sn = schema.node_by_module(parent, module, name)
        if sn is None:
            raise CodecError(f"{key!r} is not in the schema")
        return sn, 0
    if isinstance(key, cbor2.CBORTag) and key.tag == TAG_SID and isinstance(key.value, int):
        sid = key.value
    elif isinstance(key, int) and not isinstance(key, bool):
        sid = reference + key
    else:
        raise CodecError(f"member key {key!r} is neither a SID nor a name")
    if sids is None:
        raise CodecError(f"SID {sid} in name-keyed data")
    sn = sids.node(sid)
    if sn is None:
        raise CodecError(f"SID {sid} is not a data node this agent knows")
    if sn.parent_key != (parent.key if parent is not None else None):
        raise CodecError(f"SID {sid} ({sids.names[sid]}) does not belong under {_describe(parent)}")
    return sn, sid


def _name(node: SchemaNode) -> str:
    return node.name


def _describe(node: SchemaNode | None) -> str:
    return f"{node.module}:{node.name}" if node is not None else "the top level"


def _expect(value: Any, kind: type, key: str) -> Any:
    if not isinstance(value, kind):
        raise CodecError(f"{key}: expected a {kind.__name__}")
    return value


def decode_scalar(lt: LeafType, value: Any, sids: SidMap | None = None) -> Any:
    """One CBOR leaf value as its RFC 7951 JSON value."""
    if lt.base == "union":
        return _decode_union(lt, value, sids)
    base = lt.base
    if base in _INTS:
        if not isinstance(value, int) or isinstance(value, bool):
            raise CodecError(f"expected an integer, got {value!r}")
        return str(value) if base in _JSON_STRING_INTS else value
    if base == "decimal64":
        if not isinstance(value, cbor2.CBORTag) or value.tag != TAG_DECIMAL:
            raise CodecError("decimal64 must be tag 4")
        exponent, mantissa = value.value
        from decimal import Decimal

        return f"{Decimal(mantissa).scaleb(exponent):.{lt.fraction_digits}f}"
    if base == "boolean":
        return bool(value)
    if base == "empty":
        return [None]
    if base == "enumeration":
        if isinstance(value, cbor2.CBORTag):
            value = value.value
        if isinstance(value, str):
            return value
        for name, v in (lt.enums or {}).items():
            if v == value:
                return name
        raise CodecError(f"enum value {value!r} is not defined")
    if base == "bits":
        if isinstance(value, cbor2.CBORTag):
            value = value.value
        if isinstance(value, str):
            return value
        names = [name for name, pos in sorted((lt.bits or {}).items(), key=lambda kv: kv[1])
                 if pos // 8 < len(value) and value[pos // 8] >> (pos % 8) & 1]
        return " ".join(names)
    if base == "binary":
        return base64.b64encode(value).decode()
    if isinstance(value, cbor2.CBORTag):
        value = value.value
    if base == "identityref" and isinstance(value, int) and not isinstance(value, bool):
        identity = sids.identity_of.get(value) if sids is not None else None
        if identity is None:
            raise CodecError(f"identity SID {value} is unknown to this agent")
        return identity
    return value


def _decode_union(lt: LeafType, value: Any, sids: SidMap | None) -> Any:
    if isinstance(value, cbor2.CBORTag):
        wanted = {TAG_ENUM: "enumeration", TAG_BITS: "bits", TAG_IDENTITYREF: "identityref",
                  TAG_INSTANCE_ID: "instance-identifier", TAG_DECIMAL: "decimal64"}.get(value.tag)
        for member in _flatten(lt):
            if member.base == wanted:
                return decode_scalar(member, value, sids)
        raise CodecError(f"union has no member for tag {value.tag}")
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value) if not -(2**31) <= value < 2**31 else value
    if value is None:
        return [None]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _flatten(lt: LeafType) -> Iterator[LeafType]:
    for m in lt.members:
        if m.base == "union":
            yield from _flatten(m)
        else:
            yield m


def to_tree(schema: Schema, item: Any, sids: SidMap | None = None) -> Tree:
    """Decode a YANG-CBOR item into a validated configuration tree."""
    return schema.parse(json.dumps(decode_to_json(schema, item, sids)), "json")
