"""The agent's import structure, read from its source with ast (nothing is
imported): libyang only behind agent/yang/."""

from __future__ import annotations

import ast
from pathlib import Path

AGENT = Path(__file__).resolve().parent.parent / "agent"


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of agent/."""
    out = {}
    for path in sorted(AGENT.rglob("*.py")):
        parts = list(path.relative_to(AGENT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imported(module: str, path: Path) -> list[tuple[str, int]]:
    """(absolute name, line) of every import in the module, at module level
    or inside functions; relative imports resolved; ``from x import y``
    gives both x and x.y (y may be a submodule)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((name, node.lineno))
            found += [(f"{name}.{alias.name}", node.lineno) for alias in node.names]
    return found


def test_nothing_outside_agent_yang_imports_libyang():
    offenders = []
    for module, path in _modules().items():
        if module == "agent.yang" or module.startswith("agent.yang."):
            continue
        for name, line in _imported(module, path):
            if name.split(".")[0] in ("libyang", "_libyang"):
                offenders.append(f"{path.relative_to(AGENT.parent)}:{line} imports {name}")
    assert offenders == []


def test_the_libyang_check_sees_imports_inside_functions(tmp_path):
    # the check above would pass vacuously if function-level imports were missed
    p = tmp_path / "m.py"
    p.write_text("def f():\n    from _libyang import lib\n")
    assert ("_libyang", 2) in _imported("agent.m", p)
