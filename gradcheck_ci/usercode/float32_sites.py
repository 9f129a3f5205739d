"""float32 variables in a float64 check: where the user's code creates them, declaring its float32
inputs as float64 for the settling check, and the message for a type error they cause."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from .messages import error_summary
from .sites import CallSite, is_users, relative

# ---------------------------------------------------------------- float32 variables in a float64
# check

_float32_sites: list[CallSite] = []


@functools.cache
def _theano_dir() -> str:
    from theano.gof import graph

    return os.path.dirname(os.path.dirname(os.path.abspath(graph.__file__))) + os.sep


def _user_caller_of_theano(root: str) -> FrameType | None:
    """The frame of the user's code that called into Theano (for a patched Variable.__init__: the
    first frame above it outside Theano's package), or None when that caller is not the user's
    code."""
    theano_dir = _theano_dir()
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(theano_dir):
        frame = frame.f_back
    return frame if frame is not None and is_users(frame.f_code.co_filename, root) else None


@contextmanager
def recording_float32_sites(root: str) -> Iterator[list[CallSite]]:
    """While active, remember where the user's code creates float32 Theano variables (T.ftensor3, a
    float32 shared variable, a cast): in a float64 check they are the model's own choice, and the
    likely cause of a type error between float32 and float64 (see float32_explanation). Only the
    first few are kept."""
    from theano.gof import graph

    original = graph.Variable.__init__
    _float32_sites.clear()

    def __init__(self: Any, type: Any, *args: Any, **kwargs: Any) -> None:
        original(self, type, *args, **kwargs)
        if (
            getattr(type, "dtype", None) != "float32"
            or len(_float32_sites) >= 5
            or isinstance(self, graph.Constant)
        ):
            return
        frame = _user_caller_of_theano(root)
        if frame is not None:
            site = CallSite(relative(frame.f_code.co_filename, root), frame.f_lineno)
            if site not in _float32_sites:
                _float32_sites.append(site)

    graph.Variable.__init__ = __init__
    try:
        yield _float32_sites
    finally:
        graph.Variable.__init__ = original


@contextmanager
def float32_inputs_as_float64(root: str) -> Iterator[None]:
    """While active, a symbolic input the user's code declares as float32 (T.ftensor3, T.fmatrix,
    T.TensorType('float32', ...)) is declared float64 instead: so that a model written in float32
    can be built in float64, for the float64 check that settles what its float32 check could not
    (diagnose/low_precision.py). Only free inputs change (no owner, not shared, not a constant); the
    data fed to them is the float32 check's, which float64 holds exactly. A cast of the user's code
    to float32 (T.cast(x, 'float32'), x.astype('float32'): a graph written for the GPU) casts to
    float64 instead, or the float32 it makes could not meet float64 parameters (a convolution takes
    one dtype). What else the model fixes in float32 (a float32 shared variable) stays as written,
    and where it cannot mix with float64 that check does not run."""
    from theano.compile.sharedvalue import SharedVariable
    from theano.gof import graph
    from theano.tensor import basic as tensor_basic

    original = graph.Variable.__init__
    casts = tensor_basic._cast_mapping
    to_float32 = casts["float32"]

    def __init__(self: Any, type: Any, owner: Any = None, *args: Any, **kwargs: Any) -> None:
        if (
            getattr(type, "dtype", None) == "float32"
            and owner is None
            and hasattr(type, "clone")
            and not isinstance(self, (graph.Constant, SharedVariable))
            and _user_caller_of_theano(root)
        ):
            type = type.clone(dtype="float64")
        original(self, type, owner, *args, **kwargs)

    def users_float32_as_float64(x: Any) -> Any:  # called by tensor.cast, which x.astype calls too
        return casts["float64"](x) if _user_caller_of_theano(root) else to_float32(x)

    graph.Variable.__init__ = __init__
    casts["float32"] = users_float32_as_float64
    try:
        yield
    finally:
        graph.Variable.__init__ = original
        casts["float32"] = to_float32


def float32_explanation(
    exc: BaseException, text: str | None = None
) -> tuple[str, tuple[str, int] | None] | None:
    """(message, where) for a type error between float32 and float64 in a float64 check of a model
    that builds float32 variables itself; None otherwise."""
    text = text or f"{type(exc).__name__}: {exc}"
    if not _float32_sites or "float32" not in text or not isinstance(exc, (TypeError, ValueError)):
        return None
    first = _float32_sites[0]
    short = error_summary(exc)
    short = (short[: short.find(". ")] if ". " in short else short).rstrip(
        "."
    )  # its first sentence
    return (
        f"this model builds float32 variables ({first.file}:{first.line}) and fails in a "
        f"float64 check: {short}; set `precision: float32` for this model in gradcheck.yml (or "
        f"build the variables with "
        "theano.config.floatX)",
        (first.file, first.line),
    )
