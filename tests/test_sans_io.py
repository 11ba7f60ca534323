"""The NETCONF core takes bytes and returns events: no I/O may creep in."""

import ast
from pathlib import Path

import agent.callhome.policy
import agent.netconf

FORBIDDEN = {"asyncio", "socket", "ssl", "asyncssh", "selectors", "threading", "subprocess", "time"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_netconf_package_does_no_io():
    files = list(Path(agent.netconf.__file__).parent.glob("*.py"))
    assert len(files) >= 4
    for f in files:
        bad = imports_of(f) & FORBIDDEN
        assert not bad, f"{f.name} imports {bad}"


def test_callhome_policy_is_pure():
    assert not imports_of(Path(agent.callhome.policy.__file__)) & FORBIDDEN
