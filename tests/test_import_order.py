"""Imports flow one way, lazy imports included: no circle, no arrow upwards.

The layers, bottom first (DESIGN.md): the rules every module shares; what a case and a
stratum are; the statistics; what builds on them (strata, detectors, figures, adapters,
data sets); the audit; the command line and the top-level package. A module may import
from its own layer or below, never above, and no two modules may import each other,
directly or around a circle. Imports only for type checkers (``if TYPE_CHECKING:``)
do not count: they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "hstrat"

LAYERS = [
    {"_version", "exceptions", "_validation", "_io", "_parallel"},
    {"_align", "_stratum", "_predictions"},
    {"metrics"},
    {"strata", "detect", "plot", "adapters", "datasets"},
    {"_audit"},
    {"_demo", "cli", "__main__", "_show_versions", ""},
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_imports(path: Path) -> set[str]:
    """Modules of hstrat that ``path`` imports when it runs (TYPE_CHECKING blocks skipped)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if node.module is None:  # from . import x: each name is a module or an attribute
                found |= {f"{target}.{a.name}" for a in node.names}
            else:
                found.add(target)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {t for t in found if t == "hstrat" or t.startswith("hstrat.")}


def unit(module: str) -> str:
    """The top-level unit of a module: ``hstrat.metrics._auc`` -> ``metrics``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer(module: str) -> int:
    for i, members in enumerate(LAYERS):
        if unit(module) in members:
            return i
    raise AssertionError(f"{module} is in no layer; add its unit to LAYERS")


MODULES = {module_name(p): runtime_imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(target: str) -> str | None:
    """The module a dotted import names (``hstrat.strata.Schema`` -> ``hstrat.strata``)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_points_upwards(module):
    for target in MODULES[module]:
        resolved = resolve(target)
        assert resolved is not None, f"{module} imports {target}, which does not exist"
        assert layer(resolved) <= layer(module), f"{module} imports {resolved} from above"


def test_no_import_circle():
    graph = {m: {r for t in ts if (r := resolve(t)) and r != m} for m, ts in MODULES.items()}
    # a package's __init__ re-exporting its own modules is not a circle with them
    for m in graph:
        graph[m] = {t for t in graph[m] if not (m.startswith(t + ".") and t in MODULES)}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                circle = [*path[path.index(t) :], t]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if t not in state:
                visit(t)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
