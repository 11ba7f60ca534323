"""YANG data <-> CBOR per RFC 9254, name-keyed (``application/yang-data+cbor; id=name``).

Member names follow the JSON encoding (RFC 7951): ``module:name`` at the top
and where the module changes, ``name`` elsewhere. Values take the CBOR types
of RFC 9254 section 6 (integers native, decimal64 as tag 4, enumerations as
their integer, bits and binary as byte strings, empty as null, and inside a
union tags 43/44/45/46 where the type would otherwise be ambiguous).

Decoding produces RFC 7951 JSON which libyang parses and validates, so a
stored file can never inject data the schema would refuse.
"""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import cbor2

from ..yang import Kind, LeafType, Schema, SchemaNode, Tree

TAG_DECIMAL = 4
TAG_BITS = 43
TAG_ENUM = 44
TAG_IDENTITYREF = 45
TAG_INSTANCE_ID = 46

_INTS = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
_JSON_STRING_INTS = {"int64", "uint64"}  # RFC 7951 6.1


class CodecError(Exception):
    pass


# -- encode ------------------------------------------------------------------


def encode_tree(tree: Tree) -> dict:
    """The explicit (non-default) nodes of ``tree`` as a YANG-CBOR item."""
    return _encode_siblings(tree, None, None)


def _encode_siblings(tree: Tree, parent, parent_module: str | None) -> dict:
    out: dict[str, Any] = {}
    for node in tree.children(parent):
        if tree.is_default(node):
            continue
        sn = tree.schema_of(node)
        key = sn.name if sn.module == parent_module else f"{sn.module}:{sn.name}"
        if sn.kind == Kind.CONTAINER:
            out[key] = _encode_siblings(tree, node, sn.module)
        elif sn.kind == Kind.LIST:
            out.setdefault(key, []).append(_encode_siblings(tree, node, sn.module))
        elif sn.kind == Kind.LEAFLIST:
            out.setdefault(key, []).append(_encode_value(tree, node, sn))
        elif sn.kind == Kind.LEAF:
            out[key] = _encode_value(tree, node, sn)
    return out


def _encode_value(tree: Tree, node, sn: SchemaNode) -> Any:
    text = tree.value_of(node) or ""
    declared = sn.leaf_type
    vt = tree.value_type(node) if declared.base == "union" else declared
    return encode_scalar(vt, text, in_union=declared.base == "union")


def encode_scalar(vt: LeafType, text: str, in_union: bool = False) -> Any:
    base = vt.base
    if base in _INTS:
        return int(text)
    if base == "decimal64":
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
        return vt.enums[text]
    if base == "bits":
        positions = [vt.bits[b] for b in text.split()]
        raw = bytearray((max(positions) // 8 + 1) if positions else 0)
        for p in positions:
            raw[p // 8] |= 1 << (p % 8)
        return cbor2.CBORTag(TAG_BITS, bytes(raw)) if in_union else bytes(raw)
    if base == "binary":
        return base64.b64decode(text)
    if base == "identityref":
        return cbor2.CBORTag(TAG_IDENTITYREF, text) if in_union else text
    if base == "instance-identifier":
        return cbor2.CBORTag(TAG_INSTANCE_ID, text) if in_union else text
    return text


# -- decode ------------------------------------------------------------------


def decode_to_json(schema: Schema, item: Any) -> dict:
    """A YANG-CBOR item (name-keyed) as RFC 7951 JSON, ready for libyang."""
    if not isinstance(item, dict):
        raise CodecError("top level of YANG-CBOR data must be a map")
    return _decode_siblings(schema, None, None, item)


def _decode_siblings(schema: Schema, parent: SchemaNode | None, parent_module: str | None, item: dict) -> dict:
    out: dict[str, Any] = {}
    for key, value in item.items():
        if not isinstance(key, str):
            raise CodecError(f"member name {key!r} is not text")
        module, _, name = key.rpartition(":")
        module = module or parent_module
        if module is None:
            raise CodecError(f"top-level member {key!r} lacks its module name")
        sn = schema.node_by_module(parent, module, name)
        if sn is None:
            raise CodecError(f"{key!r} is not in the schema")
        jkey = name if module == parent_module else f"{module}:{name}"
        if sn.kind == Kind.CONTAINER:
            out[jkey] = _decode_siblings(schema, sn, module, _expect(value, dict, key))
        elif sn.kind == Kind.LIST:
            out[jkey] = [_decode_siblings(schema, sn, module, _expect(v, dict, key)) for v in _expect(value, list, key)]
        elif sn.kind == Kind.LEAFLIST:
            out[jkey] = [decode_scalar(sn.leaf_type, v) for v in _expect(value, list, key)]
        elif sn.kind == Kind.LEAF:
            out[jkey] = decode_scalar(sn.leaf_type, value)
        else:
            raise CodecError(f"{key!r} cannot be stored")
    return out


def _expect(value: Any, kind: type, key: str) -> Any:
    if not isinstance(value, kind):
        raise CodecError(f"{key!r}: expected a {kind.__name__}")
    return value


def decode_scalar(lt: LeafType, value: Any) -> Any:
    """One CBOR leaf value as its RFC 7951 JSON value."""
    if lt.base == "union":
        return _decode_union(lt, value)
    base = lt.base
    if base in _INTS:
        if not isinstance(value, int) or isinstance(value, bool):
            raise CodecError(f"expected an integer, got {value!r}")
        return str(value) if base in _JSON_STRING_INTS else value
    if base == "decimal64":
        if not isinstance(value, cbor2.CBORTag) or value.tag != TAG_DECIMAL:
            raise CodecError("decimal64 must be tag 4")
        exponent, mantissa = value.value
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
        names = [name for name, pos in sorted((lt.bits or {}).items(), key=lambda kv: kv[1])
                 if pos // 8 < len(value) and value[pos // 8] >> (pos % 8) & 1]
        return " ".join(names)
    if base == "binary":
        return base64.b64encode(value).decode()
    if isinstance(value, cbor2.CBORTag):
        value = value.value
    return value


def _decode_union(lt: LeafType, value: Any) -> Any:
    if isinstance(value, cbor2.CBORTag):
        wanted = {TAG_ENUM: "enumeration", TAG_BITS: "bits", TAG_IDENTITYREF: "identityref",
                  TAG_INSTANCE_ID: "instance-identifier", TAG_DECIMAL: "decimal64"}.get(value.tag)
        for member in _flatten(lt):
            if member.base == wanted:
                return decode_scalar(member, value)
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


def _flatten(lt: LeafType):
    for m in lt.members:
        if m.base == "union":
            yield from _flatten(m)
        else:
            yield m


def to_tree(schema: Schema, item: Any) -> Tree:
    """Decode a YANG-CBOR item into a validated configuration tree."""
    return schema.parse(json.dumps(decode_to_json(schema, item)), "json")
