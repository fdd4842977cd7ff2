"""The import graph of mash_hub has no cycles, between packages or between modules.

Built from the source with `ast`, so it sees every import: at module level, inside
functions and under `if TYPE_CHECKING:`. A deferred import hides a cycle from Python, not
from this test. The modules are found by walking the package, never listed by hand.

A unit is a top-level package (`mash_hub.contacts`) or module (`mash_hub.config`) of
mash_hub; `mash_hub` itself (the app factory) is a unit too, so a module that imports the
factory while the factory imports it closes a cycle like any other.
"""

from __future__ import annotations

import ast
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import mash_hub

ROOT = "mash_hub"
PACKAGE_DIR = Path(mash_hub.__file__).resolve().parent


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int

    def where(self) -> str:
        return f"{self.importer}:{self.line} imports {self.imported}"


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = [ROOT, *path.relative_to(PACKAGE_DIR).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(name: str, modules: Mapping[str, Path]) -> str | None:
    """The module `name` names, or the nearest module containing it (a class, a function)."""
    while name not in modules:
        if "." not in name:
            return None
        name = name.rsplit(".", 1)[0]
    return name


def _imports(module: str, path: Path, modules: Mapping[str, Path]) -> Iterator[Import]:
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            # `from mash_hub import runtime` imports the module mash_hub.runtime.
            names = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                for alias in node.names
            ]
        for name in names:
            if name == ROOT or name.startswith(ROOT + "."):
                target = _resolve(name, modules)
                if target is not None and target != module:
                    yield Import(module, target, node.lineno)


def _unit(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _graph(unit_of: Callable[[str], str]) -> dict[str, dict[str, Import]]:
    """importer unit -> imported unit -> one import that makes the edge (the first seen)."""
    modules = _modules()
    edges: dict[str, dict[str, Import]] = defaultdict(dict)
    for module, path in modules.items():
        for found in _imports(module, path, modules):
            a, b = unit_of(found.importer), unit_of(found.imported)
            edges.setdefault(a, {})
            if a != b:
                edges[a].setdefault(b, found)
    return edges


def _strongly_connected(edges: Mapping[str, Mapping[str, Import]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively; only the components of more than one unit."""
    nodes = sorted(set(edges) | {b for targets in edges.values() for b in targets})
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in nodes:
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges.get(start, {}))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(edges.get(successor, {})))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(sorted(component))
    return components


def _shortest_cycle(component: Iterable[str], edges: Mapping[str, Mapping[str, Import]]) -> str:
    """One shortest cycle through the component's first unit, with the import of each step."""
    members = set(component)
    start = min(members)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for successor in sorted(edges.get(node, {})):
            if successor not in members:
                continue
            if successor == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                path.reverse()
                steps = [*path, start]
                return "\n".join(
                    f"    {edges[a][b].where()}" for a, b in zip(steps, steps[1:], strict=False)
                )
            if successor not in came_from:
                came_from[successor] = node
                queue.append(successor)
    raise AssertionError("a strongly connected component always has a cycle")


def _report(components: list[list[str]], edges: Mapping[str, Mapping[str, Import]]) -> str:
    return "\n".join(
        f"cycle among {', '.join(component)}, for example:\n{_shortest_cycle(component, edges)}"
        for component in components
    )


def test_the_graph_sees_every_kind_of_import():
    edges = _graph(_unit)
    assert "mash_hub.runtime" in edges["mash_hub.audit"]  # at module level
    assert "mash_hub.identity" in edges["mash_hub.cli"]  # only inside a command
    assert {"mash_hub.contacts", "mash_hub.sharing", "mash_hub.firewall"} <= set(edges)


def test_no_cycle_between_packages():
    edges = _graph(_unit)
    components = _strongly_connected(edges)
    assert not components, "packages of mash_hub import each other in a cycle:\n" + _report(
        components, edges
    )


def test_no_cycle_between_modules():
    edges = _graph(lambda module: module)
    components = _strongly_connected(edges)
    assert not components, "modules of mash_hub import each other in a cycle:\n" + _report(
        components, edges
    )


def test_a_cycle_is_found_and_named():
    edges: dict[str, dict[str, Import]] = {
        "a": {"b": Import("a.x", "b.y", 3)},
        "b": {"c": Import("b.y", "c.z", 5)},
        "c": {"a": Import("c.z", "a.x", 7), "d": Import("c.z", "d", 1)},
        "d": {},
    }
    components = _strongly_connected(edges)
    assert components == [["a", "b", "c"]]
    assert _report(components, edges) == (
        "cycle among a, b, c, for example:\n"
        "    a.x:3 imports b.y\n"
        "    b.y:5 imports c.z\n"
        "    c.z:7 imports a.x"
    )
