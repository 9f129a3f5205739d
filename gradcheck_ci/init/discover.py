"""Find the functions of a repository that build Lasagne models, by reading its source (no import,
no Theano).

`gradcheck-ci init` starts here: a candidate is a module-level function that constructs Lasagne
layers and returns them, as real code writes it: `build_mlp(input_var=None)` returning the output
layer, a `build_model()` returning `(l_in, l_out)` or a dict of layers (a comprehension of one, a
Recipes block's `(dict of layers, name)`), a builder that returns another builder's result. An
argument the code builds layers on is a layer the caller makes (`inputs:`), whatever its name.
Functions that build layers but return none (a script's `main()` that trains) and files that do not
parse as Python 3 are reported with the reason, so the user knows why they are missing. Which
candidates really build is for trial.py to find out, in a worker.
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
# The `inputs:` shape proposed for an argument that takes a layer, by the Lasagne layer it is first
# given to (sizes in capitals are placeholders: a DenseLayer, a convolution's W, need them fixed);
# else (sequences, steps, features).
INPUT_SHAPE = "[null, null, FEATURES]"
_IMAGES = "[null, CHANNELS, HEIGHT, WIDTH]"
INPUT_SHAPES = {
    "DenseLayer": "[null, FEATURES]",
    "Conv1DLayer": "[null, CHANNELS, LENGTH]",
    "Pool1DLayer": "[null, CHANNELS, LENGTH]",
    "MaxPool1DLayer": "[null, CHANNELS, LENGTH]",
    **dict.fromkeys(
        (
            "Conv2DLayer",
            "Conv2DDNNLayer",
            "Conv2DCCLayer",
            "Pool2DLayer",
            "MaxPool2DLayer",
            "Pool2DDNNLayer",
            "MaxPool2DDNNLayer",
            "TransposedConv2DLayer",
            "Deconv2DLayer",
            "DilatedConv2DLayer",
            "LocalResponseNormalization2DLayer",
        ),
        _IMAGES,
    ),
}


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
    # arguments its code builds layers on (`DenseLayer(l, 8)`, `l.output_shape`), any name
    layer_arguments: list[str] = field(default_factory=list)
    # the functions of its module that call it: it is a building block of theirs
    used_by: list[str] = field(default_factory=list)
    # the `inputs:` shape for a layer argument, when the layer it goes to says (INPUT_SHAPES)
    input_shapes: dict[str, str] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return f"{self.file}:{self.function}"

    def takes_layer(self, argument: str) -> bool:
        """Whether `argument` is a layer the caller makes (by its use, or by its name)."""
        return argument in self.layer_arguments or argument in LAYER_ARGUMENTS

    @property
    def layer_inputs(self) -> list[str]:
        """Required arguments that take a layer the caller makes: `inputs:` names them."""
        return [a for a in self.required if a not in self.kwargs and self.takes_layer(a)]

    def input_shape(self, argument: str) -> str:
        """The `inputs:` shape proposed for a layer argument, as YAML."""
        return self.input_shapes.get(argument, INPUT_SHAPE)

    @property
    def placeholders(self) -> list[str]:
        """Required arguments no value could be proposed for."""
        return [a for a in self.required if a not in self.kwargs and not self.takes_layer(a)]

    @property
    def why_not_tried(self) -> str | None:
        """Why calling it with no arguments (or the proposed kwargs) cannot work, or None."""
        missing = [a for a in self.required if a not in self.kwargs]
        if not missing:
            return None
        layers = self.layer_inputs
        names = ", ".join(self.required)
        if layers:
            example = ", ".join(f"{name}: {{shape: {self.input_shape(name)}}}" for name in layers)
            noun, them = ("layer", "it") if len(layers) == 1 else ("layers", "them")
            callers = " and ".join(f"{name}()" for name in self.used_by)
            block = (
                f", a building block that {callers} call{'s' if len(self.used_by) == 1 else ''}"
                if self.used_by
                else ""
            )
            return (
                f"takes the {noun} it builds on ({', '.join(layers)}){block}: name {them} with "
                f"`inputs:` to have gradcheck-ci make {them}, e.g. `inputs: {{{example}}}` "
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


def _read_functions(tree: ast.Module | ast.ClassDef, rel: str, found: Found) -> dict[str, set[str]]:
    """The candidates among the functions of `tree`, and what is reported of the others; the
    arguments each function builds layers on, by function."""
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
    taken = _layer_parameters(functions, returning)
    for name, node in functions.items():
        if name.startswith("_"):
            continue
        if name in returning:
            candidate = _candidate(rel, node, returning[name])
            candidate.layer_arguments = [a for a in candidate.required if a in taken[name]]
            candidate.input_shapes = _input_shapes(node)
            candidate.used_by = [
                other
                for other, caller in functions.items()
                if other != name and _calls(caller, name)
            ]
            found.candidates.append(candidate)
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
    return taken


def _calls(node: ast.FunctionDef, name: str) -> bool:
    return any(
        isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == name
        for sub in ast.walk(node)
    )


# Lasagne's functions that take a layer first and return something else
TAKES_A_LAYER = {"get_output", "get_output_shape", "get_all_layers", "get_all_params"}


def _layer_parameters(
    functions: dict[str, ast.FunctionDef], returning: dict[str, str]
) -> dict[str, set[str]]:
    """The arguments each function builds layers on, whatever their name: given as a layer's
    incoming (`DenseLayer(l, 8)`, `ConcatLayer([a, b])`), read for its `output_shape`, or passed
    where a builder of the module takes a layer (to a fixed point), also through a plain alias
    (`net = incoming`)."""
    taken: dict[str, set[str]] = {name: set() for name in functions}
    changed = True
    while changed:
        changed = False
        for name, node in functions.items():
            found = _layers_taken(node, returning, functions, taken)
            if found != taken[name]:
                taken[name] = found
                changed = True
    return taken


def _layers_taken(
    node: ast.FunctionDef,
    returning: dict[str, str],
    functions: dict[str, ast.FunctionDef],
    taken: dict[str, set[str]],
) -> set[str]:
    holds = _argument_aliases(node)
    used: set[str] = set()
    for sub in ast.walk(node):
        if (
            isinstance(sub, ast.Attribute)
            and sub.attr == "output_shape"
            and isinstance(sub.value, ast.Name)
            and sub.value.id in holds
        ):
            used.add(holds[sub.value.id])
        if isinstance(sub, ast.Call):
            for value in _given_as_layers(sub, returning, functions, taken):
                for element in value.elts if isinstance(value, (ast.List, ast.Tuple)) else [value]:
                    if isinstance(element, ast.Name) and element.id in holds:
                        used.add(holds[element.id])
    return used


def _input_shapes(node: ast.FunctionDef) -> dict[str, str]:
    """The `inputs:` shape for each argument given as the incoming of a layer in INPUT_SHAPES
    (the first such layer in the code)."""
    holds = _argument_aliases(node)
    shapes: dict[str, str] = {}
    calls = sorted(
        (sub for sub in ast.walk(node) if isinstance(sub, ast.Call)),
        key=lambda c: (c.lineno, c.col_offset),
    )
    for call in calls:
        shape = INPUT_SHAPES.get(dotted_name(call.func).rsplit(".", 1)[-1])
        incoming = call.args[0] if call.args else None
        incoming = next((k.value for k in call.keywords if k.arg == "incoming"), incoming)
        if shape and isinstance(incoming, ast.Name) and incoming.id in holds:
            shapes.setdefault(holds[incoming.id], shape)
    return shapes


def _argument_aliases(node: ast.FunctionDef) -> dict[str, str]:
    """Each argument's name, and each name a plain assignment gives its value (`net = incoming`),
    -> the argument."""
    arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
    holds = {a.arg: a.arg for a in arguments if a.arg not in ("self", "cls")}
    changed = True
    while changed:
        changed = False
        for sub in ast.walk(node):
            if not (isinstance(sub, ast.Assign) and isinstance(sub.value, ast.Name)):
                continue
            for target in sub.targets:
                if (
                    sub.value.id in holds
                    and isinstance(target, ast.Name)
                    and target.id not in holds
                ):
                    holds[target.id] = holds[sub.value.id]
                    changed = True
    return holds


def _given_as_layers(
    call: ast.Call,
    returning: dict[str, str],
    functions: dict[str, ast.FunctionDef],
    taken: dict[str, set[str]],
) -> list[ast.expr]:
    """The arguments of a call that are layers: a layer's incoming (an InputLayer's first argument
    is a shape), the first argument of Lasagne's functions of a layer, and what a builder of the
    module takes as layers."""
    callee = dotted_name(call.func)
    last = callee.rsplit(".", 1)[-1]
    if callee in functions:
        defined = functions[callee].args
        parameters = [a.arg for a in defined.posonlyargs + defined.args]
        # strict=False: a call may pass fewer arguments than there are parameters
        return [a for a, p in zip(call.args, parameters, strict=False) if p in taken[callee]] + [
            k.value for k in call.keywords if k.arg in taken[callee]
        ]
    if (_is_layer_call(call, returning) and not last.endswith("InputLayer")) or (
        last in TAKES_A_LAYER
    ):
        return call.args[:1] + [k.value for k in call.keywords if k.arg in LAYER_KEYWORDS]
    return []


# a layer's keyword arguments that are other layers
LAYER_KEYWORDS = {"incoming", "incomings", "mask_input"}


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
    taken = _read_functions(
        ast.ClassDef(
            name=node.name, bases=[], keywords=[], body=list(methods.values()), decorator_list=[]
        ),
        rel,
        inner,
    )
    init_layers = [a for a in init_required if a in taken.get("__init__", set())]
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
            candidate.layer_arguments += [a for a in init_layers if a not in own]
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
                layer_arguments=init_layers,
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
    under `if __name__ == '__main__':` is reported, as importing the module does not build it (not
    one that the block only gets from a builder of the module: that builder is the candidate)."""
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
        # a layer made there: a call of a builder found here is no advice to give (init proposes it)
        if _is_main_guard(statement) and any(
            _is_layer_call(sub, {}) for sub in ast.walk(statement)
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
                    else:
                        filled = _container_assigned(
                            target, sub.value, value_is_layer, layers, containers, returning
                        )
                        if filled and filled not in containers:
                            containers.add(filled)
                            changed = True
            else:
                filled = _filled(sub, layers, containers, returning)
                if filled and filled not in containers:
                    containers.add(filled)
                    changed = True
    return layers, containers


def _container_assigned(
    target: ast.expr,
    value: ast.expr,
    value_is_layer: bool,
    layers: set[str],
    containers: set[str],
    returning: dict[str, str],
) -> str | None:
    """The container an assignment fills or makes: `net['conv1'] = <layer>`, `net = dict(blocks)`,
    `out = {k: v for k, v in net.items()}`; else None."""
    if isinstance(target, ast.Subscript) and value_is_layer and isinstance(target.value, ast.Name):
        return target.value.id
    if isinstance(target, ast.Name) and _holds_layers(value, layers, containers, returning):
        return target.id
    return None


def _filled(
    node: ast.AST, layers: set[str], containers: set[str], returning: dict[str, str]
) -> str | None:
    """The container a call puts layers into: `net.append(l)`, `net.append(('conv1', l))`
    (Recipes' (name, layer) pairs), `net.update(block)`; else None."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("append", "insert", "extend", "update")
        and isinstance(node.func.value, ast.Name)
    ):
        return None
    if any(
        _is_layer_expr(arg, layers, returning) or _holds_layers(arg, layers, containers, returning)
        for arg in node.args
    ):
        return node.func.value.id
    return None


# calls that make a container of what they are given
DICT_CALLS = {"dict", "OrderedDict", "collections.OrderedDict"}
LIST_CALLS = {"list", "tuple", "reversed", "sorted"}


def _holds_layers(
    node: ast.AST, layers: set[str], containers: set[str], returning: dict[str, str]
) -> str | None:
    """ "dict" or "tuple" when the expression is a container of layers, as code writes them: a
    container the function filled (`net`), a literal tuple, list or dict holding layers or such
    containers (`(net, 'prob')`), `dict(net)`, a comprehension over a container of layers or making
    layers (`{'inc/' + k: v for k, v in net.items()}`), or a call of a builder of the module that
    returns one; else None."""

    def holds(value: ast.AST) -> bool:
        return _is_layer_expr(value, layers, returning) or bool(
            _holds_layers(value, layers, containers, returning)
        )

    if isinstance(node, ast.Name):
        return "dict" if node.id in containers else None
    if isinstance(node, (ast.Tuple, ast.List)):
        return "tuple" if any(holds(e) for e in node.elts) else None
    if isinstance(node, ast.Dict):
        return "dict" if any(v is not None and holds(v) for v in node.values) else None
    if isinstance(node, (ast.DictComp, ast.ListComp, ast.GeneratorExp, ast.SetComp)):
        element = node.value if isinstance(node, ast.DictComp) else node.elt
        over = [g.iter for g in node.generators]
        # net.items(), net.values(), net: the container itself
        sources = [
            i.func.value if isinstance(i, ast.Call) and isinstance(i.func, ast.Attribute) else i
            for i in over
        ]
        if _is_layer_expr(element, layers, returning) or any(holds(i) for i in sources):
            return "dict" if isinstance(node, ast.DictComp) else "tuple"
        return None
    if isinstance(node, ast.Call):
        name = dotted_name(node.func)
        if returning.get(name) in ("tuple", "dict"):
            return returning[name]
        if name in DICT_CALLS | LIST_CALLS and any(holds(a) for a in node.args):
            return "dict" if name in DICT_CALLS else "tuple"
    return None


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
        held = _holds_layers(value, layers, containers, returning)
        if held:
            return held
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
