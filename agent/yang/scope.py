"""Which modules' data a change can make invalid: the validation of a
configuration that changed in a few modules' subtrees (an edit of one NACM
rule) validates those and the ones whose constraints can read them, not the
whole datastore.

The data of a module M (its top-level nodes with everything below them,
augmented nodes of other modules included) can be made invalid by a change
only where M changed, or where a ``when``, ``must`` or ``leafref`` path in
M's subtrees reads nodes that changed. Such an expression names the nodes
it reads by module prefixes (resolved at compile time; an unprefixed name
is of the module that defined the expression); a named module's nodes live
in its own top-level subtrees and in those it augments. An expression that
can reach nodes without naming them (a wildcard, ``node()``, ``deref()``)
or an instance-identifier that must exist may read anything: M is then
validated after every change. The relation is closed transitively, since
validation itself changes data (defaults, nodes whose ``when`` turned false).

libyang (2.1 and 3) validates one module's data with lyd_validate_module(),
which python-libyang does not declare: it is bound here in ABI mode, with
pointers passed as addresses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .bindings import LIBYANG3, CData, _array, ffi, lib

#: text in an expression that can reach data without naming its module
_UNNAMED = ("*", "node()", "deref(")

_validate_module: Callable[[int, int, int, int], int] | None = None


def _validate_module_fn() -> Callable[[int, int, int, int], int]:
    global _validate_module
    if _validate_module is None:
        import cffi

        abi = cffi.FFI()
        # pointers as addresses: this FFI's types are not _libyang's
        abi.cdef("int lyd_validate_module(uintptr_t tree, uintptr_t module, uint32_t val_opts, uintptr_t diff);")
        # the library _libyang is linked with, already loaded: dlopen finds it by its soname
        _validate_module = abi.dlopen("libyang.so.3" if LIBYANG3 else "libyang.so.2").lyd_validate_module
    return _validate_module


def validate_module(first: CData, module: CData, options: int) -> tuple[int, CData, CData]:
    """lyd_validate_module(): (return code, the tree's new first node, the diff of what validation changed)."""
    call = _validate_module_fn()
    tree = ffi.new("struct lyd_node *[2]", [first, ffi.NULL])  # the tree, then the diff
    ret = call(_addr(tree), _addr(module), options, _addr(tree) + ffi.sizeof("struct lyd_node *"))
    return int(ret), tree[0], tree[1]


def _addr(p: CData) -> int:
    return int(ffi.cast("uintptr_t", p))


class ValidationScope:
    """The dependencies between the modules' data of one context (fixed once compiled)."""

    def __init__(self, modules: list[CData]) -> None:
        #: owner modules (of top-level data nodes), in context order: lyd_validate_all's order
        self.owners: list[CData] = []
        #: owner address -> owner addresses whose data its constraints read; None: any
        self._reads: dict[int, set[int] | None] = {}
        appears_in: dict[int, set[int]] = {}  # module -> owners of subtrees holding its nodes
        named: dict[int, set[int] | None] = {}  # owner -> modules its expressions name
        for mod in modules:
            if not mod.implemented or mod.compiled == ffi.NULL:
                continue
            tops = list(_tops(mod))
            if not tops:
                continue
            owner = _addr(mod)
            self.owners.append(mod)
            names: set[int] | None = set()
            for top in tops:
                for node in _subtree(top):
                    appears_in.setdefault(_addr(node.module), set()).add(owner)
                    if names is not None:
                        names = _named(node, names)
            named[owner] = names
        for owner, names in named.items():
            self._reads[owner] = None if names is None else {o for m in names for o in appears_in.get(m, ())}
        self._addrs = [_addr(mod) for mod in self.owners]
        #: changed owners -> affected(): an agent's edits change the same few modules over and over
        self._affected: dict[frozenset[int], list[CData]] = {}

    def affected(self, changed: set[int]) -> list[CData]:
        """The owner modules to validate after a change in the data of the
        owners ``changed`` (addresses), in context order."""
        key = frozenset(changed)
        found = self._affected.get(key)
        if found is not None:
            return found
        todo = set(changed)
        grew = True
        while grew:
            grew = False
            for owner in self._addrs:
                if owner in todo:
                    continue
                reads = self._reads[owner]
                if reads is None or reads & todo:
                    todo.add(owner)
                    grew = True
        found = [mod for mod, owner in zip(self.owners, self._addrs, strict=True) if owner in todo]
        if len(self._affected) < 64:
            self._affected[key] = found
        return found


def _tops(mod: CData) -> Iterator[CData]:
    last = ffi.NULL
    while True:
        last = lib.lys_getnext(last, ffi.NULL, mod.compiled, lib.LYS_GETNEXT_WITHCHOICE)
        if last == ffi.NULL:
            return
        if not last.nodetype & (lib.LYS_RPC | lib.LYS_ACTION | lib.LYS_NOTIF):
            yield last


def _subtree(node: CData) -> Iterator[CData]:
    """The data nodes of a compiled subtree, with choices and cases (their
    ``when`` counts); not actions and notifications (no configuration)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        child = lib.lysc_node_child(n)
        while child != ffi.NULL:
            stack.append(child)
            child = child.next


def _named(node: CData, names: set[int]) -> set[int] | None:
    """``names`` with the modules the node's constraints name; None: they may read any data."""
    for when in _array(lib.lysc_node_when(node)):
        if not _expression(when.cond, when.prefixes, node.module, names):
            return None
    for must in _array(lib.lysc_node_musts(node)):
        if not _expression(must.cond, must.prefixes, node.module, names):
            return None
    if node.nodetype & (lib.LYS_LEAF | lib.LYS_LEAFLIST):
        if not _type(ffi.cast("struct lysc_node_leaf *", node).type, node.module, names):
            return None
    return names


def _type(t: CData, module: CData, names: set[int]) -> bool:
    if t.basetype == lib.LY_TYPE_LEAFREF:
        lref = ffi.cast("struct lysc_type_leafref *", t)
        # unprefixed names: of the module of the typedef (libyang 2 keeps it) or of the leaf (libyang 3)
        if not LIBYANG3:
            names.add(_addr(lref.cur_mod))
        return _expression(lref.path, lref.prefixes, module, names)
    if t.basetype == lib.LY_TYPE_INST:
        return not ffi.cast("struct lysc_type_instanceid *", t).require_instance
    if t.basetype == lib.LY_TYPE_UNION:
        return all(_type(member, module, names) for member in _array(ffi.cast("struct lysc_type_union *", t).types))
    return True


def _expression(expr: CData, prefixes: CData, module: CData, names: set[int]) -> bool:
    """Add the modules ``expr`` names to ``names``; False if it may read unnamed data."""
    text = ffi.string(lib.lyxp_get_expr(expr)).decode()
    if any(u in text for u in _UNNAMED):
        return False
    names.add(_addr(module))  # unprefixed names
    if prefixes != ffi.NULL:
        # LY_ARRAY of struct lysc_prefix {char *prefix; const struct lys_module *mod;},
        # which the binding declares opaque: read as pairs of pointers
        pairs = ffi.cast("void **", prefixes)
        for i in range(ffi.cast("uint64_t *", prefixes)[-1]):
            names.add(_addr(pairs[2 * i + 1]))
    return True
