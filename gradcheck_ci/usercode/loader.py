"""How gradcheck-ci loads the repository's modules: Python 2 files through their translation
(python2.py), and a script named by its layer variable (`factory: train.py:l_out`) only up to where
it assigns it.

Scripts build the network at module level and then load data, train and save. Named by the variable
that holds the network, the script runs up to its last top-level statement that assigns that
variable, and not the training after it; a notice says which lines did not run. What runs before it
(loading a data set to read a size) still runs, under the import guards (guard.py), which stop a
download or a long computation and say where.

`RepositoryFinder` (installed by `install(root)`) gives every module of the repository this loader,
so the imports of a Python 2 factory module's Python 2 siblings are translated too. Nothing is
written: neither a translation nor the bytecode of a translated or cut module.
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.machinery
import importlib.util
import linecache
import os
import sys
from dataclasses import dataclass
from types import CodeType, ModuleType
from typing import Any

from ..core.results import Notice
from .legacy import construct_on
from .python2 import (
    DIVIDE,
    Untranslatable,
    divider,
    future_import,
    needs_translation,
    python2_names,
    sibling_imports,
    translate,
    translations,
)
from .sites import is_inside, is_library, relative


class RepositoryLoader(importlib.machinery.SourceFileLoader):
    """A repository file's loader: Python 3 files as usual, Python 2 files through `translate` (no
    bytecode cache is read or written for them, nor for a module of a package whose implicit
    relative imports were made explicit). `until`: a module-level name (a script's layer
    variable named as the factory): the module runs up to the last top-level statement that assigns
    it, not the training after it."""

    def __init__(self, fullname: str, path: str, until: str | None = None):
        super().__init__(fullname, path)
        self.until = until

    def get_code(self, fullname: str) -> CodeType | None:
        path = self.get_filename(fullname)
        source = self.get_data(path)
        try:
            text = importlib.util.decode_source(source)
        # not valid in its encoding: Python's own words (blame says so)
        except (UnicodeDecodeError, SyntaxError):
            return super().get_code(fullname)
        python2 = needs_translation(text, path)
        tree = self._translated(text, path) if python2 else None
        # a module of a package imports its siblings as Python 2 did (python2.sibling_imports); its
        # package is imported before it (a file named `v1.final.py` is not in a package `v1`)
        in_package = self.is_package(fullname) or fullname.rpartition(".")[0] in sys.modules
        if in_package and not future_import(text, "absolute_import"):
            parsed = tree or ast.parse(text, path)
            if sibling_imports(parsed, path, python2):
                tree = parsed
        if tree is None and self.until is None:
            return super().get_code(fullname)
        tree = tree or ast.parse(text, path)
        if self.until:
            tree = cut(tree, self.until, path)
        return compile(tree, path, "exec", dont_inherit=True)

    def _translated(self, text: str, path: str) -> ast.Module:
        """The Python 3 code of a Python 2 file, recorded in `translations`."""
        try:
            compile(text, path, "exec", dont_inherit=True)
            python3_error: SyntaxError | None = None
        except SyntaxError as exc:
            python3_error = exc
        try:
            translation = translate(text, path)
        except Untranslatable:
            if python3_error is not None and not has_python2_signs(text):
                # a Python 3 file with a syntax error: Python's own words
                raise python3_error from None
            raise
        translations[os.path.abspath(path)] = translation
        # inspect reads a module's source through linecache: a class's source (inspect.getsource,
        # which parses the whole file) is the translation's, not the Python 2 text that does not
        # parse. An entry without a modification time is one checkcache leaves alone.
        linecache.cache[path] = (
            len(translation.text),
            None,
            translation.text.splitlines(True),
            path,
        )
        return translation.tree

    def exec_module(self, module: ModuleType) -> None:
        module.__dict__[DIVIDE] = divider(os.path.abspath(self.path))
        super().exec_module(module)


@dataclass
class Cut:
    """A script run only up to where it assigns the layer variable named as the factory."""

    name: str
    assigned: int  # the line of its last top-level assignment
    skipped: tuple[int, int]  # the first and last line not run
    filled: bool = False  # that statement adds to it (`layers.append(...)`) rather than assigns it
    rest: ast.Module | None = None  # the statements not run (run_rest runs them after all)


cuts: dict[str, Cut] = {}  # by absolute path


def cut(tree: ast.Module, name: str, path: str) -> ast.Module:
    """The module up to its last top-level statement that binds or fills `name` (the whole module
    when a def or class binds it, or nothing at the top level does, or nothing follows)."""
    last, filled = None, False
    for index, statement in enumerate(tree.body):
        if (
            isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and statement.name == name
        ):
            return tree
        if name in _bound(statement):
            last, filled = index, False
        elif _fills(statement, name):
            last, filled = index, True
    if last is None or last == len(tree.body) - 1:
        return tree
    rest = tree.body[last + 1 :]
    end = max(getattr(s, "end_lineno", None) or s.lineno for s in rest)
    cuts[os.path.abspath(path)] = Cut(
        name,
        tree.body[last].lineno,
        (rest[0].lineno, end),
        filled,
        ast.Module(body=rest, type_ignores=[]),
    )
    return ast.Module(body=tree.body[: last + 1], type_ignores=tree.type_ignores)


def run_rest(path: str, module: ModuleType) -> None:
    """The statements `cut` left out of the module at `path`, run in it after all: the name it was
    cut at holds a function (`small = functools.partial(build, hidden=2)`, an alias, a lambda),
    not a network, and a function's module is imported whole (it may call what is defined below
    it). No script-cut notice then."""
    found = cuts.pop(os.path.abspath(path), None)
    if found is not None and found.rest is not None:
        exec(compile(found.rest, path, "exec", dont_inherit=True), module.__dict__)


# what a script calls to add layers to a list or dict it holds them in
_FILLING = frozenset({"append", "extend", "insert", "update", "setdefault"})


def _fills(statement: ast.stmt, name: str) -> bool:
    """A top-level statement that adds to the list or dict `name` (`layers.append(...)`, also in a
    loop: `for n in sizes: layers.append(DenseLayer(layers[-1], n))`), outside defs and classes."""
    pending: list[ast.AST] = [statement]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in _FILLING
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == name
        ):
            return True
        pending.extend(ast.iter_child_nodes(node))
    return False


def _bound(statement: ast.stmt) -> set[str]:
    """Names a top-level assignment statement binds (not those bound inside its blocks)."""
    targets: list[ast.expr] = []
    if isinstance(statement, ast.Assign):
        targets = list(statement.targets)
    elif isinstance(statement, (ast.AnnAssign, ast.AugAssign)):
        targets = [statement.target]
    names: set[str] = set()
    for target in targets:
        names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def has_python2_signs(text: str) -> bool:
    """Whether code that does not compile as Python 3 shows a sign of Python 2 (a name, an import,
    a statement form); without one, it is a Python 3 file with a syntax error."""
    return bool(python2_names(text)) or any(
        construct_on(line, everything=False) for line in text.splitlines()
    )


class RepositoryFinder(importlib.abc.MetaPathFinder):
    """Finds modules as Python's path finder does, and loads those of the repository with
    RepositoryLoader."""

    def __init__(self, root: str):
        self.root = root

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        origin = getattr(spec, "origin", None)
        if spec is None or not origin or not origin.endswith(".py"):
            return spec
        if not is_inside(origin, self.root) or is_library(origin):
            return spec
        spec.loader = RepositoryLoader(fullname, origin)
        return spec


def install(root: str) -> None:
    """Load the modules of the repository at `root` through RepositoryLoader (once per process and
    root)."""
    if not any(isinstance(f, RepositoryFinder) and f.root == root for f in sys.meta_path):
        sys.meta_path.insert(0, RepositoryFinder(root))


def assigned_under_main_guard(path: str, name: str) -> int | None:
    """The line of the `if __name__ == '__main__':` under which the module assigns `name`, when only
    there."""
    translation = translations.get(os.path.abspath(path))
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            tree = translation.tree if translation else ast.parse(handle.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None
    if any(name in _bound(statement) for statement in tree.body):
        return None
    for statement in tree.body:
        test = ast.unparse(statement.test) if isinstance(statement, ast.If) else ""
        if (
            "__name__" in test
            and "__main__" in test
            and any(
                isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Store)
                for n in ast.walk(statement)
            )
        ):
            return statement.lineno
    return None


def notices(root: str) -> list[Notice]:
    """A notice for each script that ran only up to its network."""
    found: list[Notice] = []
    for path, where in cuts.items():
        if is_inside(path, root):
            file = relative(path, root)
            first, last = where.skipped
            found.append(
                Notice(
                    f"{file} is a script: it ran up to line {where.assigned}, where it "
                    f"{'adds to' if where.filled else 'assigns'} {where.name}, and not lines "
                    f"{first}-{last} after it "
                    f"(training, saving, plotting: a "
                    "gradient check needs none of them)",
                    "script-cut",
                    file,
                    where.assigned,
                )
            )
    return found
