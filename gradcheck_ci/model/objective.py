"""The scalar loss the check differentiates: prediction rows, targets and a loss function.

A 3-D output (sequences, steps, units) becomes per-step rows (sequences * steps, units), as in the
reported network. The default loss follows the output nonlinearity. Built-in losses come from the
table in core/losses.py; a custom loss ('path/to/file.py:function' or 'package.module:function') is
imported like a factory and called as loss(prediction, target).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..config import ModelSpec
from ..core.errors import ModelLoadError
from ..core.losses import BY_NAME
from ..core.results import Notice
from ..usercode.blame import user_code_error
from ..usercode.importer import LOSS, import_function
from ..usercode.sites import call_noting_return, definition_site
from .built import BuiltModel


@dataclass
class Objective:
    loss: Any  # symbolic scalar
    prediction: Any  # symbolic (rows, units)
    target_var: Any
    target_kind: str  # labels | binary | real
    loss_name: str
    # the user's loss function; None for a built-in loss
    custom_loss: Callable[..., Any] | None = None
    # where custom_loss is defined, found once here for the messages that point at it
    custom_site: tuple[str, int] | None = None
    notices: list[Notice] = field(default_factory=list)


def default_loss(output_layer: Any) -> str:
    from lasagne import nonlinearities

    nonlinearity = getattr(output_layer, "nonlinearity", None)
    if nonlinearity is nonlinearities.softmax:
        return "categorical_crossentropy"
    if nonlinearity is nonlinearities.sigmoid:
        return "binary_crossentropy"
    return "squared_error"


# the output nonlinearities whose values a cross-entropy takes: probabilities
_PROBABILITIES = ("softmax", "sigmoid", "hard_sigmoid", "ultra_fast_sigmoid")


def not_probabilities(model: BuiltModel, loss: str) -> Notice | None:
    """A cross-entropy (`loss:` in gradcheck.yml) of an output layer whose nonlinearity is not a
    probability's (linear, tanh, rectify): where this seed's outputs fall outside (0, 1) the loss
    is not a number, so whether the check runs depends on the seed. None when it is one, or the
    layer says nothing of it."""
    if not loss.endswith("crossentropy"):
        return None
    nonlinearity = getattr(model.output, "nonlinearity", None)
    name = getattr(nonlinearity, "__name__", None)
    # one of the user's own (a per-pixel softmax): what its values are is not known here
    module = getattr(nonlinearity, "__module__", None) or ""
    if nonlinearity is None or name is None or name in _PROBABILITIES:
        return None
    if module.split(".")[0] not in ("lasagne", "theano"):
        return None
    site = model.site(model.output)
    return Notice(
        f"{loss} takes probabilities, but the output layer {model.label(model.output)} has the "
        f"{name} nonlinearity: its values can fall outside (0, 1), where the loss is not a number, "
        "so another seed may stop the check; end it in a softmax or sigmoid, or name a loss for "
        "its values (`loss: squared_error`)",
        "loss-output",
        site.file if site else None,
        site.line if site else None,
    )


def classes_last(model: BuiltModel, loss: str, ndim: int, classes: int) -> Notice | None:
    """A cross-entropy of a 4-D or wider output whose last axis is not `classes` long (a per-pixel
    classifier's (batch, classes, height, width)): the check takes rows along the last axis as the
    classes, which is not where such a model keeps them. The check stays valid (any smooth loss
    is), but it is not the user's loss."""
    shape = tuple(model.output.output_shape)
    if not loss.endswith("crossentropy") or ndim < 4 or shape[-1] in (classes, None):
        return None
    site = model.site(model.output)
    return Notice(
        f"{loss} of a {ndim}-D output: the check takes rows along its last axis "
        f"({model.label(model.output)}'s output shape {shape}) as the "
        f"classes (`data: classes` is {classes}), where a per-pixel classifier usually keeps them "
        "on axis 1; put the classes last "
        "(DimshuffleLayer(l, (0, 2, 3, 1)), then ReshapeLayer(l, (-1, classes))) or name a loss "
        "of your own that takes the output as it is (`loss: file.py:function`)",
        "loss-output",
        site.file if site else None,
        site.line if site else None,
    )


def rows_of(output: Any) -> Any:
    """(batch, ..., units) -> (rows, units); a vector becomes one column."""
    if output.ndim == 1:
        return output.dimshuffle(0, "x")
    if output.ndim == 2:
        return output
    return output.reshape((-1, output.shape[-1]))


def raising_layer(exc: BaseException) -> Any | None:
    """The layer whose get_output_for was running, innermost, when `exc` was raised; None when no
    layer's was."""
    tb = exc.__traceback__
    layer = None
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "get_output_for" and "self" in frame.f_locals:
            layer = frame.f_locals["self"]
        tb = tb.tb_next
    return layer


def build_objective(model: BuiltModel, spec: ModelSpec, root: str, config_file: str) -> Objective:
    import lasagne

    try:
        output = lasagne.layers.get_output(model.output, deterministic=True)
    except Exception as exc:  # noqa: BLE001 - a layer's get_output_for is user code
        layer = raising_layer(exc)
        built_at = model.site(layer) if layer is not None else None
        doing = f"building the forward pass of {spec.name!r}"
        if layer is not None and id(layer) in model.labels:
            doing += f", in {model.label(layer)}'s get_output_for"
        # a stock layer's code raised (a softmax given 3-D input): the line that built the layer
        fallback = (built_at.file, built_at.line) if built_at else (config_file, spec.line)
        raise user_code_error(exc, root, doing, fallback=fallback) from None
    prediction = rows_of(output)
    name = spec.loss or default_loss(model.output)
    builtin = BY_NAME.get(name)
    if builtin is not None:
        target = _target_var(builtin.target_kind, model, spec, config_file)
        per_row = builtin.per_row(prediction, target)
        objective = Objective(per_row.mean(), prediction, target, builtin.target_kind, name)
        objective.notices.extend(
            filter(
                None,
                [
                    not_probabilities(model, name),
                    classes_last(model, name, output.ndim, spec.data.classes),
                ],
            )
        )
        return objective
    line = spec.key_lines.get("loss", spec.line)
    fn = import_function(LOSS, name, root, config_file, line)
    kind = "labels" if default_loss(model.output) == "categorical_crossentropy" else "real"
    target = _target_var(kind, model, spec, config_file)
    try:
        loss, return_line = call_noting_return(fn, {}, (prediction, target))
    except Exception as exc:  # noqa: BLE001 - the custom loss is user code: report it at its line
        raise user_code_error(
            exc, root, f"calling loss {name!r}", fallback=(config_file, line)
        ) from None
    # A wrong return value is the loss function's fault: point at its `return` (else its `def`).
    site = definition_site(fn, root)
    file, at = (site[0], return_line or site[1]) if site else (config_file, line)
    if not hasattr(loss, "ndim"):
        got = type(loss).__name__ if loss is None else f"a {type(loss).__name__}"
        raise ModelLoadError(
            f"loss {name!r} returned {got}, not a Theano expression (it is called "
            f"as "
            "loss(prediction, target) with symbolic variables and must return a "
            "scalar expression)",
            file,
            at,
            kind="loss",
        )
    if loss.ndim != 0:
        raise ModelLoadError(
            f"loss {name!r} returned a {loss.ndim}-D tensor; it must return a "
            f"scalar "
            "(e.g. take .mean() of the per-row losses)",
            file,
            at,
            kind="loss",
        )
    # as build_model resolves the repository
    defined = definition_site(fn, os.path.realpath(root))
    return Objective(loss, prediction, target, kind, name, custom_loss=fn, custom_site=defined)


def _target_var(kind: str, model: BuiltModel, spec: ModelSpec, config_file: str) -> Any:
    """The symbolic targets: integer labels (checked against the output's units first) or a
    matrix."""
    import theano.tensor as T

    if kind == "labels":
        check_classes(model, spec, config_file)
        return T.ivector("labels")
    return T.matrix("targets")


def check_classes(model: BuiltModel, spec: ModelSpec, config_file: str) -> None:
    """Labels must index the output's units: fail before compiling when `data.classes` is too
    large."""
    import lasagne

    try:
        shapes = dict(zip((info.layer for info in model.inputs), model.shapes, strict=True))
        shape = lasagne.layers.get_output_shape(model.output, shapes)
    except Exception:  # noqa: BLE001 - a layer that cannot infer shapes statically: the engine checks later
        return
    units = shape[-1] if len(shape) > 1 else 1
    if isinstance(units, int) and spec.data.classes > units:
        raise ModelLoadError(
            f"data.classes is {spec.data.classes} but the output has {units} "
            f"units: labels must be below {units} (set data.classes to at most "
            f"{units})",
            config_file,
            spec.key_lines.get("data.classes", spec.line),
            kind="data",
        )
