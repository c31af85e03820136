"""The import graph of the router, the engine and proto is a DAG, and the layers hold:
router/ depends on proto/ only (never on node/), node/ never on router/, proto/ on
neither.

Every import statement counts, wherever it is: at the top, inside a function, or under
`if TYPE_CHECKING:` (a cycle hidden there is still two modules that cannot be understood
one without the other). `from package import name` is an edge to package.name when that
is a module, else to the package; a package's own __init__ importing its modules is not
an edge back from them (importing a.b.c runs a and a.b first, but a.b.c does not depend
on what a's __init__ defines unless it imports it)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where cycles are looked for. node/raft has one of its own (core <-> validate under
# TYPE_CHECKING), outside the engine and the router: not checked here yet.
ACYCLIC = ("router", "proto", "node/engine", "slotraft")
LAYERS = ("router", "node", "proto", "slotraft", "chaos")


def modules_under(root: Path, folders: tuple[str, ...]) -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is a package's __init__) for the .py files under `folders`."""
    found: dict[str, tuple[Path, bool]] = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            found[".".join(parts)] = (path, is_package)
    return found


def imports_of(name: str, path: Path, is_package: bool, known: set[str]) -> set[str]:
    """The modules of `known` that module `name` imports (relative imports resolved)."""
    package = name if is_package else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.add(submodule if submodule in known else base)
    return {target for target in targets if target in known and target != name}


def import_graph(root: Path, folders: tuple[str, ...]) -> dict[str, set[str]]:
    modules = modules_under(root, folders)
    known = set(modules)
    return {name: imports_of(name, *modules[name], known) for name in modules}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_router_the_engine_and_proto_import_no_cycle():
    assert cycles(import_graph(ROOT, ACYCLIC)) == []


def test_the_router_depends_on_proto_not_on_the_node_and_the_node_not_on_the_router():
    graph = import_graph(ROOT, LAYERS)
    refused = {
        "router": ("node", "slotraft", "chaos"),
        "node": ("router", "slotraft", "chaos"),
        "proto": ("router", "node", "slotraft", "chaos"),
    }
    crossings = [
        f"{module} imports {target}"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if target.split(".")[0] in refused.get(module.split(".")[0], ())
    ]
    assert crossings == []


def test_the_checker_sees_a_cycle_hidden_under_type_checking_and_in_a_function(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from pkg import a\n")
    (package / "a.py").write_text("from pkg.b import B\n")
    (package / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import c\nB = 1\n"
    )
    (package / "c.py").write_text("def f():\n    from . import a\n")
    (package / "d.py").write_text("import pkg.a\n")
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.c"] == {"pkg.a"}
    assert graph["pkg.d"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
    (package / "c.py").write_text("")
    assert cycles(import_graph(tmp_path, ("pkg",))) == []
