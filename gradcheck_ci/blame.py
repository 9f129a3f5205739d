"""Blame the user's code: which file and line of the repository an error, a layer or a function comes from.

Every error about a model names a place the user can open: the innermost frame of a traceback that lies
in the repository, the line that constructed a layer, the `def` (or `return`) of a factory or loss. Paths
are relative to the repository root with '/' separators. Also here: the hints for code written for a newer
Lasagne or for Theano's removed CUDA backend, and which escaped exceptions are the model's fault.
"""
from __future__ import annotations

import inspect
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from .config import ModelSpec
from .errors import ModelLoadError


@dataclass
class CallSite:
    file: str  # relative to the repository root
    line: int


# ---------------------------------------------------------------- which files are the user's

def is_inside(path: str, root: str) -> bool:
    """Whether `path` (symlinks resolved) lies in the folder `root` (already resolved)."""
    if not path or path.startswith("<"):  # "<string>", "<__array_function__ internals>", "<frozen ...>"
        return False
    path = os.path.realpath(path)
    return path == root or path.startswith(root + os.sep)


def is_library(path: str) -> bool:
    """Installed packages and gradcheck-ci itself: never the user's code, even inside the repository."""
    return "site-packages" in path or "dist-packages" in path or f"{os.sep}gradcheck_ci{os.sep}" in path


def relative(path: str, root: str) -> str:
    """`path` relative to the repository root, with '/' separators (as reports show it)."""
    return os.path.relpath(os.path.realpath(path), root).replace(os.sep, "/")


def user_frame(tb_frames: list[traceback.FrameSummary], root: str) -> CallSite | None:
    """The innermost frame of a traceback that lies in the user's repository."""
    for frame in reversed(tb_frames):
        if frame.filename and is_inside(frame.filename, root) and not is_library(frame.filename):
            return CallSite(relative(frame.filename, root), frame.lineno or 1)
    return None


def definition_site(fn: Callable[..., Any], root: str) -> tuple[str, int] | None:
    """(file, line) of the `def` of a function in the repository, else None."""
    try:
        path = inspect.getsourcefile(fn)
        _, line = inspect.getsourcelines(fn)
    except (TypeError, OSError):
        return None
    if path and is_inside(path, root):
        return relative(path, root), line
    return None


def call_noting_return(fn: Callable[..., Any], kwargs: dict[str, Any],
                       args: tuple[Any, ...] = ()) -> tuple[Any, int | None]:
    """fn(*args, **kwargs), and the line of fn's own `return` (a profile hook watches only fn's code object)."""
    code = getattr(fn, "__code__", None)
    if code is None or sys.getprofile() is not None:  # not a plain function, or a profiler is running
        return fn(*args, **kwargs), None
    returned: list[int | None] = [None]

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "return" and frame.f_code is code:
            returned[0] = frame.f_lineno

    sys.setprofile(profile)
    try:
        value = fn(*args, **kwargs)
    finally:
        sys.setprofile(None)
    return value, returned[0]


@contextmanager
def recording_call_sites(root: str) -> Iterator[dict[int, CallSite]]:
    """While active, remember the user's file and line that constructed each Lasagne layer."""
    from lasagne.layers import base
    from lasagne.layers import input as input_layers

    sites: dict[int, CallSite] = {}
    keep_alive: list[Any] = []  # ids are only unique while the objects live
    # InputLayer.__init__ does not call Layer.__init__ in Lasagne 0.1: wrap it too, or inputs have no site.
    originals = {cls: cls.__init__ for cls in (base.Layer, base.MergeLayer, input_layers.InputLayer)}

    def wrap(original: Callable[..., None]) -> Callable[..., None]:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            if id(self) not in sites:
                site = _construction_site(self, root)
                if site:
                    sites[id(self)] = site
                    keep_alive.append(self)
            original(self, *args, **kwargs)
        return __init__

    for cls, original in originals.items():
        cls.__init__ = wrap(original)
    try:
        yield sites
    finally:
        for cls, original in originals.items():
            cls.__init__ = original


def _construction_site(layer: Any, root: str) -> CallSite | None:
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        inside_own_init = frame.f_locals.get("self") is layer
        if not inside_own_init and is_inside(filename, root) and not is_library(filename):
            return CallSite(relative(filename, root), frame.f_lineno)
        frame = frame.f_back
    return None


# ---------------------------------------------------------------- quoting the user's code

MAX_QUOTED_LINES = 8  # a layer's constructor call spread over many lines is quoted up to this many
_OPENING, _CLOSING = "([{", ")]}"


def quote_source(root: str, file: str, line: int) -> dict[str, str]:
    """The statement at `line` of the repository file `file` ({line number: text}): the line itself and, while
    its brackets are open, the lines that continue it. Empty when the file is not the repository's or is gone.
    """
    root = os.path.realpath(root)
    path = os.path.join(root, *file.split("/"))
    if line < 1 or not is_inside(path, root) or not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return {}
    quoted: dict[str, str] = {}
    depth = 0
    for number in range(line, min(line + MAX_QUOTED_LINES, len(lines) + 1)):
        text = lines[number - 1]
        quoted[str(number)] = text[:300]
        code = text.split("#", 1)[0]
        depth += sum(code.count(c) for c in _OPENING) - sum(code.count(c) for c in _CLOSING)
        if depth <= 0:
            break
    return quoted


# ---------------------------------------------------------------- errors raised by the user's code

def user_code_error(exc: BaseException, root: str, doing: str,
                    fallback: tuple[str, int | None]) -> ModelLoadError:
    """Turn an exception from user code into a message naming the user's file and line."""
    if isinstance(exc, SyntaxError) and exc.filename and is_inside(exc.filename, root):
        file = relative(exc.filename, root)
        if "codec can't decode" in str(exc.msg) or str(exc.msg).startswith("Non-UTF-8"):
            return ModelLoadError(f"{file} is not valid UTF-8 ({exc.msg}); save it as UTF-8 (or declare its "
                                  "encoding with a '# -*- coding: ... -*-' line)", file, exc.lineno)
        return ModelLoadError(f"syntax error {doing}: {exc.msg}", file, exc.lineno)
    frames = traceback.extract_tb(exc.__traceback__)
    site = user_frame(frames, root)
    location = (site.file, site.line) if site else fallback
    if isinstance(exc, MemoryError):
        return ModelLoadError(f"out of memory {doing} (MemoryError: the model's `memory` limit in gradcheck.yml "
                              "is too small for it, or the code allocates far more than it needs)",
                              *location, kind="memory")
    if isinstance(exc, SystemExit):
        return ModelLoadError(f"the code called exit({exc.code!r}) {doing}; a factory must return the output "
                              "layer (raise an exception to report a problem)", *location)
    text = f"{type(exc).__name__}: {_without_library_paths(str(exc))}".strip()
    hint = legacy_hint(exc)
    message = f"{text} ({doing})" + (f". {hint}" if hint else "")
    return ModelLoadError(message, *location)


def unexpected_error(exc: BaseException, root: str, spec: ModelSpec, config_file: str) -> ModelLoadError | None:
    """An exception that escaped the check: the model's fault (a ModelLoadError to report) or ours (None).

    It is the model's when the traceback passes through the repository's code (a custom layer's or op's
    method) or when Theano says the graph cannot be differentiated.
    """
    root = os.path.realpath(root)
    name = type(exc).__name__
    if name in ("NullTypeGradError", "DisconnectedInputError", "GradientError") or (
            isinstance(exc, (TypeError, NotImplementedError)) and "grad" in str(exc).lower()
            and "theano" in type(exc).__module__ + str(exc)):
        first = " ".join(str(exc).split()) or name
        op = re.search(r"of the (\w+) op\b", first)
        site = _user_class_site(op.group(1), root, method="grad") if op else None
        return ModelLoadError(f"Theano cannot differentiate the loss of {spec.name!r}: {name}: {first} (every "
                              "checked parameter needs a differentiable path to the loss; argmax, sort indices "
                              "and rounding have no gradient)", *(site or (config_file, spec.line)), kind="build")
    if user_frame(traceback.extract_tb(exc.__traceback__), root) is not None:
        return user_code_error(exc, root, f"checking model {spec.name!r}", fallback=(config_file, spec.line))
    if _raised_by_theano_function(exc):
        # The compiled graph failed at run time (a shape mismatch, an op's perform()): the model's graph.
        lines = [line for line in str(exc).splitlines() if line.strip()]
        keep = [lines[0]] if lines else [name]
        keep += [line for line in lines[1:] if line.startswith("Apply node that caused the error")]
        site = _node_creation_site(exc, root)
        message = (f"Theano failed evaluating the compiled loss of {spec.name!r}: {name}: " + "; ".join(keep)
                   + " (a shape or type mismatch in the model's graph or loss; set THEANO_FLAGS=optimizer=fast_compile "
                   "and run the factory yourself to see where the node was built)")
        return ModelLoadError(message, *(site or (config_file, spec.line)), kind="build")
    return None


def _user_class_site(name: str, root: str, method: str) -> tuple[str, int] | None:
    """Where the repository's code defines class `name` (its `method` if it defines one), else None."""
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path or not is_inside(path, root) or is_library(path):
            continue
        cls = getattr(module, name, None)
        if not isinstance(cls, type):
            continue
        target = cls.__dict__.get(method, cls)
        try:
            _, line = inspect.getsourcelines(target)
        except (TypeError, OSError):
            continue
        return relative(path, root), line
    return None


def _raised_by_theano_function(exc: BaseException) -> bool:
    if hasattr(exc, "__thunk_trace__") or "Apply node that caused the error" in str(exc):
        return True
    frames = traceback.extract_tb(exc.__traceback__)
    return any(f.name == "__call__" and f.filename.endswith(os.path.join("compile", "function_module.py"))
               for f in frames)


def _node_creation_site(exc: BaseException, root: str) -> tuple[str, int] | None:
    """The user's line that built the failing Theano node, when Theano kept its creation trace."""
    trace = getattr(exc, "__thunk_trace__", None) or []
    stacks = trace if trace and isinstance(trace[0], list) else [trace]
    for stack in stacks:
        frames = [traceback.FrameSummary(f[0], f[1], f[2], line=f[3] if len(f) > 3 else None)
                  for f in stack if isinstance(f, (tuple, list)) and len(f) >= 3]
        site = user_frame(frames, root)
        if site:
            return site.file, site.line
    return None


def _without_library_paths(text: str) -> str:
    """'cannot import name X from Y (/venv/.../site-packages/y/__init__.py)' -> without the installed path."""
    return re.sub(r" \((?:/|[A-Za-z]:\\)[^()]*(?:site|dist)-packages[^()]*\)", "", text)


# ---------------------------------------------------------------- code written for another Lasagne or Theano

_LASAGNE_MASTER_NAMES = ("BatchNormLayer", "batch_norm", "only_return_final", "Deconv2DLayer", "TransposedConv2DLayer",
                         "DilatedConv2DLayer", "ExpressionLayer", "ElemwiseSumLayer", "SpatialPyramidPoolingLayer",
                         "LocalResponseNormalization2DLayer", "StandardizationLayer", "InstanceNormLayer",
                         "LayerNormLayer", "TPSTransformerLayer", "ScaleLayer", "BiasLayer", "Upscale2DLayer")

_GPU_MODULES = ("sandbox/cuda", "sandbox\\cuda", "layers/dnn.py", "layers/cuda_convnet.py", "layers/corrmm.py",
                "gpuarray")


def _is_lasagne_layer(name: str) -> bool:
    layers = sys.modules.get("lasagne.layers")
    value = getattr(layers, name, None) if layers is not None else None
    return isinstance(value, type) and (value.__module__ or "").startswith("lasagne.")


def legacy_hint(exc: BaseException) -> str:
    """Explain errors caused by code written for newer Lasagne or for the removed CUDA backend ('' if not)."""
    text = str(exc)
    module = getattr(exc, "name", None) or ""
    frames = [f.filename for f in traceback.extract_tb(exc.__traceback__)] if exc.__traceback__ else []
    via_gpu_module = any(marker in filename for filename in frames for marker in _GPU_MODULES)
    gpu_names = ("theano.sandbox", "theano.gpuarray", "pygpu", "lasagne.layers.dnn", "lasagne.layers.cuda_convnet",
                 "lasagne.layers.corrmm", "cuda_ndarray", "pycuda")
    if isinstance(exc, ImportError) and (via_gpu_module or any(n in text or module.startswith(n) for n in gpu_names)):
        return ("Lasagne's GPU layers (lasagne.layers.dnn, cuda_convnet, corrmm) need theano.sandbox.cuda, "
                "which Theano 1.0 removed; the check runs on the CPU: build the model from the CPU layers "
                "(Conv2DLayer, Pool2DLayer)")
    about_lasagne = "lasagne" in text + module
    if isinstance(exc, (AttributeError, ImportError)) and about_lasagne:
        master = next((n for n in _LASAGNE_MASTER_NAMES if re.search(rf"'{n}'", text)), None)
        if master:
            return (f"{master} does not exist in Lasagne 0.1, the release on the package index that gradcheck-ci "
                    "runs: it was added later on Lasagne's master branch")
        return ("Lasagne 0.1, the release on the package index that gradcheck-ci runs, does not have it: a typo, "
                "or an API added later on Lasagne's master branch")
    unexpected = re.search(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'", text)
    if isinstance(exc, TypeError) and unexpected and _is_lasagne_layer(unexpected.group(1)):
        layer, argument = unexpected.groups()
        return (f"Lasagne 0.1's {layer} has no argument {argument!r}, the release on the package index that "
                "gradcheck-ci runs: it was added later on Lasagne's master branch")
    if type(exc).__name__ == "SkipTest":
        return "the model imports theano.sandbox.cuda (GPU backend), which Theano 1.0 removed"
    return ""
