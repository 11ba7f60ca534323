"""One libyang context: the agent's module set (:class:`Schema`), its lookups
and the parsers that make trees and actions."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

from .action import Action
from .bindings import CData, _added_by_libyang, _array, _new_context, _s, _str, configure_logging, ffi, lib
from .errors import _drain, _drain_text
from .issue import Issue, YangError
from .nodes import _TYPE_CACHE, NACM_NS_MODULE, SECRET_LEAVES, SchemaNode, _schema_data_path
from .scope import ValidationScope, prepare_validate_module
from .sids import _sid_identifiers
from .tree import Tree
from .xmlpath import _xml_path

#: xml_path results kept, and the longest path kept (paths carry key values from managers)
_XML_PATHS_CACHED = 512
_XML_PATH_CACHED_CHARS = 512


class Schema:
    """One libyang context: the agent's module set with its features."""

    def __init__(self, search_dirs: list[str], modules: dict[str, list[str]]) -> None:
        # python-libyang imported meanwhile (by a plugin, say) resets libyang's logging
        configure_logging()
        self.cdata = _new_context(search_dirs)
        self.modules = dict(modules)
        for name, features in modules.items():
            self._load(name, features)
        if lib.ly_ctx_compile(self.cdata) != lib.LY_SUCCESS:
            raise YangError([Issue("operation-failed", "cannot compile the YANG modules: " + _drain_text(self.cdata))])
        self._ns_to_module: dict[str, str] = {}
        self._module_to_ns: dict[str, str] = {}
        for mod in self._modules():
            self._ns_to_module[_str(mod.ns)] = _str(mod.name)
            self._module_to_ns[_str(mod.name)] = _str(mod.ns)
        self._secrets: list[str] | None = None
        self._prefixes: dict[str, set[str]] | None = None
        #: (parent cdata or None, namespace, name) -> node: every edit looks
        #: up the same few nodes, and the module set is fixed from here on.
        #: Only nodes that exist: the names come from managers.
        self._nodes: dict[tuple[CData, str, str], SchemaNode] = {}
        self._content_id: str | None = None
        self._scope: ValidationScope | None = None
        self._xml_paths: dict[str, tuple[str, dict[str, str]]] = {}
        #: compiled node -> (name, namespace), for printing a data node's ancestors
        self._xml_names: dict[CData, tuple[str, str]] = {}
        _TYPE_CACHE.clear()
        # libyang's plugin for yang:xpath1.0 values, found on a leaf known to use it
        xp = lib.lys_find_path(self.cdata, ffi.NULL, b"/ietf-netconf-acm:nacm/rule-list/rule/path", 0)
        lib.ly_err_clean(self.cdata, ffi.NULL)
        self.xpath_plugin = ffi.cast("struct lysc_node_leaf *", xp).type.plugin if xp != ffi.NULL else None

    def xml_name(self, snode: CData) -> tuple[str, str]:
        """The element name and namespace of a compiled schema node's data."""
        found = self._xml_names.get(snode)
        if found is None:
            found = self._xml_names[snode] = (_str(snode.name), _str(snode.module.ns))
        return found

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

    def implemented_modules(self) -> list[dict[str, Any]]:
        """Implemented modules with revision, namespace, YANG version, enabled features, deviations."""
        out = []
        for mod in self._modules():
            if not mod.implemented:
                continue
            deviations = [_s(d.name) for d in _array(mod.deviated_by)]
            out.append(
                {
                    "name": _s(mod.name),
                    "revision": _s(mod.revision),
                    "namespace": _s(mod.ns),
                    "version": mod.parsed.version if mod.parsed != ffi.NULL else 1,
                    "features": _enabled_features(mod),
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
                with open(_str(mod.filepath), encoding="utf-8") as f:
                    return f.read()
            except OSError:
                pass
        # a module without a file (libyang's own): python-libyang's printer,
        # imported only here (its package costs start-up time)
        import libyang

        configure_logging()  # the package's import set libyang's logging its own way
        return str(libyang.Module(libyang.Context(cdata=self.cdata), mod).print_mem("yang"))

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

    @property
    def validation_scope(self) -> ValidationScope:
        """Which modules' data a change can make invalid (built at first use:
        see :meth:`prepare_partial_validation`)."""
        if self._scope is None:
            self._scope = ValidationScope(list(self._modules()))
        return self._scope

    def prepare_partial_validation(self) -> None:
        """What a validation of part of a tree needs, done once (milliseconds):
        a caller that times validations calls this first."""
        prepare_validate_module()
        self.validation_scope.affected(set())

    def _modules(self) -> Iterator[CData]:
        """Every module of the context (implemented or imported only)."""
        it = ffi.new("uint32_t *", 0)
        while True:
            mod = lib.ly_ctx_get_module_iter(self.cdata, it)
            if mod == ffi.NULL:
                return
            yield mod

    def _compiled_modules(self) -> Iterator[CData]:
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

    def _collect_secrets(self, parent: CData, compiled: CData, found: list[str]) -> None:
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
        cached = self._xml_paths.get(path)
        if cached is None:
            text, modules = _xml_path(path)
            cached = text, {m: self.namespace_of(m) or "" for m in modules}
            if len(path) <= _XML_PATH_CACHED_CHARS:
                # a change notification converts the paths an edit touched,
                # and managers edit the same few nodes over and over
                if len(self._xml_paths) >= _XML_PATHS_CACHED:
                    self._xml_paths.clear()
                self._xml_paths[path] = cached
        return cached[0], dict(cached[1])

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
            module, name = _str(op.schema.module.name), _str(op.schema.name)
            return module, name, Tree(self, root)._print(lib.LYD_XML, 0)
        finally:
            lib.lyd_free_all(root)

    def nested_notification(self, xml: str) -> tuple[Tree, CData] | None:
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

    def _parse_op(self, data: bytes, fmt: int, dtype: int, parent: CData) -> tuple[CData, CData]:
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
                found.setdefault(_str(mod.prefix), set()).add(_str(mod.name))
            self._prefixes = found
        prefixes = self._prefixes

        def name(match: re.Match[str]) -> str:
            at = match.start()
            if expr[at - 1 : at] == ":" and expr[at - 2 : at] != "::":
                return str(match.group(0))  # the local name of a prefixed step, not a prefix
            prefix = match.group(1)
            mod = lib.ly_ctx_get_module_latest(self.cdata, module.encode())
            if mod != ffi.NULL and _s(mod.prefix) == prefix:
                return module + ":"
            owners = prefixes.get(prefix, set())
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


def _enabled_features(mod: CData) -> list[str]:
    """Names of the features enabled in an implemented module, in their order."""
    out = []
    idx = ffi.new("uint32_t *")
    f = lib.lysp_feature_next(ffi.NULL, mod.parsed, idx)
    while f != ffi.NULL:
        if f.flags & lib.LYS_FENABLED:
            out.append(_str(f.name))
        f = lib.lysp_feature_next(f, mod.parsed, idx)
    return out
