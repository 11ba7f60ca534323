"""A parsed YANG 1.1 action invocation (RFC 7950 7.15)."""

from __future__ import annotations

import json
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .bindings import CData, _array, _s, _str, ffi, lib
from .errors import _drain
from .issue import YangError
from .nodes import SchemaNode
from .tree import Tree

if TYPE_CHECKING:
    from .schema import Schema

class Action:
    """A parsed action invocation: the action node with its parents and input.
    Owned by this object: call :meth:`free`, or use it with ``with``."""

    def __init__(self, schema: Schema, tree: CData, node: CData) -> None:
        self.schema = schema
        self._tree = Tree(schema, tree)
        self.node = node
        self.module = _str(node.schema.module.name)
        self.name = _str(node.schema.name)
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
                out[sn.name] = {k: self._tree.value_of(self._tree.find_child(n, k)) or "" for k in sn.keys}
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
                    expr = self.schema._json_xpath(_str(lib.lyxp_get_expr(when.cond)), _str(n.schema.module.name))
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

    def input(self) -> dict[str, Any]:
        """The input as RFC 7951 JSON, members named as below the action."""
        text = self._tree._print(lib.LYD_JSON, 0, self.node)
        return next(iter(json.loads(text).values()), None) or {}

    def reply_xml(self, output: dict[str, Any] | None, operational: Tree | None = None) -> str | None:
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

    def __enter__(self) -> Action:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.free()
