"""The agent's import structure, read from its source with ast (nothing is
imported): libyang only behind agent/yang/."""

from __future__ import annotations

import ast
import sys
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


def _imports_in(tree: ast.AST, package: str) -> list[tuple[str, int]]:
    """(absolute name, line) of every import in ``tree``, at module level or
    inside functions; relative imports resolved against ``package``;
    ``from x import y`` gives both x and x.y (y may be a submodule)."""
    found = []
    for node in ast.walk(tree):
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


def _package(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _imported(module: str, path: Path) -> list[tuple[str, int]]:
    return _imports_in(ast.parse(path.read_text(), str(path)), _package(module, path))


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


def _graph(annotations: bool = False) -> dict[str, set[str]]:
    """module -> the agent modules it imports, at run time (imports under
    ``if TYPE_CHECKING:`` are for annotations only and left out unless
    ``annotations``)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not annotations and isinstance(node, ast.If) and _is_type_checking(node.test):
                node.body = []
        names = {name for name, _ in _imports_in(tree, _package(module, path))}
        # "from pkg import mod" depends on mod, not on pkg's own code beyond
        # what mod's import runs anyway
        graph[module] = {
            n for n in names
            if n in modules and n != module and not any(m.startswith(n + ".") and m in modules for m in names)
        }
    return graph


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one
    module (Tarjan), as the path that closes it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    cycles = []
    for component in components:
        start = min(component)
        cycles.append([start] + (_path_back(graph, component, start, start, {start}) or []))
    return cycles


def _path_back(graph: dict[str, set[str]], component: set[str], v: str, start: str, seen: set[str]) -> list[str] | None:
    """A path from ``v`` back to ``start`` inside ``component``."""
    for w in sorted(graph[v] & component):
        if w == start:
            return [w]
        if w not in seen:
            seen.add(w)
            rest = _path_back(graph, component, w, start, seen)
            if rest is not None:
                return [w, *rest]
    return None


def test_the_agent_imports_form_no_cycle():
    assert [" -> ".join(c) for c in _cycles(_graph())] == []


def test_the_cycle_check_finds_a_cycle_and_ignores_annotations_only_imports():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_has_function_level_imports_and_not_type_checking_ones():
    g = _graph()
    assert "agent.yang.schema" not in g["agent.yang.tree"]  # under TYPE_CHECKING only
    assert "agent.yang.tree" in g["agent.yang.schema"]


def test_only_the_entry_points_import_the_composition_root():
    """agent.daemon wires everything: a module that imports it (for a helper,
    or to read through the Agent, even for annotations only) closes a loop
    through the whole agent."""
    importers = sorted(m for m, deps in _graph(annotations=True).items() if "agent.daemon" in deps)
    assert importers == ["agent.cli", "agent.demo"]


def test_the_daemon_wires_components_through_their_constructors():
    """No hook is set on a component after it is built (``x.hook = f``), the
    board's included: what a component is connected to is in its
    constructor's arguments."""
    tree = ast.parse((AGENT / "daemon.py").read_text())
    late = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Attribute) and not (isinstance(t.value, ast.Name) and t.value.id == "self"):
                    late.append(f"daemon.py:{node.lineno} {ast.unparse(t)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "append":
            if isinstance(node.func.value, ast.Attribute) and node.func.value.attr.endswith("providers"):
                late.append(f"daemon.py:{node.lineno} {ast.unparse(node.func)}")
    assert late == []


#: what the composition root builds; the rest of the agent is handed them
COMPONENTS = {"Nacm", "Notifications", "PluginHost", "Datastore", "NetconfServer", "CallHomeManager"}


def _calls_of(tree: ast.AST, names: set[str]) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name in names:
                found.append((name, node.lineno))
    return found


def test_only_the_composition_root_builds_components():
    """The server is handed its NACM and notifications, the call-home manager
    its server: a component that built another would hide a second wiring
    place."""
    built = [
        f"{path.relative_to(AGENT.parent)}:{line} builds {name}"
        for module, path in _modules().items() if module != "agent.daemon"
        for name, line in _calls_of(ast.parse(path.read_text()), COMPONENTS)
    ]
    assert built == []
    daemon = {name for name, _ in _calls_of(ast.parse((AGENT / "daemon.py").read_text()), COMPONENTS)}
    assert daemon == COMPONENTS  # the check above looks for the names the daemon uses


def _handed(cls: ast.ClassDef) -> tuple[ast.FunctionDef, set[str]]:
    init = next(f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__")
    return init, {a.arg for a in init.args.args + init.args.kwonlyargs} - {"self"}


def test_no_component_sets_a_hook_on_what_it_is_handed():
    """A constructor keeps what it is given as given (the server used to set
    its notifications' access check): no ``arg.x = ...`` nor ``self.arg.x = ...``."""
    late = []
    for path in AGENT.rglob("*.py"):
        for cls in ast.walk(ast.parse(path.read_text())):
            if not isinstance(cls, ast.ClassDef) or cls.name not in COMPONENTS or "__init__" not in {
                    f.name for f in cls.body if isinstance(f, ast.FunctionDef)}:
                continue
            init, args = _handed(cls)
            for node in ast.walk(init):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                    node, (ast.AnnAssign, ast.AugAssign)) else []
                for t in targets:
                    if not isinstance(t, ast.Attribute):
                        continue
                    base = t.value
                    if isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name) and base.value.id == "self":
                        name = base.attr
                    elif isinstance(base, ast.Name) and base.id != "self":
                        name = base.id
                    else:
                        continue
                    if name in args:
                        late.append(f"{cls.name}.__init__:{node.lineno} {ast.unparse(t)}")
    assert late == []


def test_the_hook_check_sees_a_hook_set_on_an_argument(tmp_path, monkeypatch):
    # the two checks above would pass vacuously if they missed the old forms
    p = tmp_path / "agent"
    p.mkdir()
    (p / "daemon.py").write_text("def start(board):\n    board.slots.on_reboot = f\n")
    (p / "server.py").write_text(
        "class NetconfServer:\n    def __init__(self, schema, notifications):\n"
        "        self.notifications = notifications\n        self.notifications.access = self.nacm.can_notify\n"
        "        self.nacm = Nacm(schema)\n")
    monkeypatch.setattr(sys.modules[__name__], "AGENT", p)
    for check in (test_the_daemon_wires_components_through_their_constructors,
                  test_no_component_sets_a_hook_on_what_it_is_handed):
        try:
            check()
        except AssertionError:
            continue
        raise AssertionError(f"{check.__name__} missed the hook")
    assert [n for n, _ in _calls_of(ast.parse((p / "server.py").read_text()), COMPONENTS)] == ["Nacm"]
