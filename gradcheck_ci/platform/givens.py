"""Shared variables as function inputs: the check's functions take the parameters' values as
arguments, so a probe never calls set_value and the function cache can keep a function without the
values it was compiled with."""

from __future__ import annotations

from typing import Any


def param_inputs(variables: list[Any]) -> tuple[list[Any], list[Any]]:
    """A symbolic input per shared variable, and the givens that put them in the variables'
    place."""
    import theano.tensor as T

    symbolic = [T.TensorType(v.dtype, v.broadcastable)(v.name or "param") for v in variables]
    return symbolic, list(zip(variables, symbolic, strict=True))
