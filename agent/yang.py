"""The one module that talks to libyang.

Everything above it sees :class:`Schema` (a compiled module set),
:class:`SchemaNode` (what a data node may be) and :class:`Tree` (a data tree
that this module allocates and frees), plus :class:`YangError` carrying
NETCONF-ready issues. The differences between python-libyang 2.8 over
libyang 2.1 (Debian 12) and python-libyang 3.x over libyang 3 (Buildroot
2026.02, Debian 13) are absorbed here and nowhere else: the section
"binding generations" below holds every one of them.

The ``_libyang`` cffi ``lib`` serves where the Python API falls short
(sibling lists, flags, structured errors).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from typing import Any, Iterator

import libyang  # noqa: F401  (initialises the bindings and their logging)
from _libyang import ffi, lib

# -- binding generations -------------------------------------------------------
# libyang 3 reports where an error is in two fields of ly_err_item
# (data_path, schema_path); libyang 2 in one string, "Data location ..." or
# "Schema location ...". That field set tells the generations apart.
_ERR_FIELDS = {name for name, _ in ffi.typeof("struct ly_err_item").fields}
LIBYANG3 = "data_path" in _ERR_FIELDS

# libyang keeps errors in the context only when asked. libyang 2 adds the
# location only when the log callback "wants paths"; libyang 3 always does.
lib.ly_log_options(lib.LY_LOSTORE)
if LIBYANG3:
    lib.ly_set_log_clb(ffi.NULL)
else:
    lib.ly_set_log_clb(ffi.NULL, True)

_LOC = re.compile(r'^(Data|Schema) location "(.*)"(?:, line number \d+)?\.?$')


def _err_location(err) -> tuple[str | None, str | None]:
    """(data path, schema path) of a stored libyang error; either may be None."""
    if LIBYANG3:
        return _s(err.data_path), (_s(err.schema_path) if err.data_path == ffi.NULL else None)
    m = _LOC.match(_s(err.path) or "")
    if not m:
        return None, None
    return (m.group(2), None) if m.group(1) == "Data" else (None, m.group(2))


def _new_context(search_dirs: list[str]):
    """A libyang context that implements ietf-yang-library, freed with its
    last reference. python-libyang 3's Context leaves that module out unless
    it is given a yang-library file, so the context is made here, the same
    way for both generations (python-libyang's YANGPATH is not consulted)."""
    out = ffi.new("struct ly_ctx **")
    options = lib.LY_CTX_DISABLE_SEARCHDIR_CWD | lib.LY_CTX_SET_PRIV_PARSED
    # libyang refuses a search directory that does not exist (an image
    # without the optional ones, a root being provisioned)
    dirs = ":".join(d for d in search_dirs if os.path.isdir(d))
    if lib.ly_ctx_new(dirs.encode(), options, out) != lib.LY_SUCCESS:
        raise YangError([Issue("operation-failed", "cannot create a libyang context")])
    return ffi.gc(out[0], lib.ly_ctx_destroy)


#: top-level nodes libyang 3 adds to modules it loads, absent from their
#: YANG text (ietf-netconf:rpc-error, for parsing <rpc-reply> errors): not
#: the agent's data, so neither addressable in an edit nor given a SID
_LIBYANG_ADDED = {("ietf-netconf", "rpc-error")} if LIBYANG3 else set()


def _added_by_libyang(node) -> bool:
    return (_s(node.module.name), _s(node.name)) in _LIBYANG_ADDED


def _union_member_type(ctx, node):
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


# -- the agent's view ------------------------------------------------------------

NACM_NS_MODULE = "ietf-netconf-acm"
#: ietf-crypto-types leaves that carry secrets in clear
SECRET_LEAVES = {"cleartext-private-key", "cleartext-symmetric-key", "cleartext-password"}

WITH_DEFAULTS = {
    "explicit": lib.LYD_PRINT_WD_EXPLICIT,
    "trim": lib.LYD_PRINT_WD_TRIM,
    "report-all": lib.LYD_PRINT_WD_ALL,
    "report-all-tagged": lib.LYD_PRINT_WD_ALL_TAG,
}


def _s(c) -> str | None:
    return ffi.string(c).decode() if c != ffi.NULL else None


@dataclass(frozen=True)
class Issue:
    """One validation problem, already mapped to NETCONF terms (RFC 6241 App. A,
    RFC 7950 section 15)."""

    tag: str
    message: str
    path: str | None = None  # data path, libyang JSON form
    app_tag: str | None = None


class YangError(Exception):
    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(i.message + (f" ({i.path})" if i.path else "") for i in issues))
        self.issues = issues


# -- schema ------------------------------------------------------------------


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


@dataclass(frozen=True)
class LeafType:
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


def _leaf_type(ctype) -> LeafType:
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
        lt = LeafType("enumeration", enums={_s(i.name): i.value for i in items})
    elif base == lib.LY_TYPE_BITS:
        items = _array(ffi.cast("struct lysc_type_bits *", ctype).bits)
        lt = LeafType("bits", bits={_s(i.name): i.position for i in items})
    elif base == lib.LY_TYPE_DEC64:
        lt = LeafType("decimal64", fraction_digits=ffi.cast("struct lysc_type_dec *", ctype).fraction_digits)
    else:
        lt = LeafType(_BASENAMES.get(base, "string"))
    _TYPE_CACHE[key] = lt
    return lt


class SchemaNode:
    """A compiled schema node of a data node (never choice or case)."""

    __slots__ = ("cdata", "kind", "name", "module", "_keys", "_prefixed", "_empty")

    def __init__(self, cdata) -> None:
        self.cdata = cdata
        self.kind = _KINDS.get(cdata.nodetype, Kind.OTHER)
        self.name = _s(cdata.name)
        self.module = _s(cdata.module.name)
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
        return _s(self.cdata.module.ns)

    @property
    def config(self) -> bool:
        return bool(self.cdata.flags & lib.LYS_CONFIG_W)

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
                    keys.append(_s(child.name))
                    child = child.next
            self._keys = tuple(keys)
        return self._keys

    def value_has_prefixes(self, xpath_plugin=None) -> bool:
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

    def _value_has_prefixes(self, xpath_plugin) -> bool:
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


def _array(cdata) -> Iterator:
    """Items of a libyang sized array (its count sits just before it)."""
    if cdata == ffi.NULL:
        return
    for i in range(ffi.cast("uint64_t *", cdata)[-1]):
        yield cdata[i]


def _basetypes(ctype) -> Iterator[int]:
    base = ctype.basetype
    if base == lib.LY_TYPE_UNION:
        for member in _array(ffi.cast("struct lysc_type_union *", ctype).types):
            yield from _basetypes(member)
    elif base == lib.LY_TYPE_LEAFREF:
        yield from _basetypes(ffi.cast("struct lysc_type_leafref *", ctype).realtype)
    else:
        yield base


class Schema:
    """One libyang context: the agent's module set with its features."""

    def __init__(self, search_dirs: list[str], modules: dict[str, list[str]]) -> None:
        self.cdata = _new_context(search_dirs)
        self._ctx = libyang.Context(cdata=self.cdata)
        self.modules = dict(modules)
        for name, features in modules.items():
            self._load(name, features)
        self._ns_to_module: dict[str, str] = {}
        self._module_to_ns: dict[str, str] = {}
        for mod in self._modules():
            self._ns_to_module[_s(mod.ns)] = _s(mod.name)
            self._module_to_ns[_s(mod.name)] = _s(mod.ns)
        self._secrets: list[str] | None = None
        self._prefixes: dict[str, set[str]] | None = None
        #: (parent cdata or None, namespace, name) -> node: every edit looks
        #: up the same few nodes, and the module set is fixed from here on.
        #: Only nodes that exist: the names come from managers.
        self._nodes: dict[tuple, SchemaNode] = {}
        self._content_id: str | None = None
        _TYPE_CACHE.clear()
        # libyang's plugin for yang:xpath1.0 values, found on a leaf known to use it
        xp = lib.lys_find_path(self.cdata, ffi.NULL, b"/ietf-netconf-acm:nacm/rule-list/rule/path", 0)
        lib.ly_err_clean(self.cdata, ffi.NULL)
        self.xpath_plugin = ffi.cast("struct lysc_node_leaf *", xp).type.plugin if xp != ffi.NULL else None

    def _load(self, name: str, features: list[str]) -> None:
        keep = [ffi.new("char[]", f.encode()) for f in features]
        arr = ffi.new("char *[]", keep + [ffi.NULL])
        mod = lib.ly_ctx_load_module(self.cdata, name.encode(), ffi.NULL, arr)
        if mod == ffi.NULL:
            raise YangError([Issue("operation-failed", f"cannot load YANG module {name}: " + _drain_text(self.cdata))])

    # -- modules --

    def module_for_namespace(self, ns: str) -> str | None:
        return self._ns_to_module.get(ns)

    def namespace_of(self, module: str) -> str | None:
        return self._module_to_ns.get(module)

    def implemented_modules(self) -> list[dict]:
        """Implemented modules with revision, namespace, YANG version, enabled features, deviations."""
        out = []
        for mod in self._modules():
            if not mod.implemented:
                continue
            m = libyang.Module(self._ctx, mod)
            deviations = [_s(d.name) for d in _array(mod.deviated_by)]
            out.append(
                {
                    "name": _s(mod.name),
                    "revision": _s(mod.revision),
                    "namespace": _s(mod.ns),
                    "version": mod.parsed.version if mod.parsed != ffi.NULL else 1,
                    "features": [f.name() for f in m.features() if f.state()],
                    "deviations": deviations,
                }
            )
        return out

    def module_file(self, name: str) -> tuple[str | None, str | None]:
        """(revision, file path) of a module of this context, (None, None) if absent."""
        found = None
        for mod in self._modules():
            if _s(mod.name) == name and (found is None or mod.implemented):
                found = mod
        if found is None:
            return None, None
        return _s(found.revision), _s(found.filepath)

    def module_source(self, name: str, revision: str | None = None) -> str | None:
        mod = lib.ly_ctx_get_module(self.cdata, name.encode(), revision.encode() if revision else ffi.NULL)
        if mod == ffi.NULL:
            if revision is not None:
                return None
            mod = lib.ly_ctx_get_module_latest(self.cdata, name.encode())
            if mod == ffi.NULL:
                return None
        if mod.filepath != ffi.NULL:
            try:
                with open(_s(mod.filepath), encoding="utf-8") as f:
                    return f.read()
            except OSError:
                pass
        return libyang.Module(self._ctx, mod).print_mem("yang")

    # -- schema lookup --

    def top_node(self, ns: str, name: str) -> SchemaNode | None:
        found = self._nodes.get((None, ns, name))
        if found is None:
            found = self._top_node(ns, name)
            if found is not None:
                self._nodes[(None, ns, name)] = found
        return found

    def _top_node(self, ns: str, name: str) -> SchemaNode | None:
        module = self.module_for_namespace(ns)
        if module is None:
            return None
        mod = lib.ly_ctx_get_module_latest(self.cdata, module.encode())
        if mod == ffi.NULL or not mod.implemented:
            return None
        node = lib.lys_find_child(ffi.NULL, mod, name.encode(), 0, 0, 0)
        return SchemaNode(node) if node != ffi.NULL and not _added_by_libyang(node) else None

    def node_by_module(self, parent: SchemaNode | None, module: str, name: str) -> SchemaNode | None:
        """Child (or top-level node) by module name, as in JSON and YANG-CBOR member names."""
        mod = lib.ly_ctx_get_module_latest(self.cdata, module.encode())
        if mod == ffi.NULL:
            return None
        node = lib.lys_find_child(parent.cdata if parent else ffi.NULL, mod, name.encode(), 0, 0, 0)
        if node == ffi.NULL or (parent is None and _added_by_libyang(node)):
            return None
        return SchemaNode(node)

    def child_node(self, parent: SchemaNode, ns: str, name: str) -> SchemaNode | None:
        found = self._nodes.get((parent.cdata, ns, name))
        if found is None:
            found = self._child_node(parent, ns, name)
            if found is not None:
                self._nodes[(parent.cdata, ns, name)] = found
        return found

    def _child_node(self, parent: SchemaNode, ns: str, name: str) -> SchemaNode | None:
        module = self.module_for_namespace(ns)
        if module is None:
            return None
        mod = lib.ly_ctx_get_module_latest(self.cdata, module.encode())
        node = lib.lys_find_child(parent.cdata, mod, name.encode(), 0, 0, 0)
        return SchemaNode(node) if node != ffi.NULL else None

    def _modules(self) -> Iterator:
        """Every module of the context (implemented or imported only)."""
        it = ffi.new("uint32_t *", 0)
        while True:
            mod = lib.ly_ctx_get_module_iter(self.cdata, it)
            if mod == ffi.NULL:
                return
            yield mod

    def _compiled_modules(self) -> Iterator:
        return (m for m in self._modules() if m.implemented and m.compiled != ffi.NULL)

    def secret_paths(self) -> list[str]:
        """Schema paths (data form) of the nodes holding secrets: cleartext
        private keys, symmetric keys and passwords (the ietf-crypto-types
        leaves marked nacm:default-deny-all). They never leave the box,
        whatever the access rules say."""
        if self._secrets is None:
            found: list[str] = []
            for mod in self._compiled_modules():
                self._collect_secrets(ffi.NULL, mod.compiled, found)
            self._secrets = found
        return self._secrets

    def _collect_secrets(self, parent, compiled, found: list[str]) -> None:
        last = ffi.NULL
        while True:
            node = lib.lys_getnext(last, parent, compiled if parent == ffi.NULL else ffi.NULL, 0)
            if node == ffi.NULL:
                return
            sn = SchemaNode(node)
            if sn.name in SECRET_LEAVES and sn.has_extension(NACM_NS_MODULE, "default-deny-all"):
                found.append(_schema_data_path(node))
            elif node.nodetype in (lib.LYS_CONTAINER, lib.LYS_LIST):
                self._collect_secrets(node, ffi.NULL, found)
            last = node

    def sid_identifiers(self) -> Iterator[tuple[SchemaNode, str]]:
        """Every data node of the implemented modules with its RFC 9595
        schema-node identifier, the key of its ``.sid`` file item: choice and
        case steps included, the module name on the first step and wherever
        the module changes (as pyang's sid plugin writes them)."""
        for mod in self._compiled_modules():
            yield from _sid_identifiers(ffi.NULL, mod.compiled, "", None)

    def xml_path(self, path: str) -> tuple[str, dict[str, str]]:
        """libyang's JSON-style data path -> XML instance-identifier and its
        prefix map. JSON paths name the module only where it changes; XML
        needs a prefix on every step, so the module name serves as prefix."""
        text, modules = _xml_path(path)
        return text, {m: self.namespace_of(m) or "" for m in modules}

    def check_xpath(self, expr: str) -> None:
        """Raise YangError unless ``expr`` (module names as prefixes) is XPath
        libyang can evaluate on this module set (syntax, modules)."""
        out = ffi.new("struct ly_set **")
        if lib.lys_find_xpath(self.cdata, ffi.NULL, expr.encode(), 0, out) != lib.LY_SUCCESS:
            raise YangError([Issue("invalid-value", _drain_text(self.cdata) or "not valid XPath")])
        lib.ly_set_free(out[0], ffi.NULL)
        lib.ly_err_clean(self.cdata, ffi.NULL)  # warnings (a name no module defines)

    # -- data --

    def empty(self) -> Tree:
        return Tree(self, ffi.NULL)

    def parse(self, text: str | bytes, fmt: str, *, state: bool = False) -> Tree:
        """Parse a whole configuration datastore and validate it, or (``state``)
        a piece of operational data, which is only parsed: it cannot be
        validated alone, and the agent builds it itself."""
        if isinstance(text, str):
            text = text.encode()
        out = ffi.new("struct lyd_node **")
        popts = lib.LYD_PARSE_STRICT | (lib.LYD_PARSE_ONLY if state else lib.LYD_PARSE_NO_STATE)
        vopts = 0 if state else lib.LYD_VALIDATE_NO_STATE
        fmt_c = {"xml": lib.LYD_XML, "json": lib.LYD_JSON}[fmt]
        ret = lib.lyd_parse_data_mem(self.cdata, text, fmt_c, popts, vopts, out)
        if ret != lib.LY_SUCCESS:
            issues = _drain(self, None)
            if out[0] != ffi.NULL:
                lib.lyd_free_all(out[0])
            raise YangError(issues)
        return Tree(self, out[0])

    def notification_xml(self, json_text: str) -> tuple[str, str, str]:
        """A notification given as RFC 7951 JSON, validated, as
        (module, name, XML of its top element)."""
        # Our own _parse_op, not the bindings' Context.parse_op: that one never
        # frees its struct ly_in, a C leak of one per notification (a
        # config-change per edit, a session start and end per session).
        tree, op = self._parse_op(json_text.encode(), lib.LYD_JSON, lib.LYD_TYPE_NOTIF_YANG, ffi.NULL)
        root = op if tree == ffi.NULL else tree
        while root.parent != ffi.NULL:
            root = ffi.cast("struct lyd_node *", root.parent)
        try:
            module, name = _s(op.schema.module.name), _s(op.schema.name)
            return module, name, Tree(self, root)._print(lib.LYD_XML, 0)
        finally:
            lib.lyd_free_all(root)

    def nested_notification(self, xml: str) -> tuple[Tree, Any] | None:
        """A notification as agent.notify logs it (its top element; a nested
        one with its parents) parsed back: None for a top-level one, else the
        tree (the caller frees it) and the notification's parent data node."""
        tree, op = self._parse_op(xml.encode(), lib.LYD_XML, lib.LYD_TYPE_NOTIF_YANG, ffi.NULL)
        root = op if tree == ffi.NULL else tree
        while root.parent != ffi.NULL:
            root = ffi.cast("struct lyd_node *", root.parent)
        if op.parent == ffi.NULL:
            lib.lyd_free_all(root)
            return None
        return Tree(self, root), ffi.cast("struct lyd_node *", op.parent)

    def parse_action(self, xml: str | bytes) -> Action:
        """A YANG 1.1 action (RFC 7950 7.15) as NETCONF's <action> carries it:
        the data nodes down to the action, then its input; parsed, not yet
        validated (:meth:`Action.validate` needs the operational data). The
        caller frees it."""
        if isinstance(xml, str):
            xml = xml.encode()
        try:
            tree, op = self._parse_op(xml, lib.LYD_XML, lib.LYD_TYPE_RPC_YANG, ffi.NULL)
        except YangError as exc:
            if exc.issues[0].message.startswith("Missing the operation node"):
                raise YangError([Issue("missing-element", "<action> holds no YANG action")]) from None
            raise
        if op == ffi.NULL or op.schema == ffi.NULL or op.schema.nodetype != lib.LYS_ACTION:
            if tree != ffi.NULL:
                lib.lyd_free_all(tree)
            raise YangError([Issue("unknown-element", "<action> holds no YANG action")])
        return Action(self, tree, op)

    def _parse_op(self, data: bytes, fmt, dtype, parent):
        inp = ffi.new("struct ly_in **")
        if lib.ly_in_new_memory(data, inp) != lib.LY_SUCCESS:
            raise YangError([Issue("operation-failed", "out of memory")])
        tree = ffi.new("struct lyd_node **")
        op = ffi.new("struct lyd_node **")
        try:
            ret = lib.lyd_parse_op(self.cdata, parent, inp[0], fmt, dtype, tree, op)
        finally:
            lib.ly_in_free(inp[0], 0)
        if ret != lib.LY_SUCCESS:
            issues = _drain(self, None)
            if tree[0] != ffi.NULL:
                lib.lyd_free_all(tree[0])
            raise YangError(issues)
        return tree[0], op[0]

    def _json_xpath(self, expr: str, module: str) -> str | None:
        """A schema XPath's prefixes -> module names, the form lyd_eval_xpath
        reads (steps and identity literals alike). A prefix is the module's
        own or that of exactly one module of the context; None when one is
        ambiguous (the compiled prefix map is opaque in the bindings)."""
        if self._prefixes is None:
            found: dict[str, set[str]] = {}
            for mod in self._modules():
                found.setdefault(_s(mod.prefix), set()).add(_s(mod.name))
            self._prefixes = found

        def name(match: re.Match) -> str:
            at = match.start()
            if expr[at - 1 : at] == ":" and expr[at - 2 : at] != "::":
                return match.group(0)  # the local name of a prefixed step, not a prefix
            prefix = match.group(1)
            mod = lib.ly_ctx_get_module_latest(self.cdata, module.encode())
            if mod != ffi.NULL and _s(mod.prefix) == prefix:
                return module + ":"
            owners = self._prefixes.get(prefix, set())
            if len(owners) != 1:
                raise LookupError(prefix)
            return next(iter(owners)) + ":"

        try:
            return re.sub(r"(?<![\w.-])([A-Za-z_][\w.-]*):(?!:)", name, expr)
        except LookupError:
            return None

    def yanglib(self) -> Tree:
        """ietf-yang-library state data (RFC 8525) for this module set."""
        out = ffi.new("struct lyd_node **")
        # the content-id is passed as the printf format itself: it has no '%'
        ret = lib.ly_ctx_get_yanglib_data(self.cdata, out, self.content_id.encode())
        if ret != lib.LY_SUCCESS:
            raise YangError(_drain(self, None))
        return Tree(self, out[0])

    @property
    def content_id(self) -> str:
        """Changes whenever the module set or its features change."""
        if self._content_id is None:
            digest = hashlib.sha256(repr(self.implemented_modules()).encode()).hexdigest()
            self._content_id = digest[:16]
        return self._content_id


class Action:
    """A parsed action invocation: the action node with its parents and input.
    Owned by this object: call :meth:`free`."""

    def __init__(self, schema: Schema, tree, node) -> None:
        self.schema = schema
        self._tree = Tree(schema, tree)
        self.node = node
        self.module = _s(node.schema.module.name)
        self.name = _s(node.schema.name)
        #: the action instance's data path, libyang JSON form
        self.path = self._tree.path_of(node)

    @property
    def tree(self) -> Tree:
        """The action's parents, itself and its input (for NACM)."""
        return self._tree

    def keys(self) -> dict[str, dict[str, str]]:
        """Key values of the lists above the action: list name -> {key: value}."""
        out: dict[str, dict[str, str]] = {}
        for n in Tree.lineage(self.node)[:-1]:
            if n.schema.nodetype == lib.LYS_LIST:
                sn = SchemaNode(n.schema)
                out[sn.name] = {k: self._tree.value_of(self._tree.find_child(n, k)) for k in sn.keys}
        return out

    def instance_parent(self) -> str | None:
        """Path of the nearest list entry or presence container above the
        action: the instance that must exist for the action to run (RFC 7950
        7.15: non-presence containers exist whenever their parent does)."""
        for n in reversed(Tree.lineage(self.node)[:-1]):
            if n.schema.nodetype == lib.LYS_LIST or (n.schema.nodetype == lib.LYS_CONTAINER and n.schema.flags & lib.LYS_PRESENCE):
                return self._tree.path_of(n)
        return None

    def validate(self, operational: Tree | None) -> None:
        """Validate the input against ``operational`` (leafrefs, musts).
        libyang checks neither that the parent instance exists nor the
        ``when`` of the action's ancestors: see :meth:`instance_parent` and
        :meth:`unmet_when`."""
        dep = operational.first if operational is not None else ffi.NULL
        if lib.lyd_validate_op(self._tree.first, dep, lib.LYD_TYPE_RPC_YANG, ffi.NULL) != lib.LY_SUCCESS:
            raise YangError(_drain(self.schema, None))

    def unmet_when(self, operational: Tree) -> str | None:
        """The first ``when`` of the action's ancestor nodes (below its
        instance parent) that is false in ``operational``, as "path: condition";
        None when all hold. Such a node does not exist (RFC 7950 7.21.5), so
        neither does the action. libyang's validation leaves these out."""
        evaluate = getattr(lib, "lyd_eval_xpath", None)
        if evaluate is None:
            return None
        chain = Tree.lineage(self.node)[:-1]
        parent = self.instance_parent()
        if parent is not None:
            while chain and self._tree.path_of(chain[0]) != parent:
                chain.pop(0)
            chain = chain[1:]
        for n in chain:
            whens = lib.lysc_node_when(n.schema)
            if whens == ffi.NULL:
                continue
            path = self._tree.path_of(n)
            created = operational.find(path, include_defaults=True) is None
            try:
                if created:
                    operational.create(path)  # the "dummy node" of RFC 7950 7.21.5
                ctx_node = operational.find(path, include_defaults=True)
                for when in _array(whens):
                    expr = self.schema._json_xpath(_s(lib.lyxp_get_expr(when.cond)), _s(n.schema.module.name))
                    if expr is None:
                        continue  # not decidable here: the plugin checks
                    result = ffi.new("ly_bool *")
                    if evaluate(ctx_node, expr.encode(), result) != lib.LY_SUCCESS:
                        lib.ly_err_clean(self.schema.cdata, ffi.NULL)
                        continue  # not decidable here: the plugin checks
                    if not result[0]:
                        return f"{path}: when {_s(lib.lyxp_get_expr(when.cond))}"
            finally:
                if created:
                    node = operational.find(path, include_defaults=True)
                    if node is not None:
                        operational.delete(node)
        return None

    def input(self) -> dict:
        """The input as RFC 7951 JSON, members named as below the action."""
        text = self._tree._print(lib.LYD_JSON, 0, self.node)
        return next(iter(json.loads(text).values()), None) or {}

    def reply_xml(self, output: dict | None, operational: Tree | None = None) -> str | None:
        """The output (RFC 7951 JSON members below the action) validated, as
        the XML that goes into <rpc-reply>; None when there is no output."""
        if not output:
            return None
        parent = ffi.new("struct lyd_node **")
        if lib.lyd_dup_single(self.node, ffi.NULL, lib.LYD_DUP_WITH_PARENTS, parent) != lib.LY_SUCCESS:
            raise YangError(_drain(self.schema, None))
        top = parent[0]
        while top.parent != ffi.NULL:
            top = ffi.cast("struct lyd_node *", top.parent)
        try:
            prefix = f"{self.module}:"
            body = {k if ":" in k else prefix + k: v for k, v in output.items()}
            self.schema._parse_op(json.dumps(body).encode(), lib.LYD_JSON, lib.LYD_TYPE_REPLY_YANG, parent[0])
            dep = operational.first if operational else ffi.NULL
            if lib.lyd_validate_op(top, dep, lib.LYD_TYPE_REPLY_YANG, ffi.NULL) != lib.LY_SUCCESS:
                raise YangError(_drain(self.schema, None))
            first = lib.lyd_child(parent[0])
            if first == ffi.NULL:
                return None
            out = ffi.new("char **")
            flags = lib.LYD_PRINT_SHRINK | lib.LYD_PRINT_WITHSIBLINGS
            if lib.lyd_print_mem(out, first, lib.LYD_XML, flags) != lib.LY_SUCCESS:
                raise YangError(_drain(self.schema, None))
            try:
                return _s(out[0])
            finally:
                lib.free(out[0])
        finally:
            lib.lyd_free_all(top)

    def free(self) -> None:
        self._tree.free()


_SID_WALK = lib.LYS_GETNEXT_WITHCHOICE | lib.LYS_GETNEXT_WITHCASE


def _sid_identifiers(parent, compiled, path: str, data_parent_module: str | None) -> Iterator[tuple[SchemaNode, str]]:
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


def _schema_data_path(node) -> str:
    parts = []
    prev_mod = None
    chain = []
    while node != ffi.NULL:
        if node.nodetype not in (lib.LYS_CHOICE, lib.LYS_CASE):
            chain.append(node)
        node = node.parent
    for n in reversed(chain):
        mod = _s(n.module.name)
        parts.append(f"{mod}:{_s(n.name)}" if mod != prev_mod else _s(n.name))
        prev_mod = mod
    return "/" + "/".join(parts)


# -- errors ------------------------------------------------------------------

def _drain_text(ctx_cdata) -> str:
    msgs = []
    err = lib.ly_err_first(ctx_cdata)
    while err != ffi.NULL:
        msgs.append(_s(err.msg) or "")
        err = err.next
    lib.ly_err_clean(ctx_cdata, ffi.NULL)
    return "; ".join(msgs)


def _drain(schema: Schema, tree: Tree | None) -> list[Issue]:
    """Turn libyang's stored errors into issues and clear them."""
    raw = []
    err = lib.ly_err_first(schema.cdata)
    while err != ffi.NULL:
        raw.append((err.vecode, _s(err.msg) or "invalid data", *_err_location(err), _s(err.apptag)))
        err = err.next
    lib.ly_err_clean(schema.cdata, ffi.NULL)
    issues = []
    for vecode, msg, path, schema_path, apptag in raw:
        tag, app_tag = _classify(vecode, msg, apptag)
        if tree is not None:
            missing = _MISSING.match(msg)
            if path is None and schema_path:
                # libyang 2, and libyang 3 at the top level: the missing node's schema path
                path = _instance_for_missing(schema, tree, schema_path)
                lib.ly_err_clean(schema.cdata, ffi.NULL)
            elif path is not None and missing and LIBYANG3:
                # libyang 3 names the parent instance, and the node in the message
                path = _child_path(tree, path, missing.group(1))
        issues.append(Issue(tag, msg, path, app_tag))
    return issues or [Issue("operation-failed", "libyang reported an error without detail")]


#: error-app-tags libyang (2.1 and 3) sets on its own validation errors ->
#: error-tag (RFC 7950 section 15). tests/test_yang_errors.py: one test a row.
_APPTAG_TAGS = {
    "too-many-elements": "operation-failed",
    "too-few-elements": "operation-failed",
    "data-not-unique": "operation-failed",
    "must-violation": "operation-failed",
    "missing-choice": "data-missing",
    "instance-required": "data-missing",
}

#: libyang's validation errors that carry neither a code of their own (all
#: are LYVE_DATA) nor an app-tag of libyang's, told apart by the start of
#: libyang's message (its LY_VCODE_* formats, the same in libyang 2.1 and 3):
#: (message start, error-tag, default error-app-tag). tests/test_yang_errors.py:
#: one test a row.
_MESSAGE_TAGS: tuple[tuple[str, str, str | None], ...] = (
    ("Mandatory node ", "data-missing", None),
    ("Must condition ", "operation-failed", "must-violation"),  # a must with its own error-app-tag
    ("Duplicate instance ", "data-exists", None),
    ("Data for both cases ", "bad-element", None),
)

_MISSING = re.compile(r'Mandatory (?:node|choice) "([^"]+)"')


def _classify(vecode: int, msg: str, apptag: str | None) -> tuple[str, str | None]:
    """(error-tag, error-app-tag) of one libyang error: from the app-tag
    libyang set where it set one, else from its message, else from its code."""
    if apptag in _APPTAG_TAGS:
        return _APPTAG_TAGS[apptag], apptag
    for start, tag, default_app_tag in _MESSAGE_TAGS:
        if msg.startswith(start):
            return tag, apptag or default_app_tag
    if vecode == lib.LYVE_REFERENCE:
        return "unknown-element", apptag  # a node (or annotation) the schema does not have
    return "invalid-value", apptag


def _child_path(tree: Tree, parent_path: str, name: str) -> str:
    """The data path of ``name`` (a child data node, or a choice) under the
    instance at ``parent_path``, its module named where it changes."""
    parent = tree.find(parent_path, include_defaults=True)
    if parent is None:
        return f"{parent_path}/{name}"
    parent_module = _s(parent.schema.module.name)
    last = ffi.NULL
    flags = lib.LYS_GETNEXT_WITHCHOICE
    while True:
        node = lib.lys_getnext(last, parent.schema, ffi.NULL, flags)
        if node == ffi.NULL:
            return f"{parent_path}/{name}"
        if _s(node.name) == name:
            module = _s(node.module.name)
            return f"{parent_path}/{name}" if module == parent_module else f"{parent_path}/{module}:{name}"
        last = node


def _instance_for_missing(schema: Schema, tree: Tree, schema_path: str) -> str | None:
    """libyang names a missing mandatory node by its schema path (with
    choice and case); NETCONF wants the instance: the first parent that lacks it."""
    node = lib.lys_find_path(schema.cdata, ffi.NULL, schema_path.encode(), 0)
    if node == ffi.NULL:
        # lys_find_path does not take choice/case steps: drop them by name.
        node = _find_schema_with_choices(schema, schema_path)
        if node is None:
            return None
    parent = node.parent
    while parent != ffi.NULL and parent.nodetype in (lib.LYS_CHOICE, lib.LYS_CASE):
        parent = parent.parent
    name = _s(node.name)
    if parent == ffi.NULL:
        return _schema_data_path(node)
    for inst in tree.xpath(_schema_data_path(parent)):
        if tree.find_child(inst, name) is None:
            return tree.path_of(inst) + "/" + name
    return None


def _find_schema_with_choices(schema: Schema, schema_path: str):
    steps = [s for s in schema_path.strip("/").split("/") if s]
    node = ffi.NULL
    module = None
    for step in steps:
        if ":" in step:
            module, step = step.split(":", 1)
        mod = lib.ly_ctx_get_module_latest(schema.cdata, module.encode())
        nxt = lib.lys_find_child(node, mod, step.encode(), 0, 0, lib.LYS_GETNEXT_WITHCHOICE | lib.LYS_GETNEXT_WITHCASE)
        if nxt == ffi.NULL:
            # choice/case are children of their parent only with these flags
            return None
        node = nxt
    return node if node != ffi.NULL else None


# -- data trees --------------------------------------------------------------


def quote(value: str) -> str:
    """Quote a value for a libyang path predicate."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise YangError([Issue("invalid-value", "a key value holding both quote characters cannot be addressed")])



class _TooManyChanges(Exception):
    """A diff has more changed nodes than its caller wants listed."""


def _diff_op(schema: Schema, node) -> str | None:
    """The yang:operation a lyd_diff node carries, if any."""
    meta = node.meta
    while meta != ffi.NULL:
        if _s(meta.name) == "operation":
            return _s(lib.lyd_value_get_canonical(schema.cdata, ffi.addressof(meta.value)))
        meta = meta.next
    return None

class Tree:
    """A data tree (a list of top-level siblings) owned by this object.

    Call :meth:`free` when done; trees are not garbage collected because
    libyang nodes cannot be tracked by Python's allocator."""

    __slots__ = ("schema", "first")

    def __init__(self, schema: Schema, first) -> None:
        self.schema = schema
        self.first = first

    # lifecycle

    def free(self) -> None:
        if self.first != ffi.NULL:
            lib.lyd_free_all(self.first)
            self.first = ffi.NULL

    def duplicate(self) -> Tree:
        if self.first == ffi.NULL:
            return Tree(self.schema, ffi.NULL)
        out = ffi.new("struct lyd_node **")
        ret = lib.lyd_dup_siblings(self.first, ffi.NULL, lib.LYD_DUP_RECURSIVE | lib.LYD_DUP_WITH_FLAGS, out)
        if ret != lib.LY_SUCCESS:
            raise YangError(_drain(self.schema, self))
        return Tree(self.schema, out[0])

    @property
    def empty(self) -> bool:
        return self.first == ffi.NULL

    def _refirst(self) -> None:
        if self.first != ffi.NULL:
            self.first = lib.lyd_first_sibling(self.first)

    # reading

    def find(self, path: str, include_defaults: bool = False):
        """The node at ``path`` (JSON form, absolute) or None. Implicit
        default nodes count as absent unless ``include_defaults``."""
        if self.first == ffi.NULL:
            return None
        out = ffi.new("struct lyd_node **")
        ret = lib.lyd_find_path(self.first, path.encode(), 0, out)
        if ret != lib.LY_SUCCESS:
            lib.ly_err_clean(self.schema.cdata, ffi.NULL)
            return None
        node = out[0]
        if node.flags & lib.LYD_DEFAULT and not include_defaults:
            return None
        return node

    @staticmethod
    def node_id(node) -> int:
        """A node's identity while the tree lives (its address)."""
        return int(ffi.cast("uintptr_t", node))

    @staticmethod
    def lineage(node, stop=None) -> list:
        """The node's ancestors from the top (or from below ``stop``) down to itself."""
        chain = []
        while node != ffi.NULL and (stop is None or node != stop):
            chain.append(node)
            node = ffi.cast("struct lyd_node *", node.parent)
        return chain[::-1]

    def descendants(self, node) -> list:
        out = []
        stack = list(self.children(node))
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(self.children(n))
        return out

    def xpath(self, expr: str) -> list:
        if self.first == ffi.NULL:
            return []
        out = ffi.new("struct ly_set **")
        ret = lib.lyd_find_xpath(self.first, expr.encode(), out)
        if ret != lib.LY_SUCCESS:
            lib.ly_err_clean(self.schema.cdata, ffi.NULL)
            return []
        s = out[0]
        try:
            return [s.dnodes[i] for i in range(s.count)]
        finally:
            lib.ly_set_free(s, ffi.NULL)

    def find_child(self, node, name: str):
        child = lib.lyd_child(node)
        while child != ffi.NULL:
            if child.schema != ffi.NULL and _s(child.schema.name) == name and not child.flags & lib.LYD_DEFAULT:
                return child
            child = child.next
        return None

    def path_of(self, node) -> str:
        p = lib.lyd_path(node, lib.LYD_PATH_STD, ffi.NULL, 0)
        try:
            return _s(p)
        finally:
            lib.free(p)

    def value_of(self, node) -> str | None:
        return _s(lib.lyd_get_value(node))

    def children(self, node=None) -> Iterator:
        child = self.first if node is None else lib.lyd_child(node)
        while child != ffi.NULL:
            yield child
            child = child.next

    def value_type(self, node) -> LeafType:
        """The type of this leaf's value; for a union, the member it matched."""
        declared = _leaf_type(ffi.cast("struct lysc_node_leaf *", node.schema).type)
        if declared.base != "union":
            return declared
        realtype = _union_member_type(self.schema.cdata, node)
        return LeafType("string") if realtype == ffi.NULL else _leaf_type(realtype)

    @staticmethod
    def schema_of(node) -> SchemaNode:
        return SchemaNode(node.schema)

    @staticmethod
    def is_default(node) -> bool:
        return bool(node.flags & lib.LYD_DEFAULT)

    # writing

    def create(self, path: str, value: str | None = None) -> None:
        """Create ``path`` (and missing parents), or update a leaf's value."""
        out = ffi.new("struct lyd_node **")
        ret = lib.lyd_new_path(
            self.first if self.first != ffi.NULL else ffi.NULL,
            self.schema.cdata,
            path.encode(),
            value.encode() if value is not None else ffi.NULL,
            lib.LYD_NEW_PATH_UPDATE,
            out,
        )
        if ret != lib.LY_SUCCESS:
            issues = _drain(self.schema, self)
            raise YangError([Issue(i.tag, i.message, i.path or path, i.app_tag) for i in issues])
        if self.first == ffi.NULL and out[0] != ffi.NULL:
            root = out[0]
            while root.parent != ffi.NULL:
                root = ffi.cast("struct lyd_node *", root.parent)
            self.first = root
        self._refirst()

    def delete(self, node) -> None:
        if node == self.first:
            nxt = node.next
            lib.lyd_free_tree(node)
            self.first = nxt if nxt != ffi.NULL else ffi.NULL
            self._refirst()
        else:
            lib.lyd_free_tree(node)

    def validate(self) -> None:
        """Validate as a whole configuration datastore; adds default nodes."""
        p = ffi.new("struct lyd_node **", self.first)
        ret = lib.lyd_validate_all(p, self.schema.cdata, lib.LYD_VALIDATE_NO_STATE, ffi.NULL)
        self.first = p[0]
        if ret != lib.LY_SUCCESS:
            raise YangError(_drain(self.schema, self))
        self._refirst()

    def merge(self, other: Tree) -> None:
        """Move ``other``'s nodes into this tree (``other`` ends empty)."""
        if other.first == ffi.NULL:
            return
        if self.first == ffi.NULL:
            self.first, other.first = other.first, ffi.NULL
            return
        p = ffi.new("struct lyd_node **", self.first)
        ret = lib.lyd_merge_siblings(p, other.first, lib.LYD_MERGE_DESTRUCT | lib.LYD_MERGE_WITH_FLAGS)
        other.first = ffi.NULL
        self.first = p[0]
        if ret != lib.LY_SUCCESS:
            raise YangError(_drain(self.schema, self))
        self._refirst()

    def select(self, xpaths: list[str]) -> Tree:
        """A new tree with the nodes the xpaths select, with their parents and subtrees."""
        result = Tree(self.schema, ffi.NULL)
        seen = set()
        for expr in xpaths:
            for node in self.xpath(expr):
                key = int(ffi.cast("uintptr_t", node))
                if key in seen:
                    continue
                seen.add(key)
                out = ffi.new("struct lyd_node **")
                flags = lib.LYD_DUP_RECURSIVE | lib.LYD_DUP_WITH_PARENTS | lib.LYD_DUP_WITH_FLAGS
                if lib.lyd_dup_single(node, ffi.NULL, flags, out) != lib.LY_SUCCESS:
                    lib.ly_err_clean(self.schema.cdata, ffi.NULL)
                    continue
                top = out[0]
                while top.parent != ffi.NULL:
                    top = ffi.cast("struct lyd_node *", top.parent)
                result.merge(Tree(self.schema, top))
        return result

    def diff(self, other: Tree, limit: int | None = None) -> list[tuple[str, str]]:
        """What changed from this tree to ``other``: (path, operation) for the
        top-most created, deleted or replaced nodes (RFC 6470 edit list).

        With ``limit``, a change of more nodes than that is reported as one
        "replace" per changed top-level node: an edit of 100 000 entries must
        not cost 100 000 paths (and a notification of megabytes) on the loop."""
        out = ffi.new("struct lyd_node **")
        ret = lib.lyd_diff_siblings(self.first, other.first, 0, out)
        if ret != lib.LY_SUCCESS:
            raise YangError(_drain(self.schema, self))
        changes: list[tuple[str, str]] = []
        try:
            node = out[0]
            try:
                while node != ffi.NULL:
                    self._diff_walk(node, changes, limit)
                    node = node.next
            except _TooManyChanges:
                changes = []
                node = out[0]
                while node != ffi.NULL:
                    changes.append((self.path_of(node), _diff_op(self.schema, node) or "replace"))
                    node = node.next
        finally:
            if out[0] != ffi.NULL:
                lib.lyd_free_all(out[0])
        return changes

    def _diff_walk(self, node, changes: list[tuple[str, str]], limit: int | None) -> None:
        op = _diff_op(self.schema, node)
        if op in ("create", "delete", "replace"):
            if limit is not None and len(changes) >= limit:
                raise _TooManyChanges
            changes.append((self.path_of(node), op))
            return
        child = lib.lyd_child(node)
        while child != ffi.NULL:
            self._diff_walk(child, changes, limit)
            child = child.next

    def remove_paths(self, paths: list[str]) -> None:
        for path in paths:
            for node in self.xpath(path):
                self.delete(node)

    # NMDA views (RFC 8342, RFC 8526)

    def prune(self, keep) -> None:
        """Keep the nodes ``keep(node)`` says yes to, with their ancestors;
        list keys stay with their entries (config-filter, origin filters)."""

        def walk(node) -> bool:  # does anything stay under or at node
            below = False
            for child in list(self.children(node)):
                if walk(child):
                    below = True
            if node.schema.flags & lib.LYS_KEY:
                return False  # stays with its entry, decides nothing
            if below or keep(node):
                return True
            self.delete(node)
            return False

        for top in list(self.children()):
            walk(top)

    def limit_depth(self, depth: int) -> None:
        """Drop the nodes more than ``depth`` levels down (top level is 1);
        list keys stay with their entries."""

        def walk(node, level: int) -> None:
            for child in list(self.children(node)):
                if level >= depth and not child.schema.flags & lib.LYS_KEY:
                    self.delete(child)
                else:
                    walk(child, level + 1)

        for top in list(self.children()):
            walk(top, 1)

    def annotate_origin(self) -> None:
        """RFC 8342 ``origin`` metadata on the configuration of an operational
        tree: ``or:intended``, ``or:default`` for default nodes, set where a
        node's origin differs from its parent's (RFC 8527 3.2)."""

        def walk(node, parent_origin: str | None) -> None:
            origin = None
            if node.schema.flags & lib.LYS_CONFIG_W:
                origin = "default" if node.flags & lib.LYD_DEFAULT else "intended"
                if origin != parent_origin:
                    value = f"ietf-origin:{origin}".encode()
                    if lib.lyd_new_meta(self.schema.cdata, node, ffi.NULL, b"ietf-origin:origin", value, 0, ffi.NULL):
                        raise YangError(_drain(self.schema, self))
            for child in self.children(node):
                walk(child, origin)

        for top in self.children():
            walk(top, None)

    # printing

    def to_xml(self, with_defaults: str = "explicit") -> str:
        return self._print(lib.LYD_XML, WITH_DEFAULTS[with_defaults])

    def to_json(self, with_defaults: str = "explicit") -> str:
        return self._print(lib.LYD_JSON, WITH_DEFAULTS[with_defaults])

    def subtree_json(self, path: str, with_defaults: str = "explicit") -> str:
        """The node at ``path`` with everything below it, as RFC 7951 JSON
        ("{}" when absent): reading one top-level subtree costs what that
        subtree holds, not what the whole tree does."""
        node = self.find(path, include_defaults=True)
        if node is None:
            return "{}"
        return self._print(lib.LYD_JSON, WITH_DEFAULTS[with_defaults], node)

    def _print(self, fmt, wd, node=None) -> str:
        if self.first == ffi.NULL:
            return "" if fmt == lib.LYD_XML else "{}"
        out = ffi.new("char **")
        flags = lib.LYD_PRINT_SHRINK | wd
        if node is None:
            node, flags = self.first, flags | lib.LYD_PRINT_WITHSIBLINGS
        ret = lib.lyd_print_mem(out, node, fmt, flags)
        if ret != lib.LY_SUCCESS:
            raise YangError(_drain(self.schema, self))
        try:
            return _s(out[0]) or ("" if fmt == lib.LYD_XML else "{}")
        finally:
            lib.free(out[0])


_STEP = re.compile(r"(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)")


def _xml_path(path: str) -> tuple[str, dict[str, str]]:
    out = []
    modules: set[str] = set()
    module = None
    i = 0
    while i < len(path):
        c = path[i]
        if c == "/":
            out.append("/")
            i += 1
            m = _STEP.match(path, i)
            if not m:
                continue
            if m.group(1):
                module = m.group(1)
            modules.add(module)
            out.append(f"{module}:{m.group(2)}")
            i = m.end()
        elif c == "[":
            out.append("[")
            i += 1
            m = _STEP.match(path, i)
            if m and path[m.end() : m.end() + 1] == "=":
                key_mod = m.group(1) or module
                out.append(f"{key_mod}:{m.group(2)}")
                i = m.end()
        elif c in "'\"":
            end = path.index(c, i + 1)
            out.append(path[i : end + 1])
            i = end + 1
        else:
            out.append(c)
            i += 1
    return "".join(out), {m: m for m in modules if m}
