"""The arrows between the parts of digest/ point one way: no module imports one that (directly
or not) imports it back, and no part of digest/ imports another that imports it back. web, cli
and workers call digest; digest never imports them (except that web and cli import workers.tasks,
deferred, to enqueue after commit: docs/layers.md explains it)."""

from __future__ import annotations

import ast
import pathlib
from collections import defaultdict

ROOT = pathlib.Path(__file__).resolve().parents[1]
# The surfaces: they call the rest of digest, nothing below calls them.
SURFACES = {"digest.web", "digest.cli", "digest.__main__"}
# Explained in docs/layers.md: a surface of digest enqueues a task after commit.
ENQUEUES = {"digest.web", "digest.cli"}


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in (ROOT / "digest").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: pathlib.Path) -> set[str]:
    """Every module named by an import anywhere in the file (deferred imports included)."""
    named = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            named.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            named.add(node.module)
            named.update(f"{node.module}.{alias.name}" for alias in node.names)
    return named


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {target for target in _imports(path) if target in modules and target != name}
            for name, path in modules.items()}


def _part(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, if it has any (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_module_imports_itself_back():
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle)


def test_no_part_of_digest_imports_itself_back():
    parts: dict[str, set[str]] = defaultdict(set)
    for module, targets in _graph().items():
        parts[_part(module)].update(_part(t) for t in targets if _part(t) != _part(module))
    cycle = _cycle(parts)
    assert cycle is None, " -> ".join(cycle)


def test_nothing_below_the_surfaces_imports_them_or_the_workers():
    for module, path in _modules().items():
        if _part(module) in SURFACES:
            continue
        named = _imports(path)
        assert not {_part(name) for name in named} & SURFACES, f"{module} imports a surface"
        if _part(module) not in ENQUEUES:
            assert not any(name == "workers" or name.startswith("workers.") for name in named), \
                f"{module} imports workers"
