"""The import rule of gradcheck_ci/__init__.py's docstring, enforced: every module sits in one
layer, imports only from its own layer or lower ones, never in a cycle, and never takes a private
name from another module.

Imports are read from the source (AST), including the ones inside functions: a lazy import is still
a dependency, it only moves the moment it is paid for. That the lower layers really import without
the numerical stack needs a fresh interpreter: tests/integration/test_light_imports.py.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "gradcheck_ci"
PACKAGES = ("gradcheck_ci", "entrypoint")
LAYER_LINE = re.compile(r"^\s+(\d+)\s+\S+\s+((?:[\w/.]+ )*[\w/.]+)\s{2,}")


def layer_table() -> dict[str, int]:
    """unit -> layer, from the docstring's table ('  3  report   report/   what it does')."""
    import gradcheck_ci

    table: dict[str, int] = {}
    for line in (gradcheck_ci.__doc__ or "").splitlines():
        match = LAYER_LINE.match(line + "  ")
        if match:
            for unit in match.group(2).split():
                table[unit.rstrip("/")] = int(match.group(1))
    return table


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def unit_of(module: str) -> str:
    """The table's unit for a module: 'gradcheck_ci.diagnose.graph' -> 'diagnose'; entrypoint.* ->
    'entrypoint'."""
    parts = module.split(".")
    if parts[0] == "entrypoint":
        return "entrypoint"
    return parts[1] if len(parts) > 1 else "gradcheck_ci"


def imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import of a project module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    found.append((alias.name, [], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] not in PACKAGES:
                continue
            names = [alias.name for alias in node.names]
            submodules = [n for n in names if f"{target}.{n}" in known]
            for name in submodules:
                found.append((f"{target}.{name}", [], node.lineno))
            rest = [n for n in names if n not in submodules]
            if rest or not submodules:
                found.append((target, rest, node.lineno))
    return found


def graph() -> dict[str, list[tuple[str, list[str], int]]]:
    """module -> its imports. Importing a.b.c runs a.b's __init__ first: that counts as importing
    a.b too, unless a.b is a package the importing module itself lives in (it is already running
    then)."""
    known = modules()
    edges = {}
    for name, path in known.items():
        found = imports(name, path, known)
        for target, _, line in list(found):
            parts = target.split(".")
            for cut in range(2, len(parts)):
                parent = ".".join(parts[:cut])
                if parent in known and not (name + ".").startswith(parent + "."):
                    found.append((parent, [], line))
        edges[name] = found
    return edges


def upward_imports(
    table: dict[str, int], edges: dict[str, list[tuple[str, list[str], int]]]
) -> list[str]:
    bad = []
    for source, targets in edges.items():
        for target, _, line in targets:
            if table[unit_of(target)] > table[unit_of(source)]:
                bad.append(
                    f"{source}:{line} imports {target} (layer {table[unit_of(target)]} above "
                    f"{table[unit_of(source)]})"
                )
    return bad


def private_imports(edges: dict[str, list[tuple[str, list[str], int]]]) -> list[str]:
    return [
        f"{source}:{line} takes {name} from {target}"
        for source, targets in edges.items()
        for target, names, line in targets
        for name in names
        if name.startswith("_") and not name.startswith("__") and target != source
    ]


def cycles(edges: dict[str, list[tuple[str, list[str], int]]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w, _, _ in edges.get(v, []):
            if w not in edges:
                continue
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

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_the_table_places_every_module():
    table = layer_table()
    assert len(set(table.values())) >= 8, table  # the docstring's table was read
    unplaced = sorted({unit_of(m) for m in modules()} - set(table) - {"gradcheck_ci"})
    assert not unplaced, (
        f"modules missing from the layer table in gradcheck_ci/__init__.py: {unplaced}"
    )


def test_the_table_names_folders():
    """The layers are folders: the table's units are subpackages (beside the command line's
    `__main__` and the action's adapter), and at most six modules sit at the package's top beside
    them."""
    table = layer_table()
    not_folders = sorted(
        unit
        for unit in table
        if unit not in ("__main__", "entrypoint") and not (PACKAGE / unit / "__init__.py").is_file()
    )
    assert not_folders == [], (
        f"layer-table units that are not folders of gradcheck_ci/: {not_folders}"
    )
    top_level = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top_level) <= 6, top_level


def test_imports_point_down():
    table = dict(layer_table(), gradcheck_ci=0)
    assert upward_imports(table, graph()) == []


def test_no_private_name_crosses_a_module():
    assert private_imports(graph()) == []


def test_no_import_cycles():
    assert cycles(graph()) == []


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from .b import _x\n", ["pkg.a:1 takes _x from pkg.b"]),
        ("from .b import x\n", []),
    ],
)
def test_the_private_rule_can_fail(tmp_path, source, expected):
    edges = {"pkg.a": [("pkg.b", [n.strip() for n in source.split("import")[1].split(",")], 1)]}
    assert private_imports(edges) == expected


def test_the_cycle_and_layer_rules_can_fail():
    edges = {
        "gradcheck_ci.a": [("gradcheck_ci.b", [], 3)],
        "gradcheck_ci.b": [("gradcheck_ci.a", [], 5)],
    }
    assert cycles(edges) == [["gradcheck_ci.a", "gradcheck_ci.b"]]
    assert upward_imports({"a": 1, "b": 2}, edges) == [
        "gradcheck_ci.a:3 imports gradcheck_ci.b (layer 2 above 1)"
    ]
