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
        target = T.ivector("labels") if kind == "labels" else T.matrix("targets")
        per_row = getattr(lasagne.objectives, name)(prediction, target)
        return Objective(per_row.mean(), prediction, target, kind, name)
    fn = import_loss(name, spec, root, config_file)
    kind = "labels" if default_loss(model.output) == "categorical_crossentropy" else "real"
    target = T.ivector("labels") if kind == "labels" else T.matrix("targets")
    line = spec.key_lines.get("loss", spec.line)
    try:
        loss = fn(prediction, target)
    except Exception as exc:  # noqa: BLE001
        from .loading import user_code_error
        raise user_code_error(exc, root, f"calling loss {name!r}", fallback=(config_file, line)) from None
    if not hasattr(loss, "ndim"):
        raise ModelLoadError(f"loss {name!r} returned a {type(loss).__name__}, not a Theano expression",
                             config_file, line, kind="loss")
    if loss.ndim != 0:
        raise ModelLoadError(f"loss {name!r} returned a {loss.ndim}-D tensor; it must return a scalar "
                             "(e.g. take .mean() of the per-row losses)", config_file, line, kind="loss")
    return Objective(loss, prediction, target, kind, name)


def import_loss(name: str, spec: ModelSpec, root: str, config_file: str) -> Callable[..., Any]:
    line = spec.key_lines.get("loss", spec.line)
    target, _, function = name.partition(":")
    try:
        if target.endswith(".py") or "/" in target:
            path = os.path.realpath(os.path.join(root, target))
            module_spec = importlib.util.spec_from_file_location(
                "gradcheck_loss_" + os.path.splitext(os.path.basename(path))[0], path)
            module = importlib.util.module_from_spec(module_spec)  # type: ignore[arg-type]
            module_spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            if root not in sys.path:
                sys.path.insert(0, root)
            module = importlib.import_module(target)
    except Exception as exc:  # noqa: BLE001
        from .loading import user_code_error
        raise user_code_error(exc, root, f"importing loss {name!r}", fallback=(config_file, line)) from None
    fn = getattr(module, function, None)
    if not callable(fn):
        raise ModelLoadError(f"loss {name!r}: no function {function!r} in {target}", config_file, line, kind="config")
    return fn
