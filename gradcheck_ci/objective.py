"""The scalar loss the check differentiates: prediction rows, targets and a loss function.

A 3-D output (sequences, steps, units) becomes per-step rows (sequences * steps, units), as in the
reported network. The default loss follows the output nonlinearity.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable

from .config import ModelSpec
from .loading import BuiltModel, ModelLoadError

BUILTIN_LOSSES = ("categorical_crossentropy", "binary_crossentropy", "squared_error")
TARGET_KIND = {"categorical_crossentropy": "labels", "binary_crossentropy": "binary", "squared_error": "real"}


@dataclass
class Objective:
    loss: Any  # symbolic scalar
    prediction: Any  # symbolic (rows, units)
    target_var: Any
    target_kind: str  # labels | binary | real
    loss_name: str


def default_loss(output_layer: Any) -> str:
    from lasagne import nonlinearities

    nonlinearity = getattr(output_layer, "nonlinearity", None)
    if nonlinearity is nonlinearities.softmax:
        return "categorical_crossentropy"
    if nonlinearity is nonlinearities.sigmoid:
        return "binary_crossentropy"
    return "squared_error"


def rows_of(output: Any) -> Any:
    """(batch, ..., units) -> (rows, units); a vector becomes one column."""
    if output.ndim == 1:
        return output.dimshuffle(0, "x")
    if output.ndim == 2:
        return output
    return output.reshape((-1, output.shape[-1]))


def build_objective(model: BuiltModel, spec: ModelSpec, root: str, config_file: str) -> Objective:
    import lasagne
    import theano.tensor as T

    try:
        output = lasagne.layers.get_output(model.output, deterministic=True)
    except Exception as exc:  # noqa: BLE001 - a layer's get_output_for is user code
        from .loading import user_code_error
        raise user_code_error(exc, root, f"building the forward pass of {spec.name!r}",
                              fallback=(config_file, spec.line)) from None
    prediction = rows_of(output)
    name = spec.loss or default_loss(model.output)
    if name in BUILTIN_LOSSES:
        kind = TARGET_KIND[name]
        if kind == "labels":
            check_classes(model, spec, config_file)
        target = T.ivector("labels") if kind == "labels" else T.matrix("targets")
        per_row = builtin_loss(name, prediction, target)
        return Objective(per_row.mean(), prediction, target, kind, name)
    fn = import_loss(name, spec, root, config_file)
    kind = "labels" if default_loss(model.output) == "categorical_crossentropy" else "real"
    if kind == "labels":
        check_classes(model, spec, config_file)
    target = T.ivector("labels") if kind == "labels" else T.matrix("targets")
    line = spec.key_lines.get("loss", spec.line)
    from .loading import _call_noting_return, _definition_site, user_code_error

    try:
        loss, return_line = _call_noting_return(fn, {}, (prediction, target))
    except Exception as exc:  # noqa: BLE001
        raise user_code_error(exc, root, f"calling loss {name!r}", fallback=(config_file, line)) from None
    # A wrong return value is the loss function's fault: point at its `return` (else its `def`).
    site = _definition_site(fn, root)
    file, at = (site[0], return_line or site[1]) if site else (config_file, line)
    if not hasattr(loss, "ndim"):
        raise ModelLoadError(f"loss {name!r} returned {type(loss).__name__ if loss is None else 'a ' + type(loss).__name__}"
                             ", not a Theano expression (it is called as loss(prediction, target) with "
                             "symbolic variables and must return a scalar expression)", file, at, kind="loss")
    if loss.ndim != 0:
        raise ModelLoadError(f"loss {name!r} returned a {loss.ndim}-D tensor; it must return a scalar "
                             "(e.g. take .mean() of the per-row losses)", file, at, kind="loss")
    _loss_functions[spec.name] = fn
    return Objective(loss, prediction, target, kind, name)


def builtin_loss(name: str, prediction: Any, target: Any) -> Any:
    """Per-row loss. Categorical crossentropy against labels picks each row's label column by indexing:
    the same value as lasagne.objectives.categorical_crossentropy, but Theano's op for that one loops over
    the rows in Python whenever the softmax sits inside a scan (100,000 rows in the reported network:
    about 0.14 s per loss evaluation and as much again per gradient), where the index is one numpy call.
    Outside a scan Theano still fuses -log(softmax(x)[rows, labels]) into its C crossentropy op."""
    import lasagne
    import theano.tensor as T

    if name == "categorical_crossentropy":
        return -T.log(prediction[T.arange(prediction.shape[0]), target])
    return getattr(lasagne.objectives, name)(prediction, target)


_loss_functions: dict[str, Callable[..., Any]] = {}  # model name -> its custom loss, for error messages


def loss_site(spec: ModelSpec, root: str) -> tuple[str, int] | None:
    """Where the model's custom loss function is defined (None for built-in losses)."""
    from .loading import _definition_site

    fn = _loss_functions.get(spec.name)
    return _definition_site(fn, root) if fn is not None else None


def check_classes(model: BuiltModel, spec: ModelSpec, config_file: str) -> None:
    """Labels must index the output's units: fail before compiling when `data.classes` is too large."""
    import lasagne

    from .data import input_shape

    try:
        shapes = {info.layer: input_shape(info, spec.data) for info in model.inputs}
        shape = lasagne.layers.get_output_shape(model.output, shapes)
    except Exception:  # noqa: BLE001 - a layer that cannot infer shapes statically: the engine checks later
        return
    units = shape[-1] if len(shape) > 1 else 1
    if isinstance(units, int) and spec.data.classes > units:
        raise ModelLoadError(f"data.classes is {spec.data.classes} but the output has {units} units: labels "
                             f"must be below {units} (set data.classes to at most {units})", config_file,
                             spec.key_lines.get("data.classes", spec.line), kind="data")


def import_loss(name: str, spec: ModelSpec, root: str, config_file: str) -> Callable[..., Any]:
    line = spec.key_lines.get("loss", spec.line)
    target, _, function = name.partition(":")
    from .loading import _did_you_mean, _is_inside, _missing_target_module, user_code_error

    try:
        if target.endswith(".py") or "/" in target:
            path = os.path.realpath(os.path.join(root, target))
            if not _is_inside(path, os.path.realpath(root)):
                raise ModelLoadError(f"loss {name!r} leads outside the repository (through a symlink); "
                                     "gradcheck-ci only imports code from the repository", config_file, line,
                                     kind="config")
            module_spec = importlib.util.spec_from_file_location(
                "gradcheck_loss_" + os.path.splitext(os.path.basename(path))[0], path)
            if module_spec is None or module_spec.loader is None:
                raise ModelLoadError(f"loss {name!r}: cannot import {target}", config_file, line, kind="config")
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            if root not in sys.path:
                sys.path.insert(0, root)
            module = importlib.import_module(target)
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001
        missing = _missing_target_module(exc, target) if not target.endswith(".py") and "/" not in target else None
        if missing:
            raise ModelLoadError(f"loss {name!r}: no module named {missing!r} (a dotted module is imported from "
                                 "the repository root or the installed packages; for a file, write its path: "
                                 "'path/to/file.py:function')", config_file, line, kind="config") from None
        raise user_code_error(exc, root, f"importing loss {name!r}", fallback=(config_file, line)) from None
    fn = getattr(module, function, None)
    if not callable(fn):
        hint = _did_you_mean(function, [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")])
        raise ModelLoadError(f"loss {name!r}: no function {function!r} in {target}{hint}", config_file, line,
                             kind="config")
    return fn
