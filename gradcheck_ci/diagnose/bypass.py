"""The ablation of Theano's gradient-only ops: a layer rebuilt as if its code had not called them.

`theano.gradient.grad_clip`, `disconnected_grad`, `zero_grad` and `consider_constant` return their
input unchanged in the forward pass and only change what flows back. While the layer's
`get_output_for` runs again for the rebuild, calling one of those ops returns its input, so the
rebuilt layer has none of them, wherever its code called them: inline, in a helper, or in the step
function of its own `theano.scan`. The forward pass is the same, so the check's forward function
still serves the probes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Op class (theano.gradient) -> the function users call to make it.
GRADIENT_ONLY: dict[str, str] = {
    "GradClip": "theano.gradient.grad_clip",
    "DisconnectedGrad": "theano.gradient.disconnected_grad",
    "ZeroGrad": "theano.gradient.zero_grad",
    "ConsiderConstant": "theano.gradient.consider_constant",
}
# the ones that cut the gradient outright
STOPS = ("DisconnectedGrad", "ZeroGrad", "ConsiderConstant")


def kind_of(op: Any) -> str | None:
    """The GRADIENT_ONLY class name of `op`, or None."""
    name = type(op).__name__
    return name if name in GRADIENT_ONLY and type(op).__module__ == "theano.gradient" else None


@contextmanager
def identities(kinds: tuple[str, ...]) -> Iterator[None]:
    """Calling an op of these classes returns its input, for the duration."""
    import theano.gradient

    classes = [getattr(theano.gradient, kind) for kind in kinds]
    had = [cls for cls in classes if "__call__" in vars(cls)]
    saved = {cls: vars(cls)["__call__"] for cls in had}

    def identity(self: Any, *inputs: Any, **kwargs: Any) -> Any:
        return inputs[0]

    try:
        for cls in classes:
            cls.__call__ = identity
        yield
    finally:
        for cls in classes:
            if cls in saved:
                cls.__call__ = saved[cls]
            else:
                del cls.__call__


def without(layer: Any, kinds: tuple[str, ...]) -> tuple[Any, str, Any]:
    """The attribute change (for session.attributes) that rebuilds `layer` without ops of these
    classes."""
    original = layer.get_output_for

    def get_output_for(*args: Any, **kwargs: Any) -> Any:
        with identities(kinds):
            return original(*args, **kwargs)

    return (layer, "get_output_for", get_output_for)
