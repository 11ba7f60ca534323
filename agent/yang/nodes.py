"""Schema introspection: what a data node may be (:class:`SchemaNode`), its
kind and the type of its value (:class:`LeafType`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from .bindings import CData, _array, _s, _str, ffi, lib

NACM_NS_MODULE = "ietf-netconf-acm"
#: ietf-crypto-types leaves that carry secrets in clear
SECRET_LEAVES = {"cleartext-private-key", "cleartext-symmetric-key", "cleartext-password"}


class Kind:
    CONTAINER = "container"
    LIST = "list"
    LEAF = "leaf"
    LEAFLIST = "leaf-list"
    ANY = "anydata"
    OTHER = "other"


_KINDS = {
    lib.LYS_CONTAINER: Kind.CONTAINER,
    lib.LYS_LIST: Kind.LIST,
    lib.LYS_LEAF: Kind.LEAF,
    lib.LYS_LEAFLIST: Kind.LEAFLIST,
    lib.LYS_ANYDATA: Kind.ANY,
    lib.LYS_ANYXML: Kind.ANY,
}

_PREFIXED_TYPES = (lib.LY_TYPE_IDENT, lib.LY_TYPE_INST)


_BASENAMES = {
    lib.LY_TYPE_BINARY: "binary",
    lib.LY_TYPE_UINT8: "uint8",
    lib.LY_TYPE_UINT16: "uint16",
    lib.LY_TYPE_UINT32: "uint32",
    lib.LY_TYPE_UINT64: "uint64",
    lib.LY_TYPE_STRING: "string",
    lib.LY_TYPE_BITS: "bits",
    lib.LY_TYPE_BOOL: "boolean",
    lib.LY_TYPE_DEC64: "decimal64",
    lib.LY_TYPE_EMPTY: "empty",
    lib.LY_TYPE_ENUM: "enumeration",
    lib.LY_TYPE_IDENT: "identityref",
    lib.LY_TYPE_INST: "instance-identifier",
    lib.LY_TYPE_LEAFREF: "leafref",
    lib.LY_TYPE_UNION: "union",
    lib.LY_TYPE_INT8: "int8",
    lib.LY_TYPE_INT16: "int16",
    lib.LY_TYPE_INT32: "int32",
    lib.LY_TYPE_INT64: "int64",
}


class LeafType(NamedTuple):
    """What an encoder needs to know of a leaf's type. Leafrefs are resolved
    to their target's type; unions keep their member types."""

    base: str
    enums: dict[str, int] | None = None
    bits: dict[str, int] | None = None
    fraction_digits: int = 0
    members: tuple[LeafType, ...] = ()


#: compiled type address -> LeafType. Compiled types are allocated only while
#: a Schema loads its modules, and a freed context's addresses can be reused
#: then, so every new Schema empties the cache (see Schema.__init__).
_TYPE_CACHE: dict[int, LeafType] = {}


def _leaf_type(ctype: CData) -> LeafType:
    key = int(ffi.cast("uintptr_t", ctype))
    cached = _TYPE_CACHE.get(key)
    if cached is not None:
        return cached
    base = ctype.basetype
    if base == lib.LY_TYPE_LEAFREF:
        lt = _leaf_type(ffi.cast("struct lysc_type_leafref *", ctype).realtype)
    elif base == lib.LY_TYPE_UNION:
        members = tuple(_leaf_type(m) for m in _array(ffi.cast("struct lysc_type_union *", ctype).types))
        lt = LeafType("union", members=members)
    elif base == lib.LY_TYPE_ENUM:
        items = _array(ffi.cast("struct lysc_type_enum *", ctype).enums)
        lt = LeafType("enumeration", enums={_str(i.name): i.value for i in items})
    elif base == lib.LY_TYPE_BITS:
        items = _array(ffi.cast("struct lysc_type_bits *", ctype).bits)
        lt = LeafType("bits", bits={_str(i.name): i.position for i in items})
    elif base == lib.LY_TYPE_DEC64:
        lt = LeafType("decimal64", fraction_digits=ffi.cast("struct lysc_type_dec *", ctype).fraction_digits)
    else:
        lt = LeafType(_BASENAMES.get(base, "string"))
    _TYPE_CACHE[key] = lt
    return lt


class SchemaNode:
    """A compiled schema node of a data node (never choice or case)."""

    __slots__ = ("cdata", "kind", "name", "module", "config", "_keys", "_prefixed", "_empty")

    def __init__(self, cdata: CData) -> None:
        self.cdata = cdata
        self.kind = _KINDS.get(cdata.nodetype, Kind.OTHER)
        self.name = _str(cdata.name)
        self.module = _str(cdata.module.name)
        #: configuration, not state (asked of every node of every edit)
        self.config = bool(cdata.flags & lib.LYS_CONFIG_W)
        self._keys: tuple[str, ...] | None = None
        # answers about the compiled schema, which never changes: remembered
        # (Schema hands out the same SchemaNode for every lookup)
        self._prefixed: tuple[object, bool] | None = None  # (xpath plugin asked with, answer)
        self._empty: bool | None = None

    @property
    def key(self) -> int:
        """Identifies this schema node for as long as its schema lives."""
        return int(ffi.cast("uintptr_t", self.cdata))

    @property
    def parent_key(self) -> int | None:
        """:attr:`key` of the nearest data-node ancestor (choice and case are
        not data nodes), None at the top level."""
        parent = self.cdata.parent
        while parent != ffi.NULL and parent.nodetype in (lib.LYS_CHOICE, lib.LYS_CASE):
            parent = parent.parent
        return None if parent == ffi.NULL else int(ffi.cast("uintptr_t", parent))

    @property
    def namespace(self) -> str:
        return _str(self.cdata.module.ns)

    @property
    def user_ordered(self) -> bool:
        return bool(self.cdata.flags & lib.LYS_ORDBY_USER)

    @property
    def presence(self) -> bool:
        return bool(self.cdata.flags & lib.LYS_PRESENCE)

    @property
    def keys(self) -> tuple[str, ...]:
        if self._keys is None:
            keys = []
            if self.kind == Kind.LIST:
                child = lib.lysc_node_child(self.cdata)
                while child != ffi.NULL and child.flags & lib.LYS_KEY:
                    keys.append(_str(child.name))
                    child = child.next
            self._keys = tuple(keys)
        return self._keys

    def value_has_prefixes(self, xpath_plugin: CData = None) -> bool:
        """True when XML values of this leaf may carry namespace prefixes:
        identityref, instance-identifier (or a union holding one), and
        XPath strings (typedef yang:xpath1.0, recognised by libyang's plugin
        for it, ``xpath_plugin``)."""
        cached = self._prefixed
        if cached is not None and cached[0] is xpath_plugin:
            return cached[1]
        answer = self._value_has_prefixes(xpath_plugin)
        self._prefixed = (xpath_plugin, answer)
        return answer

    def _value_has_prefixes(self, xpath_plugin: CData) -> bool:
        if self.kind not in (Kind.LEAF, Kind.LEAFLIST):
            return False
        ctype = ffi.cast("struct lysc_node_leaf *", self.cdata).type
        if xpath_plugin is not None and ctype.plugin == xpath_plugin:
            return True
        return any(t in _PREFIXED_TYPES for t in _basetypes(ctype))

    @property
    def is_empty_type(self) -> bool:
        if self._empty is None:
            self._empty = self.kind == Kind.LEAF and (
                ffi.cast("struct lysc_node_leaf *", self.cdata).type.basetype == lib.LY_TYPE_EMPTY)
        return self._empty

    @property
    def leaf_type(self) -> LeafType:
        return _leaf_type(ffi.cast("struct lysc_node_leaf *", self.cdata).type)

    @property
    def data_path(self) -> str:
        """Schema path without choice and case, in libyang's JSON form."""
        return _schema_data_path(self.cdata)

    def has_extension(self, module: str, name: str) -> bool:
        for ext in _array(self.cdata.exts):
            d = getattr(ext, "def")
            if _s(d.name) == name and _s(d.module.name) == module:
                return True
        return False

    def __repr__(self) -> str:
        return f"<SchemaNode {self.module}:{self.name} {self.kind}>"


def _basetypes(ctype: CData) -> Iterator[int]:
    base = ctype.basetype
    if base == lib.LY_TYPE_UNION:
        for member in _array(ffi.cast("struct lysc_type_union *", ctype).types):
            yield from _basetypes(member)
    elif base == lib.LY_TYPE_LEAFREF:
        yield from _basetypes(ffi.cast("struct lysc_type_leafref *", ctype).realtype)
    else:
        yield base


def _schema_data_path(node: CData) -> str:
    parts = []
    prev_mod = None
    chain = []
    while node != ffi.NULL:
        if node.nodetype not in (lib.LYS_CHOICE, lib.LYS_CASE):
            chain.append(node)
        node = node.parent
    for n in reversed(chain):
        mod = _str(n.module.name)
        parts.append(f"{mod}:{_str(n.name)}" if mod != prev_mod else _str(n.name))
        prev_mod = mod
    return "/" + "/".join(parts)
