"""An `inputs:` shape the model's graph cannot take: said in plain words, at its gradcheck.yml line.

A compiled function that fails on a shape mismatch names Theano's Apply node. When an operand of
that node is an InputLayer that `inputs:` made, or is computed from it alone (reshaped, transposed),
the shape gradcheck.yml gives is what does not fit: the error points at `inputs.<name>.shape` and
says which input had which shape and, for a matrix product, which size the model needed. Theano's
objects are only read here (their node and variables), never imported.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from ..config import ModelSpec
from ..core.errors import ModelLoadError, exception_chain
from .messages import error_summary

# Theano's products and the positions of their two factors
_PRODUCTS = {
    **dict.fromkeys(("Dot", "Dot22", "Dot22Scalar"), (0, 1)),
    **dict.fromkeys(("Gemm", "Gemv", "CGemv"), (2, 3)),  # z or y, alpha, the factors, beta
}
_INPUTS_SHAPES = re.compile(r"^Inputs shapes: (\[.*\])[ \t]*$", re.MULTILINE)
_WALK_LIMIT = 20_000  # graph variables visited per operand


def input_shape_error(
    exc: BaseException, text: str, spec: ModelSpec, config_file: str
) -> ModelLoadError | None:
    """The config error for a compiled function that failed on the shape of an `inputs:` layer,
    else None (the mismatch lies elsewhere in the model's graph, or the node is not known)."""
    node = next(
        (
            getattr(e, "__op_instance__", None)
            for e in exception_chain(exc)
            if getattr(e, "__op_instance__", None) is not None
        ),
        None,
    )
    if node is None or not spec.inputs:
        return None
    operands = list(getattr(node, "inputs", []))
    found = [(i, _made_input(v, spec)) for i, v in enumerate(operands)]
    position, name = next(((i, n) for i, n in found if n is not None), (None, None))
    if position is None or name is None:
        return None
    shapes = _operand_shapes(text, len(operands))
    own = shapes[position]
    leaf = getattr(operands[position], "owner", None) is None
    what = f"the input {name}" + (
        "" if own is None else f" ({_sizes(own)})" if leaf else f", as {_sizes(own)},"
    )
    op = type(getattr(node, "op", None)).__name__
    others = [
        _operand(v, s)
        for i, (v, s) in enumerate(zip(operands, shapes, strict=True))
        if i != position
    ]
    detail = _product(op, position, operands, shapes, what) or (
        f"Theano's {op} got {what.rstrip(',')}"
        + (f" with {', '.join(others)}" if others else "")
        + f" and failed ({error_summary(exc)})"
    )
    given = "[" + ", ".join("null" if s is None else str(s) for s in spec.inputs[name].shape) + "]"
    line = spec.key_lines.get(
        f"inputs.{name}.shape", spec.key_lines.get(f"inputs.{name}", spec.line)
    )
    error = ModelLoadError(
        f"inputs.{name}.shape {given} does not fit the model: {detail}",
        config_file,
        line,
        kind="config",
    )
    error.same_with_c = True  # Theano's C code fails on the same shapes
    return error


def _made_input(operand: Any, spec: ModelSpec) -> str | None:
    """The `inputs:` name whose InputLayer `operand` is, or is computed from alone; else None."""
    leaves: list[Any] = []
    seen: set[int] = set()
    stack = [operand]
    while stack and len(seen) < _WALK_LIMIT:
        variable = stack.pop()
        if id(variable) in seen:
            continue
        seen.add(id(variable))
        owner = getattr(variable, "owner", None)
        if owner is not None:
            stack.extend(owner.inputs)
        elif not type(variable).__name__.endswith("Constant"):
            leaves.append(variable)
    if stack or len(leaves) != 1:
        return None
    name = getattr(leaves[0], "name", None)
    given = spec.inputs.get(name) if isinstance(name, str) else None
    ndim = getattr(getattr(leaves[0], "type", None), "ndim", None)
    return name if given is not None and ndim == len(given.shape) else None


def _operand_shapes(text: str, count: int) -> list[tuple[int, ...] | None]:
    """The operands' shapes from Theano's "Inputs shapes: [...]" line, None where not known."""
    match = _INPUTS_SHAPES.search(text)
    try:
        listed = ast.literal_eval(match.group(1)) if match else []
    except (ValueError, SyntaxError):
        listed = []
    shapes: list[tuple[int, ...] | None] = [
        s if isinstance(s, tuple) and all(isinstance(d, int) for d in s) else None
        for s in (listed if isinstance(listed, list) else [])
    ]
    return shapes + [None] * (count - len(shapes)) if len(shapes) <= count else [None] * count


def _product(
    op: str,
    position: int,
    operands: list[Any],
    shapes: list[tuple[int, ...] | None],
    what: str,
) -> str | None:
    """ "it multiplies <the input> by W (6x4), which needs 6 columns, not 5" for a product whose
    factors' shapes are known, else None."""
    left, right = _PRODUCTS.get(op, (None, None))
    if position not in (left, right) or left is None or right is None:
        return None
    x, y = shapes[left], shapes[right]
    if not x or not y:
        return None
    if position == left:
        other = _operand(operands[right], y)
        return f"it multiplies {what} by {other}, which needs {_count(y[0], 'column')}, not {x[-1]}"
    other = _operand(operands[left], x)
    needs = _count(x[-1], "row")
    return f"it multiplies {other} by {what.rstrip(',')}, which needs {needs}, not {y[0]}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _operand(variable: Any, shape: tuple[int, ...] | None) -> str:
    name = getattr(variable, "name", None)
    label = name if isinstance(name, str) and name else "a tensor"
    return label if shape is None else f"{label} ({_sizes(shape)})"


def _sizes(shape: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in shape) if shape else "a scalar"
