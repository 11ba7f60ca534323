"""This project's YANG SIDs (RFC 9595), read from the ``.sid`` files in
``agent/sid/`` (plain JSON, shipped with the package; pyang only makes them,
see tools/sids).

A :class:`SidMap` binds them to a compiled schema: the SID of each data node
and identity that has one, and back. Nodes without a SID are encoded by name.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..yang import Schema, SchemaNode

SID_DIR = Path(__file__).resolve().parent.parent / "sid"
#: every SID ever allocated; used by tools/sids and tests, not at run time
LEDGER = SID_DIR / "allocations.tsv"


def read_sid_file(path: Path) -> dict[str, Any]:
    content: dict[str, Any] = json.loads(Path(path).read_text())["ietf-sid-file:sid-file"]
    content.setdefault("item", [])
    content.setdefault("assignment-range", [])
    return content


def read_ledger(path: Path = LEDGER) -> list[tuple[int, str, str, str]]:
    """(SID, namespace, module, identifier) of every SID allocated so far."""
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            if line and not line.startswith("#"):
                sid, namespace, module, identifier = line.split("\t")
                rows.append((int(sid), namespace, module, identifier))
    return rows


class SidMap:
    def __init__(self, schema: Schema, sid_dir: Path = SID_DIR) -> None:
        self.schema = schema  # the nodes below are its nodes: keep it alive
        data: dict[str, int] = {}
        #: "module:identity" <-> SID
        self.identity_sid: dict[str, int] = {}
        self.identity_of: dict[int, str] = {}
        #: SID -> what it names, for messages and diagnostic notation
        self.names: dict[int, str] = {}
        lines = []
        for path in sorted(Path(sid_dir).glob("*.sid")):
            content = read_sid_file(path)
            module = content["module-name"]
            for item in content["item"]:
                sid, namespace, identifier = int(item["sid"]), item["namespace"], item["identifier"]
                lines.append(f"{sid} {namespace} {module} {identifier}")
                if namespace == "data":
                    data[identifier] = sid
                    self.names[sid] = identifier
                elif namespace == "identity":
                    self.identity_sid[f"{module}:{identifier}"] = sid
                    self.identity_of[sid] = f"{module}:{identifier}"
                    self.names[sid] = f"{module}:{identifier}"
        #: identifies the SID set; stored in every file header (persist.py)
        self.digest = hashlib.sha256("\n".join(sorted(lines)).encode()).digest()[:8]
        self._sid_of: dict[int, int] = {}
        self._node_of: dict[int, SchemaNode] = {}
        for node, identifier in schema.sid_identifiers():
            found = data.get(identifier)
            if found is not None:
                sid = found
                self._sid_of[node.key] = sid
                self._node_of[sid] = node

    def sid(self, node: SchemaNode) -> int | None:
        return self._sid_of.get(node.key)

    def node(self, sid: int) -> SchemaNode | None:
        return self._node_of.get(sid)
