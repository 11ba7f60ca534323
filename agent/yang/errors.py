"""libyang's stored errors -> NETCONF issues: error-tag and error-app-tag
from libyang's app-tag or code where it sets one, else from a table of its
message starts (tests/test_yang_errors.py: one test a row), and the data
path of the instance concerned."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .bindings import LIBYANG3, CData, _err_location, _s, _str, ffi, lib
from .issue import Issue
from .nodes import _schema_data_path

if TYPE_CHECKING:
    from .schema import Schema
    from .tree import Tree


def _drain_text(ctx_cdata: CData) -> str:
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
    name = _str(node.name)
    if parent == ffi.NULL:
        return _schema_data_path(node)
    for inst in tree.xpath(_schema_data_path(parent)):
        if tree.find_child(inst, name) is None:
            return tree.path_of(inst) + "/" + name
    return None


def _find_schema_with_choices(schema: Schema, schema_path: str) -> CData | None:
    steps = [s for s in schema_path.strip("/").split("/") if s]
    node = ffi.NULL
    module = ""
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
