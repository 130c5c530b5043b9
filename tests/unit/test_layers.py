"""The package's layers, read from the imports of every module: arrows only where the table allows,
no web framework below the API, and no import cycles between modules.

The table is the README's Contributing section in code; change both together.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "open311"

# The leaves every layer may import: the values, the domain errors, the clock, the languages.
LEAVES = {"values", "errors", "clock", "i18n"}
# Which layers each layer may import besides itself and the leaves. A layer is a subpackage of
# open311 (domain, db, ...) or a top-level module (config, app, cli).
ALLOWED: dict[str, set[str]] = {
    "values": set(),
    "errors": set(),
    "clock": set(),
    "i18n": set(),
    "locales": set(),  # the catalogues of i18n: data files, an empty __init__.py
    "config": set(),
    "wire": set(),
    "geodata": set(),
    "db": {"config"},
    "media": {"db"},
    "notify": {"config", "db", "wire"},
    "domain": {"db", "wire", "media", "notify", "geodata"},
    "demo": {"config", "db", "domain", "geodata"},
    "api": {"config", "db", "domain", "wire", "media"},
    "web": {"config", "db", "domain", "wire", "media", "api"},
    "app": {"config", "api", "web"},
    "package": {"app"},  # open311/__init__.py: create_app
    "serving": {"config", "wire"},
    "cluster": {"config", "db", "serving"},
    "commands": {"package", "config", "db", "domain", "wire", "media", "notify", "geodata"}
    | {"demo", "serving", "cluster"},
    "cli": {"package", "config", "commands"},
}
# Web frameworks and request parsing belong to the API (and the app and commands around it).
WEB = ("flask", "flask_smorest", "marshmallow", "webargs")
WEB_FREE = {"values", "errors", "clock", "i18n", "config", "wire", "geodata", "db", "media"}
WEB_FREE |= {"notify"}
WEB_FREE |= {"domain", "demo", "serving", "cluster"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return "package" if len(parts) == 1 else parts[1]


def _type_checking_only(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth (imports inside functions count), except those that
    only type checkers see."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


@cache
def imported(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """(modules of open311 that `module` imports, top-level names of other packages it imports)."""
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    ours: set[str] = set()
    theirs: set[str] = set()
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from open311.db import bulk` imports the module open311.db.bulk.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        for name in names:
            if name.split(".")[0] == "open311":
                ours.add(name if name in MODULES else name.rpartition(".")[0])
            else:
                theirs.add(name.split(".")[0])
    ours.discard(module)
    return frozenset(ours), frozenset(theirs)


def test_every_layer_is_in_the_table():
    assert {layer_of(module) for module in MODULES} <= set(ALLOWED)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_layer_table(module):
    layer = layer_of(module)
    allowed = ALLOWED[layer] | LEAVES | {layer}
    ours, _ = imported(module)
    wrong = sorted(name for name in ours if layer_of(name) not in allowed)
    assert not wrong, f"{module} ({layer}) may not import {wrong}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) in WEB_FREE))
def test_no_web_framework_below_the_api(module):
    _, theirs = imported(module)
    assert not sorted(theirs & set(WEB)), f"{module} imports {sorted(theirs & set(WEB))}"


def test_no_import_cycles():
    graph = {module: imported(module)[0] for module in MODULES}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            # A package's __init__ importing its own submodules is how packages work.
            if target.startswith(module + "."):
                continue
            if state.get(target) == 1:
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_table_itself_has_no_cycles():
    """A layer table with a cycle would let modules import each other in a ring."""
    order: list[str] = []
    remaining = {layer: set(deps) for layer, deps in ALLOWED.items()}
    while remaining:
        ready = sorted(layer for layer, deps in remaining.items() if not deps - set(order))
        assert ready, f"the layer table has a cycle among {sorted(remaining)}"
        order.extend(ready)
        for layer in ready:
            del remaining[layer]


def test_the_checker_sees_imports_inside_functions(tmp_path):
    """The reader is what every other test here relies on: a lazy import is an import."""
    source = "def f():\n    from open311.api import errors\n"
    tree = ast.parse(source)
    assert [node.module for node in _imports(tree)] == ["open311.api"]
