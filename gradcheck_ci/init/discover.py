"""Find the functions of a repository that build Lasagne models, by reading its source (no import,
no Theano).

`gradcheck-ci init` starts here: a candidate is a module-level function that constructs Lasagne
layers and returns them, as real code writes it: `build_mlp(input_var=None)` returning the output
layer, a `build_model()` returning `(l_in, l_out)` or a dict of layers, a builder that returns
another builder's result. Functions that build layers but return none (a script's `main()` that
trains) and files that do not parse as Python 3 are reported with the reason, so the user knows why
they are missing. Which candidates really build is for trial.py to find out, in a worker.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from typing import Any

from ..usercode.loader import has_python2_signs
from ..usercode.python2 import Untranslatable, python2_names, translate
from .sizes import class_methods, dotted_name, propose_kwargs

# Folders that never hold the repository's own models: tooling, environments, tests, build output.
SKIP_DIRS = {
    "__pycache__",
    "node_modules",
    "site-packages",
    "dist-packages",
    "build",
    "dist",
    "venv",
    "env",
    "tests",
    "test",
    "testing",
    "docs",
    "examples_output",
}
SKIP_FILES = {"setup.py", "conftest.py", "noxfile.py", "fabfile.py"}
# Lasagne's functions that return a layer without the class name saying so (layers that wrap
# others).
LAYER_FUNCTIONS = {
    "batch_norm",
    "dropout",
    "dropout_channels",
    "spatial_dropout",
    "dropout_locations",
    "instance_norm",
    "layer_norm",
}
# Argument names that, in real builders, hold layers the caller makes (Lasagne's own `incoming`).
LAYER_ARGUMENTS = {
    "incoming",
    "incomings",
    "l_in",
    "input_layer",
    "layer",
    "net",
    "network",
    "l_inp",
    "l_mask",
    "mask_layer",
    "input_layers",
}
MAX_FILE_BYTES = 2_000_000


@dataclass
class Candidate:
    """A function that builds and returns Lasagne layers."""

    file: str  # relative to the root, '/' separators
    function: str
    line: int  # of its `def`
    returns: str  # "layer", "tuple" (or list), "dict"
    signature: str  # as written, for comments: "input_var=None, num_units=32"
    required: list[str] = field(default_factory=list)  # arguments without a default
    literal_defaults: dict[str, object] = field(default_factory=dict)  # defaults that YAML can hold
    # values proposed for required arguments (sizes.py)
    kwargs: dict[str, Any] = field(default_factory=dict)
    # why each proposed value, or why none (placeholders)
    reasons: dict[str, str] = field(default_factory=dict)
    python2: bool = False  # read through the Python 2 translation
    kind: str = "function"  # function | method | attribute | variable
    # a required argument read as an object or a mapping (`args.vocab_size`, `config['depth']`):
    # the fields it reads, for a placeholder mapping
    fields: dict[str, list[str]] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return f"{self.file}:{self.function}"

    @property
    def placeholders(self) -> list[str]:
        """Required arguments no value could be proposed for."""
        return [a for a in self.required if a not in self.kwargs and a not in LAYER_ARGUMENTS]

    @property
    def why_not_tried(self) -> str | None:
        """Why calling it with no arguments (or the proposed kwargs) cannot work, or None."""
        missing = [a for a in self.required if a not in self.kwargs]
        if not missing:
            return None
        layers = [a for a in missing if a in LAYER_ARGUMENTS]
        names = ", ".join(self.required)
        if layers:
            example = ", ".join(f"{name}: {{shape: [null, null, FEATURES]}}" for name in layers)
            return (
                f"takes the layers it builds on ({', '.join(layers)}): name it with `inputs:` "
                f"to have gradcheck-ci make them, e.g. `inputs: {{{example}}}` "
                f"(docs/config.md, inputs), and "
                "`kwargs` for its other arguments"
            )
        if self.kwargs:
            names = ", ".join(missing)
            return (
                f"needs arguments gradcheck-ci cannot choose ({names}): give them under "
                f"`kwargs` (the "
                "commented entry below proposes the others)"
            )
        return f"needs arguments without defaults ({names}): give them under `kwargs`"


@dataclass
class Passed:
    """A file or function that looked like a model but is not a candidate, and why."""

    file: str
    line: int | None
    what: str  # "build_model()" or the file itself
    reason: str


@dataclass
class Found:
    candidates: list[Candidate] = field(default_factory=list)
    passed: list[Passed] = field(default_factory=list)
    files_read: int = 0


def python_files(root: str) -> list[str]:
    """The repository's .py files (relative, '/' separators, sorted), outside tooling, tests and
    hidden folders."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and d not in SKIP_DIRS
            and not os.path.exists(os.path.join(folder, d, "pyvenv.cfg"))
        )
        for name in sorted(files):
            if not name.endswith(".py") or name in SKIP_FILES:
                continue
            if name.startswith("test_") or name.endswith("_test.py"):
                continue
            path = os.path.join(folder, name)
            if os.path.islink(path) and not os.path.realpath(path).startswith(
                os.path.realpath(root) + os.sep
            ):
                # a link out of the repository: gradcheck-ci only imports the repository's code
                continue
            found.append(os.path.relpath(path, root).replace(os.sep, "/"))
    return found


def discover(root: str) -> Found:
    found = Found()
    trees: dict[str, ast.Module] = {}
    # files that build no layers but call the builders (a script's `net = build_deep(12, 3, 5)`):
    # read for the literal arguments they pass
    callers: dict[str, ast.Module] = {}
    for rel in python_files(root):
        path = os.path.join(root, *rel.split("/"))
        try:
            if os.path.getsize(path) > MAX_FILE_BYTES:
                continue
            with open(path, "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        if b"lasagne" not in raw and b"Layer" not in raw:
            try:
                callers[rel] = ast.parse(raw.decode("utf-8", errors="replace"), filename=rel)
            except (SyntaxError, ValueError):
                pass
            continue
        found.files_read += 1
        text = raw.decode("utf-8", errors="replace")
        python2 = False
        try:
            tree = ast.parse(text, filename=rel)
            python2 = bool(python2_names(text))
        except SyntaxError as exc:
            try:
                tree, python2 = translate(text, rel).tree, True
            except Untranslatable as untranslatable:
                if "lasagne" in text and not has_python2_signs(text):
                    # a Python 3 file with a syntax error, as `check` says it
                    reason = f"does not compile: {exc.msg} (line {exc.lineno})"
                    found.passed.append(Passed(rel, exc.lineno or 1, rel, reason))
                elif "lasagne" in text:
                    reason = (
                        f"is Python 2 and 2to3 cannot translate it (line "
                        f"{untranslatable.line}: {untranslatable.why}); gradcheck-ci runs "
                        f"Python 3.11"
                    )
                    found.passed.append(Passed(rel, untranslatable.line or exc.lineno, rel, reason))
                continue
        trees[rel] = tree
        before = len(found.candidates)
        _read_module(tree, rel, found)
        for candidate in found.candidates[before:]:
            candidate.python2 = python2
    propose_kwargs(found.candidates, {**callers, **trees}, LAYER_ARGUMENTS)
    return found


def _read_module(tree: ast.Module, rel: str, found: Found) -> None:
    _read_functions(tree, rel, found)
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            _read_class(node, class_methods(tree, node.name), rel, found)
    _read_script(tree, rel, found)


def _read_functions(tree: ast.Module | ast.ClassDef, rel: str, found: Found) -> None:
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    returning: dict[str, str] = {}  # function -> what it returns, for builders that call builders
    changed = True
    while changed:  # a builder may return what another builder of the module returns
        changed = False
        for name, node in functions.items():
            kind = _returns_layers(node, returning)
            if kind and returning.get(name) != kind:
                returning[name] = kind
                changed = True
    for name, node in functions.items():
        if name.startswith("_"):
            continue
        if name in returning:
            found.candidates.append(_candidate(rel, node, returning[name]))
        elif _builds_layers(node, returning) and isinstance(tree, ast.Module):
            found.passed.append(
                Passed(
                    rel,
                    node.lineno,
                    f"{name}()",
                    "builds layers but returns "
                    "none of them (does it train them?): write a function that "
                    "builds the network and returns its output layer, and name "
                    "that one in gradcheck.yml",
                )
            )


def _read_class(
    node: ast.ClassDef, methods: dict[str, ast.FunctionDef], rel: str, found: Found
) -> None:
    """`Class.method` for each public method (its own or inherited in the module) that returns
    layers; `Class.attribute` for the last layer that __init__ keeps on self (research code's
    `Model(...).network`)."""
    init = methods.get("__init__")
    init_required = _candidate(rel, init, "layer").required if init else []
    init_defaults = _candidate(rel, init, "layer").literal_defaults if init else {}
    inner = Found()
    _read_functions(
        ast.ClassDef(
            name=node.name, bases=[], keywords=[], body=list(methods.values()), decorator_list=[]
        ),
        rel,
        inner,
    )
    statics = {
        m.name
        for m in methods.values()
        if any(dotted_name(d) in ("staticmethod", "classmethod") for d in m.decorator_list)
    }
    for candidate in inner.candidates:
        own = [a for a in candidate.required if a != "self"]
        candidate.function = f"{node.name}.{candidate.function}"
        candidate.kind = "method"
        if candidate.function.rsplit(".", 1)[1] not in statics:
            candidate.required = own + [a for a in init_required if a not in own]
            candidate.literal_defaults = {**init_defaults, **candidate.literal_defaults}
        found.candidates.append(candidate)
    if init is None:
        return
    kept = _self_layers(
        init, {f"self.{c.function.rsplit('.', 1)[1]}": c.returns for c in inner.candidates}
    )
    if kept:
        attribute, line = kept[-1]
        found.candidates.append(
            Candidate(
                rel,
                f"{node.name}.{attribute}",
                line,
                "layer",
                _signature(init),
                init_required,
                init_defaults,
                kind="attribute",
            )
        )


def _self_layers(init: ast.FunctionDef, returning: dict[str, str]) -> list[tuple[str, int]]:
    """(attribute, line) of each `self.x = <layer>` in __init__, in order (`self.build()` returning
    layers too)."""
    layers, _ = _layer_names(init, returning)
    kept = []
    for sub in ast.walk(init):
        if isinstance(sub, ast.Assign) and _is_layer_expr(sub.value, layers, returning):
            for target in sub.targets:
                if isinstance(target, ast.Attribute) and dotted_name(target.value) == "self":
                    kept.append((target.attr, sub.lineno))
    return sorted(kept, key=lambda item: item[1])


def _is_main_guard(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and "__name__" in ast.unparse(node.test)
        and "__main__" in ast.unparse(node.test)
    )


def _read_script(tree: ast.Module, rel: str, found: Found) -> None:
    """A script's last module-level layer variable (`factory: train.py:l_out`); a network built only
    under `if __name__ == '__main__':` is reported, as importing the module does not build it."""
    top = ast.Module(
        body=[
            s
            for s in tree.body
            if not isinstance(s, (ast.FunctionDef, ast.ClassDef)) and not _is_main_guard(s)
        ],
        type_ignores=[],
    )
    returning = {c.function: c.returns for c in found.candidates if c.file == rel}
    layers, _ = _layer_names(top, returning)  # type: ignore[arg-type]
    last = None
    for statement in top.body:
        if isinstance(statement, ast.Assign) and _is_layer_expr(statement.value, layers, returning):
            names = [t.id for t in statement.targets if isinstance(t, ast.Name)]
            if names:
                last = (names[-1], statement.lineno)
    if last:
        found.candidates.append(Candidate(rel, last[0], last[1], "layer", "", kind="variable"))
        return
    for statement in tree.body:
        if _is_main_guard(statement) and any(
            _is_layer_call(sub, returning) for sub in ast.walk(statement)
        ):
            found.passed.append(Passed(rel, statement.lineno, rel, MAIN_GUARD))
            return


MAIN_GUARD = (
    "builds its network under `if __name__ == '__main__':`, which does not run when "
    "gradcheck-ci imports the file: move the lines that build it into a function that "
    "returns the output layer (or above the `if`, at module level) and name that in "
    "gradcheck.yml"
)


def _is_layer_call(node: ast.AST, returning: dict[str, str]) -> bool:
    """A call that makes a layer: a class named *Layer (Lasagne's or the user's own), one of
    Lasagne's layer functions, or a builder of the same module that returns one."""
    if not isinstance(node, ast.Call):
        return False
    name = dotted_name(node.func)
    last = name.rsplit(".", 1)[-1]
    if last.endswith("Layer") and last[:1].isupper():
        return True
    return last in LAYER_FUNCTIONS or returning.get(name) == "layer"


def _layer_names(node: ast.FunctionDef, returning: dict[str, str]) -> tuple[set[str], set[str]]:
    """Names bound to layers, and names of containers (dicts, lists) that layers are stored into."""
    layers: set[str] = set()
    containers: set[str] = set()
    changed = True
    while changed:
        changed = False
        for sub in ast.walk(node):
            if isinstance(sub, ast.Assign):
                value_is_layer = _is_layer_expr(sub.value, layers, returning) or _applied_to_layers(
                    sub.value, layers, returning
                )
                for target in sub.targets:
                    # l_out = DenseLayer(...), self.l_out = DenseLayer(...)
                    if (
                        isinstance(target, (ast.Name, ast.Attribute))
                        and value_is_layer
                        and dotted_name(target) not in layers
                    ):
                        layers.add(dotted_name(target))
                        changed = True
                    elif (
                        isinstance(target, (ast.Tuple, ast.List))
                        and isinstance(sub.value, ast.Call)
                        and returning.get(dotted_name(sub.value.func)) in ("tuple", "dict")
                    ):
                        for element in target.elts:
                            if isinstance(element, ast.Name) and element.id not in layers:
                                layers.add(element.id)
                                changed = True
                    elif isinstance(target, ast.Subscript) and value_is_layer:
                        base = target.value
                        if isinstance(base, ast.Name) and base.id not in containers:
                            containers.add(base.id)
                            changed = True
            elif (
                isinstance(sub, ast.Call)
                and isinstance(sub.func, ast.Attribute)
                and sub.func.attr in ("append", "insert")
                and isinstance(sub.func.value, ast.Name)
                and any(_is_layer_expr(arg, layers, returning) for arg in sub.args)
                and sub.func.value.id not in containers
            ):
                containers.add(sub.func.value.id)
                changed = True
    return layers, containers


def _is_layer_expr(node: ast.AST, layers: set[str], returning: dict[str, str]) -> bool:
    if _is_layer_call(node, returning):
        return True
    if isinstance(node, ast.Name):
        return node.id in layers
    if isinstance(node, ast.Attribute):
        return dotted_name(node) in layers
    if isinstance(node, ast.Subscript):  # build()[1], net["out"], layers[-1]
        value = node.value
        return (
            (
                isinstance(value, ast.Call)
                and returning.get(dotted_name(value.func)) in ("tuple", "dict")
            )
            or isinstance(value, ast.Name)
            and value.id in layers
        )
    if isinstance(node, ast.IfExp):
        return _is_layer_expr(node.body, layers, returning) or _is_layer_expr(
            node.orelse, layers, returning
        )
    return False


def _own_returns(node: ast.FunctionDef) -> list[ast.Return]:
    """The function's `return` statements, not those of functions defined inside it."""
    found: list[ast.Return] = []
    stack: list[ast.AST] = list(node.body)
    while stack:
        current = stack.pop()
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(current, ast.Return):
            found.append(current)
        stack.extend(ast.iter_child_nodes(current))
    return found


def _returns_layers(node: ast.FunctionDef, returning: dict[str, str]) -> str | None:
    layers, containers = _layer_names(node, returning)
    for ret in _own_returns(node):
        value = ret.value
        if value is None:
            continue
        if _is_layer_expr(value, layers, returning):
            return "layer"
        if isinstance(value, (ast.Tuple, ast.List)) and any(
            _is_layer_expr(e, layers, returning) for e in value.elts
        ):
            return "tuple"
        if isinstance(value, ast.Dict) and any(
            v is not None and _is_layer_expr(v, layers, returning) for v in value.values
        ):
            return "dict"
        if isinstance(value, ast.Name) and value.id in containers:
            return "dict"
        if isinstance(value, ast.Call) and returning.get(dotted_name(value.func)) in (
            "tuple",
            "dict",
        ):
            return returning[dotted_name(value.func)]
        # a helper of another module given the layers built here (`return common.head(l_hid)`)
        if _applied_to_layers(value, layers, returning):
            return "layer"
    return None


# functions that take layers and return something else: a Theano expression, parameters, a count
NOT_LAYERS = {
    "get_output",
    "get_output_shape",
    "get_all_layers",
    "get_all_params",
    "get_all_param_values",
    "set_all_param_values",
    "count_params",
    "function",
}


def _applied_to_layers(value: ast.AST, layers: set[str], returning: dict[str, str]) -> bool:
    """A call of a helper (of another module, often) given layers built here, which is taken to
    return a layer (`common.head(l_hid)`, `l = dense_block(l_in, 5)`); the trial tells."""
    return (
        isinstance(value, ast.Call)
        and dotted_name(value.func).rpartition(".")[2] not in NOT_LAYERS
        and any(
            _is_layer_expr(arg, layers, returning)
            for arg in [*value.args, *(k.value for k in value.keywords)]
        )
    )


def _builds_layers(node: ast.FunctionDef, returning: dict[str, str]) -> bool:
    return any(_is_layer_call(sub, returning) for sub in ast.walk(node))


def _candidate(rel: str, node: ast.FunctionDef, returns: str) -> Candidate:
    args = node.args
    positional = args.posonlyargs + args.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults)) + list(
        args.defaults
    )
    pairs = list(zip(positional, defaults, strict=True)) + list(
        zip(args.kwonlyargs, args.kw_defaults, strict=True)
    )
    required = [a.arg for a, d in pairs if d is None and a.arg not in ("self", "cls")]
    literal: dict[str, object] = {}
    for arg, default in pairs:
        if default is None:
            continue
        try:
            value = ast.literal_eval(default)
        except ValueError:
            continue
        # None usually means "not given": no setting to show
        if isinstance(value, (bool, int, float, str)):
            literal[arg.arg] = value
    return Candidate(rel, node.name, node.lineno, returns, _signature(node), required, literal)


def _signature(node: ast.FunctionDef) -> str:
    """The arguments as written, a method's `self` or `cls` left out (a caller never passes it)."""
    args = node.args
    if args.args and args.args[0].arg in ("self", "cls") and not args.posonlyargs:
        args = ast.arguments(
            posonlyargs=[],
            args=args.args[1:],
            vararg=args.vararg,
            kwonlyargs=args.kwonlyargs,
            kw_defaults=args.kw_defaults,
            kwarg=args.kwarg,
            defaults=args.defaults,
        )
    text = ast.unparse(args)
    return text if len(text) <= 120 else text[:119] + "…"
