"""Why Theano finds no gradient for a parameter that is in the model: where its paths to the loss
are cut.

Three different facts hide behind `theano.grad(..., return_disconnected="None")` returning None:

- `absent`: no path at all: nothing the loss computes uses the parameter;
- `stopped`: every path crosses a gradient stop the code put there (`disconnected_grad`,
  `zero_grad`, `consider_constant`): the loss depends on the parameter, Theano's gradient ignores
that;
- `piecewise`: every path crosses an integer-valued op (argmax, a comparison, a cast to int): the
  loss is piecewise constant in the parameter, so its derivative is zero wherever it exists;
- `shape`: the loss uses only the parameter's shape.

Walked forward from the parameter over the loss graph (outer graph; scans are taken as opaque).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .bypass import GRADIENT_ONLY, STOPS

SHAPE_OPS = ("Shape", "Shape_i")


@dataclass
class Cut:
    kind: str  # "stopped" | "piecewise" | "shape" | "absent"
    # the Apply nodes that cut the paths (none for "absent")
    nodes: list[Any] = field(default_factory=list)

    def op_names(self) -> list[str]:
        return list(dict.fromkeys(op_name(node.op) for node in self.nodes))


def op_name(op: Any) -> str:
    """The op as the user wrote it: theano.gradient.disconnected_grad, argmax, gt, ..."""
    cls = type(op).__name__
    if cls in GRADIENT_ONLY:
        return GRADIENT_ONLY[cls]
    if "Argmax" in cls:
        return "argmax"
    scalar = re.match(r"Elemwise\{(\w+)", str(op))
    return scalar.group(1) if scalar else cls


def is_integer(variable: Any) -> bool:
    return str(getattr(variable, "dtype", "")).startswith(("int", "uint", "bool"))


def cut_of(loss: Any, param: Any) -> Cut:
    """How `param`'s paths to `loss` are cut (Cut("absent") when it has none)."""
    from theano.gof import graph

    needed = set(graph.ancestors([loss]))
    if param not in needed:
        return Cut("absent")
    reached = {param}
    found: dict[str, list[Any]] = {"stopped": [], "piecewise": [], "shape": []}
    for node in graph.io_toposort(graph.inputs([loss]), [loss]):
        if not any(i in reached for i in node.inputs):
            continue
        name = type(node.op).__name__
        for out in node.outputs:
            if out not in needed:
                continue
            if name in STOPS and type(node.op).__module__ == "theano.gradient":
                found["stopped"].append(node)
            elif name in SHAPE_OPS:
                found["shape"].append(node)
            elif is_integer(out):
                found["piecewise"].append(node)
            else:
                reached.add(out)
    for kind in ("stopped", "piecewise", "shape"):
        if found[kind]:
            return Cut(kind, list(dict.fromkeys(found[kind])))
    return Cut("absent")
