"""The one package that talks to libyang.

Everything above it sees :class:`Schema` (a compiled module set),
:class:`SchemaNode` (what a data node may be) and :class:`Tree` (a data tree
that this package allocates and frees), plus :class:`YangError` carrying
NETCONF-ready issues. tests/test_imports.py checks that no other module of
the agent imports libyang.

- ``bindings``: the libyang bindings and every difference between their two
  generations (libyang 2 and 3), nowhere else;
- ``nodes``: schema introspection (:class:`SchemaNode`, :class:`LeafType`);
- ``schema``: the context (:class:`Schema`) and its parsers;
- ``tree``: data trees (:class:`Tree`, usable with ``with``);
- ``action``: a parsed YANG action (:class:`Action`);
- ``errors``: libyang's errors classified into NETCONF issues;
- ``issue``: :class:`Issue` and :class:`YangError`, free of libyang;
- ``sids``: the schema walk that names nodes as ``.sid`` files do;
- ``xmlpath``: JSON-style data paths as XML instance-identifiers.
"""

from __future__ import annotations

from .action import Action
from .bindings import LIBYANG3
from .issue import Issue, YangError
from .nodes import NACM_NS_MODULE, SECRET_LEAVES, Kind, LeafType, SchemaNode
from .schema import Schema
from .tree import WITH_DEFAULTS, Tree, quote

__all__ = [
    "LIBYANG3",
    "NACM_NS_MODULE",
    "SECRET_LEAVES",
    "WITH_DEFAULTS",
    "Action",
    "Issue",
    "Kind",
    "LeafType",
    "Schema",
    "SchemaNode",
    "Tree",
    "YangError",
    "quote",
]
