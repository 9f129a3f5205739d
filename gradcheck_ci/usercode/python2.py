"""Python 2 files of the repository imported through a translation to Python 3, in memory, on load.

Much public Lasagne code is Python 2 and fails on Python 3.11 only on `print x`, `xrange`,
`cPickle`, tabs or `except E, e`. A repository file that does not compile as Python 3, or that uses
names only Python 2 has, is translated with the standard library's 2to3 fixers (lib2to3) and
compiled under its own path, so tracebacks and blame still point at the user's lines (the fixers
keep line numbers). Nothing is written anywhere: no translated file and no bytecode cache.

Python 2's `/` floors when both operands are integers; Python 3's does not, and a size computed as
`num_units / 2` would become a float (or a different size). Every `/` of a translated file goes
through `python2_divide`, which floors integers as Python 2 did and records the line, so the report
says where the translation kept Python 2's meaning (`notices()`). A file that `from __future__
import division` keeps `/`.

In a package, Python 2 looked for `import x` beside the importing file first (an implicit
relative import: `from model_a import build_a` in nets/__init__.py); Python 3 looks only on
sys.path. `sibling_imports` makes such imports explicit.

loader.py decides, when it loads one of the repository's modules, whether to translate it, and
whether its imports are a package's.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import numbers
import os
import re
import tokenize
import warnings
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import ModelLoadError
from ..core.results import Notice
from .sites import is_inside, relative

DIVIDE = "__gradcheck_ci_python2_divide__"  # the name `/` becomes in a translated module's globals
# Modules only Python 2 has: importing one marks a file as Python 2 even when it compiles as Python
# 3 (`from io import StringIO` is Python 3: only `import StringIO` or `from StringIO import ...`
# count).
_PYTHON2_MODULES = (
    "cPickle",
    "urllib2",
    "urlparse",
    "cStringIO",
    "StringIO",
    "ConfigParser",
    "Queue",
    "HTMLParser",
    "httplib",
    "cookielib",
    "__builtin__",
)
_PYTHON2_IMPORT = re.compile(
    rf"^\s*(?:import\s+(?:[\w.]+\s*,\s*)*|from\s+)({'|'.join(_PYTHON2_MODULES)})\b"
    r"|^\s*from\s+itertools\s+import\s+.*\b(izip|imap|ifilter)\b",
    re.M,
)
# Names only Python 2 code uses, unless the file defines them itself (`xrange = range` in 2-and-3
# code).
_PYTHON2_NAMES = {
    "xrange",
    "iteritems",
    "itervalues",
    "iterkeys",
    "has_key",
    "raw_input",
    "basestring",
    "execfile",
    "unichr",
    "xreadlines",
}
# Python 2 builtins that a Python 3 file may define for itself: Python 2 only when called and not
# defined.
_PYTHON2_CALLS = {"long", "unicode"}
# 2to3 fixers never applied: those that only restyle, and `import`, which makes `from layers import
# X` relative wherever an __init__.py is beside the file, also in a file imported as a module of its
# own (its folder on sys.path, where Python 2's implicit relative import works as an absolute one);
# in a module of a package, `sibling_imports` does that job, for Python 3 files too.
_SKIPPED_FIXERS = {"idioms", "ws_comma", "set_literal", "buffer", "paren", "import"}


@dataclass
class Translation:
    path: str  # absolute
    tree: ast.Module  # the Python 3 code, with Python 2's `/`
    fixers: list[str]  # the 2to3 fixers that changed something, by their short names
    first_line: int  # the first line they changed
    # lines 2to3 translated without certainty
    doubts: list[tuple[int, str]] = field(default_factory=list)
    tabs: bool = False  # tabs in the indentation were expanded as Python 2 read them
    # the Python 3 text 2to3 wrote (line for line the file's): what inspect reads for the file
    text: str = ""


class Untranslatable(Exception):
    """A Python 2 file whose translation does not compile: where, and why."""

    def __init__(self, path: str, line: int | None, why: str):
        super().__init__(why)
        self.path, self.line, self.why = path, line, why


translations: dict[str, Translation] = {}  # this process's translated files, by absolute path
# (path, line) -> (a, b, a // b), the first seen
floored: dict[tuple[str, int], tuple[Any, Any, Any]] = {}


# ---------------------------------------------------------------- deciding and translating


def python2_names(source: str) -> list[str]:
    """Python 2-only names the code (not its comments or strings) uses, in order of first use."""
    found: list[str] = [
        next(name for name in match.groups() if name) for match in _PYTHON2_IMPORT.finditer(source)
    ]
    previous = None
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if (
                token.type == tokenize.NAME
                and token.string in _PYTHON2_NAMES
                and token.string not in found
                and not _binds(source, token.string)
            ):
                found.append(token.string)
            if (
                previous is not None
                and previous.string in _PYTHON2_CALLS
                and token.string == "("
                and previous.string not in found
                and not _binds(source, previous.string)
            ):
                found.append(previous.string)
            if token.type not in (tokenize.NL, tokenize.COMMENT):
                previous = token if token.type == tokenize.NAME else None
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return found


def _binds(source: str, name: str) -> bool:
    """The file defines, assigns or imports `name` itself (then `long(x)` is its own function, not
    Python 2's)."""
    return bool(
        re.search(rf"\b(def|class)\s+{name}\b|^\s*{name}\s*=|\bimport\b.*\b{name}\b", source, re.M)
    )


def needs_translation(source: str, path: str) -> bool:
    """A file that Python 3 refuses, or that uses names only Python 2 has."""
    try:
        compile(source, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return True
    return bool(python2_names(source))


def _expand_tabs(source: str) -> str:
    """Indentation tabs expanded to the next multiple of 8 columns, as Python 2 read them."""
    return "".join(
        re.sub(r"^[ \t]+", lambda m: m.group(0).expandtabs(8), line)
        for line in source.splitlines(keepends=True)
    )


def _refactoring_tool() -> Any:
    with warnings.catch_warnings():  # lib2to3 is deprecated, and still the standard library's 2to3
        warnings.simplefilter("ignore")
        from lib2to3 import refactor
    names = [
        n
        for n in refactor.get_fixers_from_package("lib2to3.fixes")
        if n.rsplit(".fix_", 1)[-1] not in _SKIPPED_FIXERS
    ]

    class Recording(refactor.RefactoringTool):
        """Remembers which fixers changed a node (the lines fixers flag as uncertain are in its
        fixer_log)."""

        def __init__(self) -> None:
            super().__init__(names)
            self.applied: dict[str, int] = {}  # fixer -> first line it changed

        def get_fixers(self) -> Any:
            pre, post = super().get_fixers()
            for fixer in pre + post:
                setattr(fixer, "transform", self._recorded(fixer, fixer.transform))  # noqa: B010 - a method
            return pre, post

        def _recorded(self, fixer: Any, transform: Any) -> Any:
            name = type(fixer).__module__.rsplit(".fix_", 1)[-1]

            def recorded(node: Any, results: Any) -> Any:
                line, before = node.get_lineno(), str(node)
                new = transform(node, results)
                if str(new if new is not None else node) != before:
                    self.applied.setdefault(name, line or 0)
                return new

            return recorded

        def doubted(self) -> list[tuple[int, str]]:
            """The fixers' warnings ('Line 3: could not convert: ...'), as (line, text)."""
            found = []
            for entry in self.fixer_log:
                match = re.match(r"Line (\d+): (.*)", entry)
                if match:
                    found.append((int(match.group(1)), match.group(2)))
            return found

    return Recording()


def translate(source: str, path: str) -> Translation:
    """The Python 3 code of a Python 2 file (Untranslatable when 2to3 cannot read it or its
    result)."""
    tool = _refactoring_tool()
    expanded = _expand_tabs(source)
    text = expanded if expanded.endswith("\n") else expanded + "\n"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = tool.refactor_string(text, path)
    except Exception as exc:  # noqa: BLE001 - lib2to3's ParseError and tokenizer errors: the file's line
        context = getattr(exc, "context", None)
        line = (
            context[1][0]
            if context and len(context) > 1 and context[1]
            else getattr(exc, "lineno", None)
        )
        raise Untranslatable(
            path, line, f"2to3 cannot read it ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from None
    translated = str(tree)
    applied = sorted(tool.applied, key=lambda name: (tool.applied[name], name))
    try:
        module = ast.parse(translated, path)
    except SyntaxError as exc:
        code = translated.splitlines()[exc.lineno - 1].strip() if exc.lineno else ""
        keyword = re.search(r"\b(async|await|nonlocal)\b", code)
        why = f"`{keyword.group(1)}` is a keyword in Python 3: rename it" if keyword else exc.msg
        raise Untranslatable(path, exc.lineno, f"its translation does not compile: {why}") from None
    if not future_import(source, "division"):
        module = ast.fix_missing_locations(_Divisions().visit(module))
    first = min(tool.applied.values(), default=0) or 1
    return Translation(
        path, module, applied, first, sorted(set(tool.doubted())), expanded != source, translated
    )


def future_import(source: str, feature: str) -> bool:
    """`from __future__ import <feature>` (`division`: the file's `/` already means Python 3's;
    `absolute_import`: its imports are never relative). 2to3's `future` fixer removes the import, so
    the source is read, not the translation."""
    return bool(re.search(rf"^from\s+__future__\s+import\s+[^#\n]*\b{feature}\b", source, re.M))


# ---------------------------------------------------------------- implicit relative imports

_UNBOUND = "__gradcheck_ci_python2_import__"  # what `import sibling.sub` binds for a moment


def sibling_imports(tree: ast.Module, path: str, python2: bool) -> bool:
    """Python 2's implicit relative imports made explicit, in a module of a package: `import x`
    and `from x import y`, where x is a module or package beside the file (x.py, x/__init__.py),
    become `from . import x` and `from .x import y`, so that they import the package's x, as Python
    2 did, and not a second, top-level copy of the file, or nothing. A Python 2 file (`python2`)
    looks beside itself first, as Python 2 did; a Python 3 file only when nothing else named x is
    importable (its import would raise ModuleNotFoundError, or find the same file through the
    folder the check puts on sys.path), so that an import that works in Python 3 keeps its meaning.
    The caller leaves out a file with `from __future__ import absolute_import`. Whether the tree
    changed."""
    rewrite = _SiblingImports(os.path.dirname(path), python2)
    rewrite.visit(tree)
    if rewrite.changed:
        ast.fix_missing_locations(tree)
    return rewrite.changed


class _SiblingImports(ast.NodeTransformer):
    def __init__(self, folder: str, python2: bool):
        self.folder, self.python2, self.changed = folder, python2, False
        self.known: dict[str, bool] = {}

    def sibling(self, dotted: str) -> bool:
        name = dotted.partition(".")[0]
        if name not in self.known:
            found = next(
                (
                    candidate
                    for candidate in (
                        os.path.join(self.folder, name + ".py"),
                        os.path.join(self.folder, name, "__init__.py"),
                    )
                    if os.path.isfile(candidate)
                ),
                None,
            )
            self.known[name] = found is not None and (
                self.python2 or not _importable_elsewhere(name, found)
            )
        return self.known[name]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        if node.level == 0 and node.module and self.sibling(node.module):
            self.changed = True
            return ast.copy_location(ast.ImportFrom(node.module, node.names, 1), node)
        return node

    def visit_Import(self, node: ast.Import) -> list[ast.stmt]:
        statements: list[ast.stmt] = []
        for alias in node.names:
            if not self.sibling(alias.name):
                if statements and isinstance(statements[-1], ast.Import):
                    statements[-1].names.append(alias)
                else:
                    statements.append(ast.Import([alias]))
                continue
            self.changed = True
            first, _, rest = alias.name.partition(".")
            if not rest:  # import x [as z]
                statements.append(ast.ImportFrom(None, [alias], 1))
            elif alias.asname:  # import x.y as z
                parent, _, last = alias.name.rpartition(".")
                statements.append(ast.ImportFrom(parent, [ast.alias(last, alias.asname)], 1))
            else:  # import x.y: imports x.y, binds x
                parent, _, last = alias.name.rpartition(".")
                statements += [
                    ast.ImportFrom(parent, [ast.alias(last, _UNBOUND)], 1),
                    ast.Delete([ast.Name(_UNBOUND, ast.Del())]),
                    ast.ImportFrom(None, [ast.alias(first)], 1),
                ]
        return [ast.copy_location(statement, node) for statement in statements]


def _importable_elsewhere(name: str, sibling: str) -> bool:
    """Whether Python 3 imports something other than `sibling` (its file) for `import name`."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # a module without a spec in sys.modules: something
        return True
    if spec is None:
        return False
    origin = spec.origin
    return not (origin and os.path.isfile(origin) and os.path.samefile(origin, sibling))


class _Divisions(ast.NodeTransformer):
    """`a / b` -> DIVIDE(a, b, line); `x /= b` -> x = DIVIDE(x, b, line)."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if not isinstance(node.op, ast.Div):
            return node
        return ast.copy_location(_call(node.left, node.right, node.lineno), node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        if not isinstance(node.op, ast.Div):
            return node
        load = _as_load(node.target)
        return ast.copy_location(
            ast.Assign(targets=[node.target], value=_call(load, node.value, node.lineno)), node
        )


def _call(left: ast.expr, right: ast.expr, line: int) -> ast.Call:
    return ast.Call(
        func=ast.Name(DIVIDE, ast.Load()), args=[left, right, ast.Constant(line)], keywords=[]
    )


def _as_load(target: ast.expr) -> ast.expr:
    copy = ast.parse(ast.unparse(target), mode="eval").body
    return ast.copy_location(copy, target)


def divider(path: str) -> Any:
    """The DIVIDE function of one translated file: Python 2's `/`, recording where it floored
    integers."""

    def python2_divide(a: Any, b: Any, line: int) -> Any:
        if isinstance(a, numbers.Integral) and isinstance(b, numbers.Integral):
            result = a // b
            seen = floored.get((path, line))
            # the example shows a difference when one does
            if seen is None or (seen[0] % seen[1] == 0 and a % b):
                floored[(path, line)] = (a, b, result)
            return result
        return a / b

    return python2_divide


def untranslatable_error(exc: Untranslatable, root: str) -> ModelLoadError:
    file = relative(exc.path, root)
    return ModelLoadError(
        f"{file} is Python 2 and cannot be translated to Python 3 at line "
        f"{exc.line}: {exc.why}; "
        "gradcheck-ci runs Python 3.11: translate the file (2to3 -w) and fix "
        "that line",
        file,
        exc.line,
        kind="load",
    )


# ---------------------------------------------------------------- what the report says


def notices(root: str) -> list[Notice]:
    """A notice for each translated file (the fixers applied), each line 2to3 was unsure of, and
    each line where `/` floored two integers as Python 2 did."""
    found: list[Notice] = []
    for path, translation in translations.items():
        if not is_inside(path, root):
            continue
        file = relative(path, root)
        fixers = ", ".join(translation.fixers) or "none"
        tabs = "; indentation tabs read as Python 2 did (8 columns)" if translation.tabs else ""
        found.append(
            Notice(
                f"{file} is Python 2: it was imported through a translation to Python "
                f"3 (2to3 fixers: {fixers}{tabs}); the file itself is unchanged",
                "python2-translated",
                file,
                translation.first_line,
            )
        )
        for line, why in translation.doubts:
            found.append(
                Notice(
                    f"{file}:{line}: 2to3 flags this line, which may not mean in "
                    f"Python 3 what it meant in Python 2: {why}",
                    "python2-doubt",
                    file,
                    line,
                )
            )
    for (path, line), (a, b, result) in sorted(floored.items(), key=lambda item: item[0]):
        if not is_inside(path, root):
            continue
        file = relative(path, root)
        python3 = a / b
        changed = (
            f"Python 3's `/` would give {python3:g}"
            if python3 != result
            else f"Python 3's `/` would give the float {python3!r}"
        )
        found.append(
            Notice(
                f"{file}:{line} divides the integers {a} / {b}: the translation keeps "
                f"Python 2's meaning, {result} ({changed}); write `//` there to say so "
                f"in Python 3",
                "python2-division",
                file,
                line,
            )
        )
    return found
