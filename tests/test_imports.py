"""The package's import graph: no cycles, and imports flow one way (the redesign issue).

Module-level imports are read from the source with ``ast`` (imports inside functions are the
deliberate lazy exceptions and do not count), resolved to package modules, and searched for
cycles. ``runtime`` must import nothing from the package above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "relucourse"


def module_name(path: Path) -> str:
    parts = ["relucourse", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def top_level_imports(path: Path) -> set[str]:
    """Package modules imported at module level (not inside functions or TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("relucourse"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("relucourse"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names
                         if f"{node.module}.{a.name}" in MODULES)
    return {m for m in found if m in MODULES}


GRAPH = {name: top_level_imports(path) - {name} for name, path in MODULES.items()}


def parents(name: str) -> set[str]:
    """Importing a.b.c runs a/__init__ and a/b/__init__ first."""
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))} & set(MODULES)


def find_cycle() -> list[str] | None:
    edges = {n: (deps | set().union(*(parents(d) for d in deps))) - parents(n) - {n}
             for n, deps in GRAPH.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_package_has_no_import_cycle() -> None:
    assert find_cycle() is None, " -> ".join(find_cycle() or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    GRAPH["relucourse.stats"].add("relucourse.plots")  # plots -> records -> stats -> plots
    try:
        assert find_cycle() is not None
    finally:
        GRAPH["relucourse.stats"].discard("relucourse.plots")


@pytest.mark.parametrize("module", ["relucourse.runtime", "relucourse.config", "relucourse.answers",
                                    "relucourse.stats"])
def test_the_bottom_of_the_stack_imports_nothing_above_it(module: str) -> None:
    allowed = {"relucourse.runtime": set(), "relucourse.config": set(),
               "relucourse.answers": set(), "relucourse.stats": set()}[module]
    assert GRAPH[module] <= allowed, GRAPH[module]


def test_plots_sit_on_records_not_on_models_or_training() -> None:
    assert not GRAPH["relucourse.plots"] & {"relucourse.models", "relucourse.train",
                                             "relucourse.experiments", "relucourse.probes"}
