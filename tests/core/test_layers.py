"""The layers of docs/architecture.md ("Layers"), read from the source: no module imports from a
layer above its own, and no import closes a cycle, not even one inside a function.

Every ``import`` and ``from ... import`` of ``scanner`` and ``probes`` is read with ``ast``, at
module level and inside functions alike (``if TYPE_CHECKING:`` blocks are skipped: they never
run). A function-level import is fine for start-up speed (``nasscan --help`` imports no scan
machinery: tests/core/test_startup.py), never to dodge a cycle: with every function-level import
counted as a module-level one, the import graph must have no cycle.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from repo_paths import REPO_ROOT

PACKAGES = ("scanner", "probes")

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # (name, module prefixes), lowest first: a module may import its own layer and those below.
    ("foundation", ("scanner", "scanner._version", "scanner.redact", "scanner.personal",
                    "scanner.masking", "scanner.limits", "scanner.pacing", "scanner.ports",
                    "scanner.targets", "scanner.catchall", "scanner.dialer")),
    ("protocols", ("scanner.protocols",)),
    ("model", ("scanner.models", "scanner.classify", "scanner.triage", "scanner.diff")),
    ("probe framework", ("scanner.probe", "scanner.registry", "scanner.credentials",
                         "scanner.crawl", "scanner.identify",
                         "scanner.probe_skeleton", "scanner.http_samples")),  # (issue 18 work)
    ("probes", ("probes",)),
    ("engine", ("scanner.sweep", "scanner.sweep_types", "scanner.synscan", "scanner.udpsweep",
                "scanner.engine")),
    ("reports", ("scanner.report", "scanner.outputs")),
    ("requests, history, fleet, lab", ("scanner.request", "scanner.history", "scanner.fleet",
                                       "scanner.lab")),
    ("command-line parts", ("scanner.cli_common", "scanner.scan_options")),
    ("command line", ("scanner.cli", "scanner.history.cli", "scanner.fleet.cli",
                      "scanner.lab.cli")),
]  # fmt: skip


# Function-level imports allowed to close a cycle, each with its reason (none now; keep it so):
# a new entry needs a reason that is not "it would be a cycle otherwise".
ALLOWED_CYCLE_EDGES: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    line: int
    in_function: bool


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {
        module_name(p): p
        for pkg in PACKAGES
        for p in sorted((REPO_ROOT / pkg).rglob("*.py"))
        if "data" not in p.relative_to(REPO_ROOT / pkg).parts  # lab data: scripts, not modules
    }


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """Every import of one of ``modules`` by ``name``, with where it is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def walk(node: ast.AST, in_function: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                yield from (i for n in child.orelse for i in walk_one(n, in_function))
                continue
            yield from walk_one(child, in_function)

    def walk_one(node: ast.AST, in_function: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from found(alias.name, node.lineno, in_function)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            yield from found(base, node.lineno, in_function)
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:  # `from scanner import masking`
                    yield from found(f"{base}.{alias.name}", node.lineno, in_function)
        else:
            inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            yield from walk(node, inner)

    def found(target: str, line: int, in_function: bool) -> Iterator[Import]:
        if target in modules and target != name and not name.startswith(target + "."):
            # (a module's own package is initialised already: no edge to it)
            yield Import(name, target, line, in_function)
            # importing a.b.c runs the __init__ of a.b first (unless the importer is inside a.b)
            parent = target.rpartition(".")[0]
            while parent and not (name == parent or name.startswith(parent + ".")):
                if parent in modules:
                    yield Import(name, parent, line, in_function)
                parent = parent.rpartition(".")[0]

    yield from walk(ast.parse(path.read_text(), str(path)), False)


EXACT = frozenset({"scanner"})
"""Names that stand for the package's __init__ alone: a new ``scanner.x`` needs its own entry."""


def layer_of(module: str) -> int:
    best, best_len = -1, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            below = module.startswith(prefix + ".") and prefix not in EXACT
            if (module == prefix or below) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    return best


@pytest.fixture(scope="module")
def graph() -> list[Import]:
    modules = all_modules()
    return [i for name, path in modules.items() for i in imports_of(name, path, modules)]


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in all_modules() if layer_of(m) < 0]
    assert unplaced == [], f"add these modules to LAYERS (and docs/architecture.md): {unplaced}"


def test_no_import_reaches_a_higher_layer(graph: list[Import]) -> None:
    upward = [
        f"{i.importer}:{i.line} ({LAYERS[layer_of(i.importer)][0]}) imports {i.imported} "
        f"({LAYERS[layer_of(i.imported)][0]})"
        for i in graph
        if layer_of(i.imported) > layer_of(i.importer)
    ]
    assert upward == []


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in sorted(edges):
        if state.get(start):
            continue
        path = [start]
        stack = [iter(sorted(edges.get(start, ())))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(edges.get(nxt, ()))))
    return None


def test_no_import_closes_a_cycle_even_inside_a_function(graph: list[Import]) -> None:
    edges: dict[str, set[str]] = {}
    for i in graph:
        if (i.importer, i.imported) not in ALLOWED_CYCLE_EDGES:
            edges.setdefault(i.importer, set()).add(i.imported)
    cycle = _cycle(edges)
    where = {(i.importer, i.imported): i for i in graph}
    assert cycle is None, "import cycle: " + " -> ".join(cycle) + "; " + ", ".join(
        f"{a}:{where[a, b].line}{' (in a function)' if where[a, b].in_function else ''}"
        for a, b in itertools.pairwise(cycle)
    )


def test_allowed_cycle_edges_are_function_level_and_still_needed(graph: list[Import]) -> None:
    """An allowed edge is a function-level import that exists, and without the allowance it
    would close a cycle (otherwise the entry is stale: remove it)."""
    for (a, b), reason in ALLOWED_CYCLE_EDGES.items():
        found = [i for i in graph if (i.importer, i.imported) == (a, b)]
        assert found and all(i.in_function for i in found), (a, b)
        assert reason
        edges: dict[str, set[str]] = {}
        for i in graph:
            edges.setdefault(i.importer, set()).add(i.imported)
        cycle = _cycle({k: v - {b} if k == a else v for k, v in edges.items()})
        assert cycle is None or a not in cycle, "another cycle runs through it"
        assert _cycle(edges) is not None, f"{a} -> {b} closes no cycle any more: remove it"


def test_the_checks_see_imports_in_functions_and_skip_type_checking(tmp_path: Path) -> None:
    """The reader itself: a function-level import is an edge, a TYPE_CHECKING one is not, a
    relative import resolves, and importing a submodule counts its package's __init__."""
    src = tmp_path / "m.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from scanner.engine import Engine\n"
        "def f():\n    from scanner.report import console\n"
        "from .b import x\n"
    )
    modules = {n: Path() for n in ("p.m", "p.b", "scanner.engine", "scanner.report",
                                    "scanner.report.console")}  # fmt: skip
    found = {(i.imported, i.in_function) for i in imports_of("p.m", src, modules)}
    assert found == {("scanner.report", True), ("scanner.report.console", True), ("p.b", False)}
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None
    assert layer_of("scanner.history.cli") > layer_of("scanner.history.store")
    assert layer_of("scanner.report.html") < layer_of("scanner.history.store")
    # (the parts both command lines share sit below them: no prefix match of scanner.cli)
    assert layer_of("scanner.cli_common") < layer_of("scanner.cli") == layer_of("scanner.fleet.cli")
    assert layer_of("scanner.not_placed_yet") == -1 and layer_of("probes.new") >= 0
