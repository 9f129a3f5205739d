"""Values for a builder's required arguments, from how its code uses them (for `init`; no import, no
Theano).

Builders often take sizes the training script computes from its data: `build_model(X_train.shape[1],
n_classes)`, a vocabulary size. A gradient check needs none of the data, only sizes that make a
small network, so an argument the builder uses as a layer size (an InputLayer's shape, num_units,
num_filters, an EmbeddingLayer's input_size, a repeat count) gets a small one; an argument that the
repository calls the builder with as a literal gets that literal; a Theano input variable gets null.
Any other argument (a loaded array, a config object, a file name) gets no value: `init` writes a
placeholder and why.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import Any

# Where a size ends up -> the small value proposed for it (a check must take seconds, and still be a
# network).
_FILTERS = {"filter_size", "pool_size", "stride", "ds", "pool_stride"}
_VOCABULARY = (
    "vocab",
    "n_words",
    "num_words",
    "input_size",
    "n_symbols",
    "n_tokens",
    "n_chars",
    "alphabet",
)
_CLASSES = (
    "class",
    "label",
    "tag",
    "n_out",
    "num_out",
    "output_dim",
    "out_dim",
    "n_targets",
    "output_size",
)


def dotted_name(node: ast.expr) -> str:
    """`lasagne.layers.DenseLayer` for that attribute chain ('' where it is not names and
    attributes)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _is_layer(call: ast.Call) -> bool:
    last = dotted_name(call.func).rsplit(".", 1)[-1]
    return last.endswith("Layer") and last[:1].isupper() or last in ("batch_norm", "dropout")


_ARITHMETIC_CALLS = {"int", "max", "min", "round", "abs"}


def _names_in(node: ast.AST) -> set[str]:
    """The names (and `self.x` attributes) whose value an expression computes with: through
    arithmetic, tuples and int()/max()/min(), not through a subscript or another call (`config['n']`
    is not `config` itself)."""
    if isinstance(node, (ast.Name, ast.Attribute)):
        return {dotted_name(node)} - {""}
    children: list[ast.AST] = []
    if isinstance(node, ast.BinOp):
        children = [node.left, node.right]
    elif isinstance(node, ast.UnaryOp):
        children = [node.operand]
    elif isinstance(node, (ast.Tuple, ast.List)):
        children = list(node.elts)
    elif isinstance(node, ast.IfExp):
        children = [node.body, node.orelse]
    elif isinstance(node, ast.Call) and dotted_name(node.func) in _ARITHMETIC_CALLS:
        children = list(node.args)
    return set().union(*(_names_in(child) for child in children)) if children else set()


def _aliases(bodies: list[ast.AST], argument: str) -> set[str]:
    """The argument and what is computed from it (`n_hidden = 2 * hidden`, `self.n_in = n_in`), to a
    fixed point."""
    names = {argument}
    changed = True
    while changed:
        changed = False
        for body in bodies:
            for sub in ast.walk(body):
                if isinstance(sub, ast.Assign) and _names_in(sub.value) & names:
                    for target in sub.targets:
                        name = (
                            dotted_name(target)
                            if isinstance(target, (ast.Name, ast.Attribute))
                            else ""
                        )
                        if name and name not in names:
                            names.add(name)
                            changed = True
    return names


def use_as_size(bodies: list[ast.AST], argument: str) -> tuple[int, str] | None:
    """(value, reason) when the code uses `argument` as a layer size or a repeat count, else
    None."""
    names = _aliases(bodies, argument)
    lowered = argument.lower()
    for body in bodies:
        for sub in ast.walk(body):
            if (
                isinstance(sub, ast.Call)
                and dotted_name(sub.func) == "range"
                and any(_names_in(a) & names for a in sub.args)
            ):
                return 2, f"a repeat count (range(), line {sub.lineno})"
            if not isinstance(sub, ast.Call) or not _is_layer(sub):
                continue
            layer = dotted_name(sub.func).rsplit(".", 1)[-1]
            for keyword in sub.keywords:
                if keyword.arg and _names_in(keyword.value) & names:
                    if keyword.arg in _FILTERS:
                        return 2, f"{layer}'s {keyword.arg} (line {sub.lineno})"
                    return _size(lowered, keyword.arg == "shape", None), (
                        f"{layer}'s {keyword.arg} (line {sub.lineno})"
                    )
            for position, value in enumerate(sub.args):
                if not _names_in(value) & names:
                    continue
                # an InputLayer's shape: image sides need room for filters
                if isinstance(value, ast.Tuple):
                    axis = next(i for i, e in enumerate(value.elts) if _names_in(e) & names)
                    side = len(value.elts) == 4 and axis >= 2
                    return _size(lowered, True, side), f"{layer}'s shape (line {sub.lineno})"
                if position > 0:
                    return _size(lowered, False, None), f"{layer}'s size (line {sub.lineno})"
    return None


def _size(name: str, shape: bool, side: bool | None) -> int:
    if side:
        return 12
    if any(word in name for word in _VOCABULARY):
        return 10
    if any(word in name for word in _CLASSES):
        return 3
    return 4 if shape else 5


def call_literals(trees: dict[str, ast.Module]) -> dict[str, list[tuple[dict[Any, Any], str, int]]]:
    """Every call of a name in the repository, by the called name's last part: ({index or keyword:
    literal}, file, line), for the arguments written as int, float, str or bool literals."""
    found: dict[str, list[tuple[dict[Any, Any], str, int]]] = {}
    for rel, tree in trees.items():
        for sub in ast.walk(tree):
            if not isinstance(sub, ast.Call):
                continue
            name = dotted_name(sub.func).rsplit(".", 1)[-1]
            if not name:
                continue
            values: dict[Any, Any] = {}
            for index, arg in enumerate(sub.args):
                literal = _literal(arg)
                if literal is not None:
                    values[index] = literal
            for keyword in sub.keywords:
                literal = _literal(keyword.value) if keyword.arg else None
                if literal is not None:
                    values[keyword.arg] = literal
            if values:
                found.setdefault(name, []).append((values, rel, sub.lineno))
    return found


def _literal(node: ast.expr) -> Any:
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None
    return value if isinstance(value, (bool, int, float, str)) else None


def _definition(
    tree: ast.Module, name: str
) -> tuple[ast.FunctionDef | None, ast.FunctionDef | None]:
    """(the function or method, the class's __init__) that a candidate's name refers to."""
    owner, _, member = name.rpartition(".")
    if not owner:
        return next(
            (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None
        ), None
    methods = class_methods(tree, owner)
    return methods.get(member), methods.get("__init__")


def class_methods(
    tree: ast.Module, name: str, seen: frozenset[str] = frozenset()
) -> dict[str, ast.FunctionDef]:
    """A class's methods, with those it inherits from classes of the same module (its own win)."""
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)
    if cls is None or name in seen:
        return {}
    methods: dict[str, ast.FunctionDef] = {}
    for base in reversed(cls.bases):
        if isinstance(base, ast.Name):
            methods.update(class_methods(tree, base.id, seen | {name}))
    methods.update({n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)})
    return methods


def _positional(function: ast.FunctionDef | None) -> list[str]:
    if function is None:
        return []
    names = [a.arg for a in function.args.posonlyargs + function.args.args]
    return names[1:] if names[:1] in (["self"], ["cls"]) else names


def propose_kwargs(
    candidates: Iterable[Any], trees: dict[str, ast.Module], layer_arguments: set[str]
) -> None:
    """Fill each candidate's `kwargs` and `reasons` for its required arguments (layers excepted:
    `inputs:`)."""
    calls = call_literals(trees)
    for candidate in candidates:
        if not candidate.required or candidate.file not in trees:
            continue
        function, init = _definition(trees[candidate.file], candidate.function)
        bodies: list[ast.AST] = [b for b in (function, init) if b is not None]
        callee = (
            candidate.function.rsplit(".", 1)[-1]
            if candidate.kind != "attribute"
            else candidate.function.split(".")[0]
        )
        order = _positional(init if candidate.kind == "attribute" else function)
        for argument in candidate.required:
            # a layer the caller makes (`inputs:`), by its name or by its use
            if argument in layer_arguments or argument in candidate.layer_arguments:
                continue
            if argument.endswith("var") or argument.endswith("vars"):
                candidate.kwargs[argument] = None
                candidate.reasons[argument] = (
                    "a Theano input variable: null, and the InputLayer makes its own"
                )
                continue
            literal = _called_with(calls.get(callee, []), argument, order)
            if literal is not None:
                value, where = literal
                candidate.kwargs[argument] = value
                candidate.reasons[argument] = f"as {where} calls it"
                continue
            size = use_as_size(bodies, argument)
            if size is not None:
                candidate.kwargs[argument], why = size
                candidate.reasons[argument] = f"a small size for {why}"
                continue
            fields = fields_read(bodies, argument)
            if fields:
                candidate.fields[argument] = fields
                candidate.reasons[argument] = (
                    f"an object it reads {', '.join(fields)} of (an argparse Namespace, a config): "
                    "give them as a mapping, which the factory gets as an object with those "
                    "attributes"
                )
                continue
            candidate.reasons[argument] = _unusable(bodies, argument)


def _called_with(
    calls: list[tuple[dict[Any, Any], str, int]], argument: str, order: list[str]
) -> tuple[Any, str] | None:
    index = order.index(argument) if argument in order else None
    for values, rel, line in calls:
        if argument in values:
            return values[argument], f"{rel}:{line}"
        if index is not None and index in values:
            return values[index], f"{rel}:{line}"
    return None


# what a mapping's attributes are when code reads `config.get(...)`: not fields
DICT_METHODS = {"get", "items", "keys", "values", "copy", "update", "pop", "setdefault"}


def fields_read(bodies: list[ast.AST], argument: str) -> list[str]:
    """The attributes (`args.hidden`) and string keys (`config['hidden']`) of `argument` the code
    reads, in order of first use."""
    fields: list[str] = []
    for body in bodies:
        for sub in ast.walk(body):
            name = None
            if (
                isinstance(sub, ast.Attribute)
                and isinstance(sub.value, ast.Name)
                and sub.value.id == argument
            ):
                name = sub.attr
            elif (
                isinstance(sub, ast.Subscript)
                and isinstance(sub.value, ast.Name)
                and sub.value.id == argument
                and isinstance(sub.slice, ast.Constant)
                and isinstance(sub.slice.value, str)
            ):
                name = sub.slice.value
            if name and name.isidentifier() and name not in fields and name not in DICT_METHODS:
                fields.append(name)
    return fields


def _unusable(bodies: list[ast.AST], argument: str) -> str:
    """Why no value can be proposed: the first line that uses the argument, or that nothing does."""
    for body in bodies:
        for sub in ast.walk(body):
            if (
                isinstance(sub, ast.stmt)
                and not isinstance(sub, (ast.FunctionDef, ast.ClassDef))
                and any(isinstance(n, ast.Name) and n.id == argument for n in ast.walk(sub))
                and not isinstance(sub, (ast.If, ast.For, ast.While, ast.With))
            ):
                code = ast.unparse(sub).splitlines()[0][:60]
                return f"not a layer size gradcheck-ci can choose (line {sub.lineno}: {code})"
    return "not used as a layer size in the builder's own code"
