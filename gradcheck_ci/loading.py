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
    for path in (root,):
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        if kind == "file":
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
        raise user_code_error(exc, root, f"importing the factory module of {spec.factory!r}",
                              fallback=(config_file, factory_line)) from None
    fn = getattr(module, function, None)
    if fn is None:
        where = _relative(module.__file__, root) if getattr(module, "__file__", None) else target
        raise ModelLoadError(f"{where} has no function {function!r} (factory {spec.factory!r})",
                             config_file, factory_line, kind="config")
    if not callable(fn):
        raise ModelLoadError(f"{spec.factory!r} is not callable", config_file, factory_line, kind="config")
    return fn


def user_code_error(exc: BaseException, root: str, doing: str,
                    fallback: tuple[str, int | None]) -> ModelLoadError:
    """Turn an exception from user code into a message naming the user's file and line."""
    if isinstance(exc, SyntaxError) and exc.filename and _is_inside(exc.filename, root):
        return ModelLoadError(f"syntax error {doing}: {exc.msg}", _relative(exc.filename, root), exc.lineno)
    frames = traceback.extract_tb(exc.__traceback__)
    site = user_frame(frames, root)
    text = f"{type(exc).__name__}: {exc}".strip()
    hint = _legacy_hint(exc)
    message = f"{text} ({doing})" + (f". {hint}" if hint else "")
    if isinstance(exc, MemoryError):
        return ModelLoadError(f"out of memory {doing}", *(site and (site.file, site.line) or fallback), kind="memory")
    if site:
        return ModelLoadError(message, site.file, site.line)
    return ModelLoadError(message, *fallback)


def _legacy_hint(exc: BaseException) -> str:
    """Explain errors caused by code written for newer Lasagne or for the removed CUDA backend."""
    text = str(exc)
    if isinstance(exc, AttributeError) and "lasagne" in text:
        return ("This Lasagne API does not exist in Lasagne 0.1, the release on the package index "
                "(it was added on Lasagne's master branch later)")
    if isinstance(exc, ImportError) and ("cuda" in text or "dnn" in text or "sandbox" in text):
        return "Lasagne's cuDNN/cuda-convnet layers need theano.sandbox.cuda, which Theano 1.0 removed"
    if type(exc).__name__ == "SkipTest":
        return "the model imports theano.sandbox.cuda (GPU backend), which Theano 1.0 removed"
    return ""


# ---------------------------------------------------------------- building, with call sites

@contextmanager
def recording_call_sites(root: str) -> Iterator[dict[int, CallSite]]:
    """While active, remember the user's file and line that constructed each Lasagne layer."""
    from lasagne.layers import base

    sites: dict[int, CallSite] = {}
    keep_alive: list[Any] = []  # ids are only unique while the objects live
    originals = {cls: cls.__init__ for cls in (base.Layer, base.MergeLayer)}

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


def build_model(spec: ModelSpec, root: str, config_file: str) -> BuiltModel:
    import lasagne

    root = os.path.realpath(root)
    factory = import_factory(spec, root, config_file)
    with recording_call_sites(root) as sites:
        output = call_factory(factory, spec, root, config_file)
    if not isinstance(output, lasagne.layers.Layer):
        file, line = _definition_site(factory, root) or (config_file, spec.key_lines.get("factory", spec.line))
        got = type(output).__name__
        hint = " (return the output layer, not a list or tuple)" if isinstance(output, (list, tuple)) else ""
        raise ModelLoadError(f"factory {spec.factory!r} returned a {got}, not a Lasagne Layer{hint}", file, line)
    layers = lasagne.layers.get_all_layers(output)
    labels = layer_labels(layers)
    inputs = describe_inputs(layers, labels, sites)
    all_params = describe_params(layers, labels, sites)
    if not all_params:
        site = sites.get(id(output))
        raise ModelLoadError(f"model {spec.name!r} has no trainable parameters: nothing to check",
                             *(site and (site.file, site.line) or _definition_site(factory, root) or (config_file, spec.line)))
    params = select_params(all_params, spec, config_file)
    return BuiltModel(output, layers, labels, sites, inputs, params, all_params)


def call_factory(factory: Callable[..., Any], spec: ModelSpec, root: str, config_file: str) -> Any:
    kwargs_line = spec.key_lines.get("kwargs", spec.line)
    try:
        inspect.signature(factory).bind(**spec.kwargs)
    except TypeError as exc:
        site = _definition_site(factory, root)
        where = f" (defined at {site[0]}:{site[1]})" if site else ""
        raise ModelLoadError(f"kwargs do not fit factory {spec.factory!r}{where}: {exc}",
                             config_file, kwargs_line, kind="config") from None
    except ValueError:
        pass  # no signature available (builtins, C functions): just call it
    try:
        return factory(**spec.kwargs)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise user_code_error(exc, root, f"building model {spec.name!r}",
                              fallback=(config_file, spec.key_lines.get("factory", spec.line))) from None


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
