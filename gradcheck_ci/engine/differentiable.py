"""Ops Theano has no gradient for, found in a loss graph: what `theano.grad` meets before it fails.

An op class that defines neither `grad` nor `L_op` (Theano 1.0.5's `SVD`, `Eig`, `QRFull`, ...)
makes theano.grad raise an AttributeError from deep inside theano/gradient.py, which names no line
of the user's. The op's node still carries the trace of the user's line that built it.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import ModelLoadError
from ..usercode.trace import creation_site


def has_gradient(op: Any) -> bool:
    """Whether the op's class (or a base below Theano's Op) defines how to differentiate it."""
    from theano.gof.op import Op, PureOp

    for cls in type(op).__mro__:
        if cls in (Op, PureOp, object):
            break
        if "grad" in vars(cls) or "L_op" in vars(cls):
            return True
    return False


def without_gradient(loss: Any, wrt: list[Any]) -> list[Any]:
    """Apply nodes between `wrt` and `loss` (and inside their scans) whose op has no gradient, in
    graph order."""
    from theano.gof import graph

    found = []
    stack = list(graph.io_toposort(graph.inputs([loss]), [loss]))
    depends = set(wrt)
    for node in stack:
        if any(i in depends for i in node.inputs):
            depends.update(node.outputs)
            if not has_gradient(node.op):
                found.append(node)
    return found


def op_name(op: Any) -> str:
    """The op as the user called it: `theano.tensor.nlinalg.SVD`."""
    cls = type(op)
    return f"{cls.__module__}.{cls.__name__}"


def cannot_differentiate(
    exc: BaseException,
    loss: Any,
    wrt: list[Any],
    model_name: str,
    root: str,
    fallback: tuple[str, int],
) -> ModelLoadError | None:
    """The error to report when theano.grad failed on an op without a gradient (None: some other
    failure)."""
    nodes = without_gradient(loss, wrt)
    if not nodes or not isinstance(exc, (AttributeError, NotImplementedError, TypeError)):
        return None
    node = nodes[0]
    site = creation_site(node.outputs[0], root)
    message = (
        f"Theano cannot differentiate {type(node.op).__name__} ({op_name(node.op)}): the op "
        f"has no gradient in Theano 1.0.5, so the loss of {model_name!r} has none with "
        f"respect to the parameters "
        "before it; compute that value with ops Theano can differentiate, or give the op a "
        "grad()"
    )
    return ModelLoadError(message, *(site or fallback), kind="build")
