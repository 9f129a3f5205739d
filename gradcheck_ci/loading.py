"""Import a model factory, build the Lasagne graph, and describe it: inputs, parameters, call sites.

Runs inside a worker process after `compat.prepare()`. Errors are raised as `ModelLoadError` carrying the
file and line to blame: the user's code for things their code did, gradcheck.yml for things the config did.
"""
from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import inspect
import os
import re
import sys
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .config import ModelSpec, resolve_factory


class ModelLoadError(Exception):
    def __init__(self, message: str, file: str | None = None, line: int | None = None, kind: str = "load"):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.kind = kind


@dataclass
class CallSite:
    file: str  # relative to the repository root
    line: int


@dataclass
class ParamInfo:
    id: str
    variable: Any  # theano shared variable
    layer: Any
    layer_label: str
    site: CallSite | None


@dataclass
class InputInfo:
    layer: Any
    kind: str  # sequence | matrix | mask | other
    label: str
    site: CallSite | None


@dataclass
class BuiltModel:
    output: Any
    layers: list[Any]
    labels: dict[int, str]  # id(layer) -> "name" or "ClassName#k"
    sites: dict[int, CallSite]  # id(layer) -> where the user's code constructed it
    inputs: list[InputInfo]
    params: list[ParamInfo]  # the parameters selected by the spec's `params`
    all_params: list[ParamInfo] = field(default_factory=list)

    def label(self, layer: Any) -> str:
        return self.labels.get(id(layer), type(layer).__name__)

    def site(self, layer: Any) -> CallSite | None:
        return self.sites.get(id(layer))


def _is_inside(path: str, root: str) -> bool:
    if not path or path.startswith("<"):  # "<string>", "<__array_function__ internals>", "<frozen ...>"
        return False
    path = os.path.realpath(path)
    return path == root or path.startswith(root + os.sep)


def _is_library(path: str) -> bool:
    return "site-packages" in path or "dist-packages" in path or f"{os.sep}gradcheck_ci{os.sep}" in path


def user_frame(tb_frames: list[traceback.FrameSummary], root: str) -> CallSite | None:
    """The innermost frame of a traceback that lies in the user's repository."""
    for frame in reversed(tb_frames):
        if frame.filename and _is_inside(frame.filename, root) and not _is_library(frame.filename):
            return CallSite(os.path.relpath(os.path.realpath(frame.filename), root).replace(os.sep, "/"),
                            frame.lineno or 1)
    return None


def _relative(path: str, root: str) -> str:
    return os.path.relpath(os.path.realpath(path), root).replace(os.sep, "/")


# ---------------------------------------------------------------- importing the factory

def import_factory(spec: ModelSpec, root: str, config_file: str) -> Callable[..., Any]:
    kind, target, function = resolve_factory(spec, root)
    factory_line = spec.key_lines.get("factory", spec.line)
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        if kind == "file":
            if not _is_inside(target, root):  # a symlink (file or folder) that leads out of the repository
                raise ModelLoadError(f"factory {spec.factory!r} leads outside the repository (through a symlink); "
                                     "gradcheck-ci only imports code from the repository", config_file,
                                     factory_line, kind="config")
            module_name = "gradcheck_user_" + os.path.splitext(os.path.basename(target))[0]
            sys.path.insert(0, os.path.dirname(target))
            module_spec = importlib.util.spec_from_file_location(module_name, target)
            if module_spec is None or module_spec.loader is None:
                raise ModelLoadError(f"cannot import {_relative(target, root)}", config_file, factory_line)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[module_name] = module
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except ModelLoadError:
        raise
    except BaseException as exc:  # noqa: BLE001 - anything the user's module does at import is theirs
        if isinstance(exc, KeyboardInterrupt):
            raise
        missing = _missing_target_module(exc, target) if kind == "module" else None
        if missing:
            raise ModelLoadError(f"factory {spec.factory!r}: no module named {missing!r} (a dotted module is "
                                 "imported from the repository root or the installed packages; for a file, "
                                 "write its path: 'path/to/file.py:function')",
                                 config_file, factory_line, kind="config") from None
        raise user_code_error(exc, root, f"importing the factory module of {spec.factory!r}",
                              fallback=(config_file, factory_line)) from None
    fn = getattr(module, function, None)
    if fn is None:
        where = _relative(module.__file__, root) if getattr(module, "__file__", None) else target
        hint = _did_you_mean(function, [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")])
        raise ModelLoadError(f"{where} has no function {function!r} (factory {spec.factory!r}){hint}",
                             config_file, factory_line, kind="config")
    if not callable(fn):
        raise ModelLoadError(f"{spec.factory!r} is not callable", config_file, factory_line, kind="config")
    return fn


def _missing_target_module(exc: BaseException, target: str) -> str | None:
    """The name of the module when `target` itself (or a parent package) does not exist, else None.

    A ModuleNotFoundError raised by an import inside the user's module is the user's error, not the config's.
    """
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    parts = target.split(".")
    prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return target if exc.name in prefixes else None


def _did_you_mean(word: str, options: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def user_code_error(exc: BaseException, root: str, doing: str,
                    fallback: tuple[str, int | None]) -> ModelLoadError:
    """Turn an exception from user code into a message naming the user's file and line."""
    if isinstance(exc, SyntaxError) and exc.filename and _is_inside(exc.filename, root):
        file = _relative(exc.filename, root)
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
    hint = _legacy_hint(exc)
    message = f"{text} ({doing})" + (f". {hint}" if hint else "")
    return ModelLoadError(message, *location)


_LASAGNE_MASTER_NAMES = ("BatchNormLayer", "batch_norm", "only_return_final", "Deconv2DLayer", "TransposedConv2DLayer",
                         "DilatedConv2DLayer", "ExpressionLayer", "ElemwiseSumLayer", "SpatialPyramidPoolingLayer",
                         "LocalResponseNormalization2DLayer", "StandardizationLayer", "InstanceNormLayer",
                         "LayerNormLayer", "TPSTransformerLayer", "ScaleLayer", "BiasLayer", "Upscale2DLayer")


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
        if not path or not _is_inside(path, root) or _is_library(path):
            continue
        cls = getattr(module, name, None)
        if not isinstance(cls, type):
            continue
        target = cls.__dict__.get(method, cls)
        try:
            _, line = inspect.getsourcelines(target)
        except (TypeError, OSError):
            continue
        return _relative(path, root), line
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


_GPU_MODULES = ("sandbox/cuda", "sandbox\\cuda", "layers/dnn.py", "layers/cuda_convnet.py", "layers/corrmm.py",
                "gpuarray")


def _is_lasagne_layer(name: str) -> bool:
    layers = sys.modules.get("lasagne.layers")
    value = getattr(layers, name, None) if layers is not None else None
    return isinstance(value, type) and (value.__module__ or "").startswith("lasagne.")


def _legacy_hint(exc: BaseException) -> str:
    """Explain errors caused by code written for newer Lasagne or for the removed CUDA backend."""
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


# ---------------------------------------------------------------- building, with call sites

@contextmanager
def recording_call_sites(root: str) -> Iterator[dict[int, CallSite]]:
    """While active, remember the user's file and line that constructed each Lasagne layer."""
    from lasagne.layers import base, input as input_layers

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
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        inside_own_init = frame.f_locals.get("self") is layer
        if not inside_own_init and _is_inside(filename, root) and not _is_library(filename):
            return CallSite(_relative(filename, root), frame.f_lineno)
        frame = frame.f_back
    return None


_current: dict[str, Any] = {}  # the model this worker process is checking (one per process), see current_model


def current_model() -> tuple[BuiltModel, str] | None:
    """(model, root) of the model this worker built last, for error paths that were not handed it."""
    if "model" not in _current:
        return None
    return _current["model"], _current["root"]


def seed_everything(seed: int) -> None:
    """Seed the generators a factory may draw from: Lasagne's initialisers, numpy's and Python's global ones.

    Lasagne 0.1 initialises weights from `lasagne.random.get_rng()`, numpy's global generator unless set,
    so without this every run would check the model at different weights and report different numbers.
    """
    import random

    import lasagne
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    lasagne.random.set_rng(np.random.RandomState(seed % 2**32))


def build_model(spec: ModelSpec, root: str, config_file: str) -> BuiltModel:
    import lasagne

    root = os.path.realpath(root)
    factory = import_factory(spec, root, config_file)
    seed_everything(spec.seed)
    with recording_call_sites(root) as sites:
        output, return_line = call_factory(factory, spec, root, config_file)
    if not isinstance(output, lasagne.layers.Layer):
        file, line = _definition_site(factory, root) or (config_file, spec.key_lines.get("factory", spec.line))
        if return_line and file != config_file:
            line = return_line
        got = "None" if output is None else f"a {type(output).__name__}"
        if isinstance(output, (list, tuple)):
            hint = " (return the output layer, not a list or tuple)"
        elif output is None:
            hint = " (is a `return` statement missing?)"
        else:
            hint = ""
        raise ModelLoadError(f"factory {spec.factory!r} returned {got}, not a Lasagne Layer{hint}", file, line)
    layers = lasagne.layers.get_all_layers(output)
    labels = layer_labels(layers)
    inputs = describe_inputs(layers, labels, sites)
    all_params = describe_params(layers, labels, sites)
    if not all_params:
        site = sites.get(id(output))
        raise ModelLoadError(f"model {spec.name!r} has no trainable parameters: nothing to check (the layers "
                             f"{', '.join(labels[id(l)] for l in layers[:8])} have none, or all are fixed "
                             "with trainable=False)",
                             *(site and (site.file, site.line) or _definition_site(factory, root) or (config_file, spec.line)))
    check_input_shapes(inputs, spec, config_file)
    params = select_params(all_params, spec, config_file)
    model = BuiltModel(output, layers, labels, sites, inputs, params, all_params)
    _current.update(model=model, root=root)
    return model


def check_input_shapes(inputs: list[InputInfo], spec: ModelSpec, config_file: str) -> None:
    """Fail before compiling when `data` cannot shape an input (data.py raises the error)."""
    from .data import input_shape

    if not inputs:
        raise ModelLoadError(f"model {spec.name!r} has no InputLayer: nothing to feed the synthetic data to",
                             config_file, spec.line, kind="data")
    for info in inputs:
        input_shape(info, spec.data, fallback=(config_file, spec.key_lines.get("data", spec.line)))


def call_factory(factory: Callable[..., Any], spec: ModelSpec, root: str, config_file: str) -> tuple[Any, int | None]:
    """The factory's return value and the line of the `return` that produced it (None when unknown)."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        signature = None  # no signature available (builtins, C functions): just call it
    if signature is not None:
        try:
            signature.bind(**spec.kwargs)
        except TypeError as exc:
            raise _kwargs_error(exc, signature, factory, spec, root, config_file) from None
    try:
        return _call_noting_return(factory, spec.kwargs)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise user_code_error(exc, root, f"building model {spec.name!r}",
                              fallback=(config_file, spec.key_lines.get("factory", spec.line))) from None


def _kwargs_error(exc: TypeError, signature: inspect.Signature, factory: Callable[..., Any], spec: ModelSpec,
                  root: str, config_file: str) -> ModelLoadError:
    site = _definition_site(factory, root)
    where = f" (defined at {site[0]}:{site[1]})" if site else ""
    line = spec.key_lines.get("kwargs", spec.line)
    message = f"kwargs do not fit factory {spec.factory!r}{where}: {exc}"
    unexpected = re.search(r"unexpected keyword argument '([^']+)'", str(exc))
    if unexpected:
        name = unexpected.group(1)
        line = spec.key_lines.get(f"kwargs.{name}", line)
        message += _did_you_mean(name, [p for p in signature.parameters if p != "self"])
        accepted = [p.name for p in signature.parameters.values()
                    if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if accepted:
            message += f"; it accepts: {', '.join(accepted)}"
    return ModelLoadError(message, config_file, line, kind="config")


def _call_noting_return(fn: Callable[..., Any], kwargs: dict[str, Any],
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


def _definition_site(fn: Callable[..., Any], root: str) -> tuple[str, int] | None:
    try:
        path = inspect.getsourcefile(fn)
        _, line = inspect.getsourcelines(fn)
    except (TypeError, OSError):
        return None
    if path and _is_inside(path, root):
        return _relative(path, root), line
    return None


def layer_labels(layers: list[Any]) -> dict[int, str]:
    """`name` where the user gave one, otherwise ClassName#k counted per class in graph order."""
    counts: dict[str, int] = {}
    labels: dict[int, str] = {}
    for layer in layers:
        cls = type(layer).__name__
        k = counts.get(cls, 0)
        counts[cls] = k + 1
        labels[id(layer)] = layer.name if getattr(layer, "name", None) else f"{cls}#{k}"
    return labels


def recurrent_mask_layers(layer: Any) -> list[Any]:
    """The mask InputLayers of a recurrent layer (Lasagne 0.1: the second incoming; later: an index)."""
    index = getattr(layer, "mask_incoming_index", None)
    input_layers = getattr(layer, "input_layers", None) or []
    if index is not None and index > 0:
        return [input_layers[index]]
    if type(layer).__module__.startswith("lasagne.layers.recurrent") and len(input_layers) >= 2:
        return [input_layers[1]]
    return []


def describe_inputs(layers: list[Any], labels: dict[int, str], sites: dict[int, CallSite]) -> list[InputInfo]:
    from lasagne.layers import InputLayer

    masks = {id(m) for layer in layers for m in recurrent_mask_layers(layer)}
    inputs = []
    for layer in layers:
        if not isinstance(layer, InputLayer):
            continue
        ndim = len(layer.shape)
        if id(layer) in masks:
            kind = "mask"
        elif ndim == 3:
            kind = "sequence"
        elif ndim == 2:
            kind = "matrix"
        else:
            kind = "other"
        inputs.append(InputInfo(layer, kind, labels[id(layer)], sites.get(id(layer))))
    return inputs


def describe_params(layers: list[Any], labels: dict[int, str], sites: dict[int, CallSite]) -> list[ParamInfo]:
    import lasagne

    wanted = lasagne.layers.get_all_params(layers[-1], trainable=True)
    wanted_ids = {id(p) for p in wanted}
    owner: dict[int, tuple[Any, str]] = {}
    for layer in layers:
        for param in layer.get_params(trainable=True):
            if id(param) in wanted_ids and id(param) not in owner:
                owner[id(param)] = (layer, _param_name(layer, param))
    result: list[ParamInfo] = []
    used: set[str] = set()
    for param in wanted:
        layer, name = owner.get(id(param), (layers[-1], str(param.name or "param")))
        ident = f"{labels.get(id(layer), type(layer).__name__)}.{name}"
        base, n = ident, 1
        while ident in used:  # two parameters of one layer with one name: keep ids unique and stable
            n += 1
            ident = f"{base}~{n}"
        used.add(ident)
        result.append(ParamInfo(ident, param, layer, labels.get(id(layer), ""), sites.get(id(layer))))
    return result


def _param_name(layer: Any, param: Any) -> str:
    """The attribute that holds the parameter (W_in_to_hid, W_hid_to_ingate, ...), else its variable name."""
    for attr, value in vars(layer).items():
        if value is param and not attr.startswith("_"):
            return attr
    for attr, inner in vars(layer).items():  # parameters of inner layers, e.g. CustomRecurrentLayer's
        if hasattr(inner, "params") and not attr.startswith("_") and param in getattr(inner, "params", {}):
            return f"{attr}.{_param_name(inner, param)}"
    name = str(param.name or "param")
    prefix = f"{layer.name}." if getattr(layer, "name", None) else ""
    return name[len(prefix):] if prefix and name.startswith(prefix) else name


def select_params(all_params: list[ParamInfo], spec: ModelSpec, config_file: str) -> list[ParamInfo]:
    line = spec.key_lines.get("params", spec.line)
    selected = []
    for pattern in spec.params:
        matches = [p for p in all_params if fnmatch.fnmatchcase(p.id, pattern)]
        if not matches:
            available = ", ".join(p.id for p in all_params[:12]) + (" ..." if len(all_params) > 12 else "")
            raise ModelLoadError(f"params pattern {pattern!r} matches no trainable parameter of "
                                 f"{spec.name!r}; available: {available}", config_file, line, kind="config")
        selected.extend(p for p in matches if p not in selected)
    return [p for p in all_params if p in selected]  # graph order, whatever the pattern order
