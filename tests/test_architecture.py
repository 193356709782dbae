"""The layering rule of docs/architecture.md, checked on every import in the product packages.

Every ``import``/``from ... import`` counts, wherever it stands (module level, inside a function,
under ``if TYPE_CHECKING:``), because a function-level import is still a dependency and a
type-only import still ties two modules together. The checks:

- an import between top-level packages runs only downward through ``LAYERS``;
- packages on the same level (``qa`` and ``recommendations``) never import each other;
- no cycle between files (strongly connected components of the file import graph);
- ``inference/`` imports no Django, DRF or Celery (it is the Django-free layer).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Bottom to top; a tuple is one level whose members may not import each other.
LAYERS: list[tuple[str, ...]] = [
    ("portal",),
    ("tenants",),
    ("usage",),
    ("inference",),
    ("models_registry",),
    ("documents",),
    ("qa", "recommendations"),
    ("deploy",),
    ("demo",),
]
LEVEL = {pkg: i for i, level in enumerate(LAYERS) for pkg in level}
DJANGO_FREE = {"inference": ("django", "rest_framework", "drf_spectacular", "celery", "kombu")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def product_modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for pkg in LEVEL:
        base = ROOT / pkg
        if not base.is_dir():
            continue
        for path in base.rglob("*.py"):
            mods[_module_name(path)] = path
    return mods


def _imported_names(path: Path, module: str) -> Iterator[tuple[str, int]]:
    """Every dotted name an import statement in ``path`` reaches, with its line number."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                keep = len(base) - node.level + (1 if is_package else 0)
                prefix = ".".join(base[:keep] + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # ``from pkg import mod`` imports the submodule ``pkg.mod``; ``from mod import name``
            # imports ``mod`` (``_resolve`` finds the longest module prefix of ``mod.name``).
            for alias in node.names:
                yield f"{prefix}.{alias.name}", node.lineno


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The product module a dotted name lives in (longest matching prefix), if any."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in modules:
            return candidate
    return None


@cache
def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported product module: first line}"""
    modules = product_modules()
    graph: dict[str, dict[str, int]] = defaultdict(dict)
    for module, path in modules.items():
        for name, line in _imported_names(path, module):
            target = _resolve(name, modules)
            if target is not None and target != module:
                graph[module].setdefault(target, line)
    return graph


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def test_the_layers_cover_every_product_package():
    on_disk = {p.name for p in ROOT.iterdir() if (p / "apps.py").exists() or (p / "__init__.py").exists()}
    unknown = on_disk - set(LEVEL) - {"tests", "bench", "scripts"}
    assert not unknown, f"packages missing from docs/architecture.md's layers: {sorted(unknown)}"
    assert {"inference", "qa", "demo"} <= set(LEVEL)


def test_imports_only_run_downward():
    upward = []
    for module, targets in import_graph().items():
        src = _top(module)
        for target, line in targets.items():
            dst = _top(target)
            if src == dst:
                continue
            if LEVEL[dst] >= LEVEL[src]:
                where = product_modules()[module].relative_to(ROOT)
                kind = "sideways" if LEVEL[dst] == LEVEL[src] else "upward"
                upward.append(f"{where}:{line}: {module} -> {target} ({kind})")
    assert not upward, "imports that do not run downward:\n" + "\n".join(sorted(upward))


def _strongly_connected(graph: dict[str, dict[str, int]], nodes: list[str]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:  # Tarjan's algorithm (the import chains are shallow)
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in nodes:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_between_files():
    cycles = _strongly_connected(import_graph(), sorted(product_modules()))
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("package", sorted(DJANGO_FREE))
def test_django_free_layer_imports_no_framework(package):
    banned = DJANGO_FREE[package]
    hits = []
    for module, path in product_modules().items():
        if _top(module) != package:
            continue
        for name, line in _imported_names(path, module):
            if name.split(".", 1)[0] in banned:
                hits.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not hits, f"{package}/ must not import a web framework or task queue:\n" + "\n".join(sorted(set(hits)))


def test_the_checker_sees_function_level_and_type_checking_imports(tmp_path):
    """Guard against a checker that silently passes: it must see every kind of import."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from deploy.models import Deployment\n"
        "def f():\n    from documents import models\n"
        "import tenants.models\n"
    )
    names = {n for n, _ in _imported_names(sample, "sample")}
    assert {"deploy.models.Deployment", "documents.models", "tenants.models"} <= names
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert _strongly_connected(graph, ["a", "b", "c", "d"]) == [["a", "b", "c"]]
    assert _resolve("documents.models.Document", {"documents.models": Path("x")}) == "documents.models"
