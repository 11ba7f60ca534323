"""Reading the initial configuration file (XML or RFC 7951 JSON, given with
--config and used while nothing is stored) with errors that name the
offending node. The stored configuration is :class:`agent.datastore.persist.StartupStore`."""

from __future__ import annotations

from pathlib import Path

from .datastore.edit import apply_edit
from .datastore.store import rpc_error_from
from .netconf.errors import RpcError
from .netconf.xmltree import NS_BASE, Element, XmlError, parse
from .yang import Schema, Tree, YangError


class InitialConfigError(Exception):
    pass


def load(schema: Schema, path: Path) -> Tree:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InitialConfigError(f"{path}: {exc.strerror}") from None
    return read(schema, raw, path)


def read(schema: Schema, raw: bytes | str, path: Path | str) -> Tree:
    """A configuration document (XML or RFC 7951 JSON), validated; errors name ``path``."""
    if isinstance(raw, str):
        raw = raw.encode()
    if raw.lstrip()[:1] == b"{":
        try:
            return schema.parse(raw, "json")
        except YangError as exc:
            raise InitialConfigError(f"{path}: {_describe(exc.issues[0].message, exc.issues[0].path)}") from None
    try:
        root = parse(raw)
    except XmlError as exc:
        raise InitialConfigError(f"{path}: {exc}") from None
    if root.ns == NS_BASE and root.name in ("config", "data"):
        wrapper = root
    else:
        wrapper = Element(NS_BASE, "config")
        wrapper.children.append(root)
    tree = schema.empty()
    try:
        apply_edit(schema, tree, wrapper, "merge")
        tree.validate()
    except RpcError as exc:
        tree.free()
        raise InitialConfigError(f"{path}: {_describe(exc.message, exc.path)}") from None
    except YangError as exc:
        tree.free()
        err = rpc_error_from(exc, schema)
        raise InitialConfigError(f"{path}: {_describe(err.message, exc.issues[0].path)}") from None
    return tree


def _describe(message: str, path: str | None) -> str:
    return f"{path}: {message}" if path else message
