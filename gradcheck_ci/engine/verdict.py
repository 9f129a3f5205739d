"""Turn per-tensor comparisons into a model's status; a loss that is not finite (its source)."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..config import ModelSpec
from ..core.errors import ModelLoadError
from ..core.results import ModelResult, Notice, resolved
from ..model.built import BuiltModel
from ..model.objective import Objective
from ..report.common import located, worst_param
from ..usercode.sites import CallSite
from .precision import BY_NAME, FLOAT64


def require_finite_loss(
    loss: float,
    spec: ModelSpec,
    config_file: str,
    model: BuiltModel | None = None,
    objective: Objective | None = None,
    root: str | None = None,
    data: list[np.ndarray] | None = None,
) -> None:
    """A loss that is NaN or Inf at the starting point leaves nothing to compare: a model error.

    The error points at its source: a parameter that is already non-finite, else the first layer (in
    graph order) whose output is non-finite on the synthetic data, else the loss function itself (a
    custom loss's definition; needs `objective` and `root`), else the config's `loss` line. `data`
    is the check's own (inputs first, then targets): the layer outputs are looked at on the arrays
    that made the loss.
    """
    if math.isfinite(loss):
        return
    head = (
        f"the loss of {spec.name!r} is {loss} on the synthetic data (seed {spec.seed}); "
        f"nothing can be compared"
    )
    try:
        culprit = locate_non_finite(model, data) if model is not None and data is not None else None
    except Exception:  # noqa: BLE001 - locating is a courtesy; the error itself must still be reported
        culprit = None
    if culprit is not None:
        what, info_site = culprit
        file, line = (info_site.file, info_site.line) if info_site else (config_file, spec.line)
        raise ModelLoadError(f"{head}: {what}", file, line, kind="nan-or-inf")
    loss_line = spec.key_lines.get("loss", spec.line)
    # the objective found its custom loss's definition when it was built
    site = objective.custom_site if objective is not None and root else None
    why = (
        "every layer's output is finite, so the loss function makes it "
        "(log of 0 or of a negative number, a division by 0, or an overflow)"
        if model is not None
        else ""
    )
    file, line = site if site else (config_file, loss_line)
    raise ModelLoadError(f"{head}" + (f": {why}" if why else ""), file, line, kind="nan-or-inf")


def locate_non_finite(
    model: BuiltModel, data: list[np.ndarray]
) -> tuple[str, CallSite | None] | None:
    """(what is non-finite, its layer's call site) for the first non-finite parameter or layer
    output, on the check's `data` (its inputs come first)."""
    import lasagne
    import theano

    found = first_non_finite(np.asarray(info.variable.get_value()) for info in model.all_params)
    if found is not None:
        info = model.all_params[found[0]]
        return (
            f"parameter {info.id} holds {non_finite_kind(info.variable.get_value())} before any "
            f"step (check its initialiser)",
            info.site,
        )
    layers = [layer for layer in model.layers if not isinstance(layer, lasagne.layers.InputLayer)]
    if not layers:
        return None
    symbolic = lasagne.layers.get_output(layers, deterministic=True)
    fn = theano.function(
        [info.layer.input_var for info in model.inputs], symbolic, on_unused_input="ignore"
    )
    outputs = [np.asarray(value) for value in fn(*data[: len(model.inputs)])]
    found = first_non_finite(outputs)
    if found is None:
        return None
    layer = layers[found[0]]
    return (
        f"the output of {model.label(layer)} is the first to hold "
        f"{non_finite_kind(outputs[found[0]])} (its inputs are finite)",
        model.site(layer),
    )


def first_non_finite(arrays: Iterable[np.ndarray]) -> tuple[int, list[int]] | None:
    """The first of `arrays` (in their order) that holds NaN or Inf, and the index of its first such
    element: where a non-finite loss or gradient starts, for the loss's error message here and for
    the nan-or-inf diagnosis. None when every array is finite."""
    for k, array in enumerate(arrays):
        value = np.asarray(array)
        if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
            bad = np.argwhere(~np.isfinite(value))
            return k, [int(i) for i in bad[0]] if bad.size else []
    return None


def non_finite_kind(value: np.ndarray) -> str:
    """'NaN' when the array holds a NaN, else 'Inf' when it holds +Inf, else '-Inf'."""
    flat = np.asarray(value).reshape(-1)
    bad = flat[~np.isfinite(flat)]
    return "NaN" if np.isnan(bad).any() else ("Inf" if (bad > 0).any() else "-Inf")


def model_status(result: ModelResult, spec: ModelSpec) -> str:
    """fail (or expected-fail) when a tensor fails; inconclusive when none fails but one could not
    be judged (allowed tensors count as passing: their difference is accepted and explained); else
    pass."""
    mismatch = any(p.status == "fail" for p in result.params)
    if mismatch:
        return "expected-fail" if spec.expect == "fail" else "fail"
    if any(p.status == "inconclusive" for p in result.params):
        return "inconclusive"
    return "pass"


NOTICE_ROUNDOFF = "gradient-below-roundoff"


def model_sensitivity(result: ModelResult) -> float | None:
    """The guarantee that holds for every judged tensor whose gradient the check resolves: the
    largest of their sensitivities."""
    values = [p.sensitivity for p in result.params if resolved(p.sensitivity)]
    return max(v for v in values if v is not None) if values else None


# a tensor whose sensitivity is this many times the aim (precision.py's target) or more gets a
# notice
SHORT_BY = 10.0
NOTICE_SHORT = "sensitivity-short"


def sensitivity_notice(result: ModelResult) -> Notice | None:
    """A notice naming the judged tensors whose sensitivity misses the aim by an order of magnitude
    or more: a wrong gradient below that size could pass unseen in them (docs/numerics.md, "Where it
    falls short")."""
    target = BY_NAME.get(result.precision, FLOAT64).target
    short = sorted(
        (
            p
            for p in result.params
            if p.status != "fail"
            and resolved(p.sensitivity)
            and (p.sensitivity or 0.0) >= SHORT_BY * target
        ),
        key=lambda p: -(p.sensitivity or 0.0),
    )
    if not short:
        return None
    shown = ", ".join(f"{p.id} {p.sensitivity:.3g}" for p in short[:4])
    more = f" and {len(short) - 4} more" if len(short) > 4 else ""
    one = len(short) == 1
    message = (
        f"sensitivity far short of the aim ({target:g} in {result.precision}): "
        f"{shown}{more}; a relative gradient error smaller than that may pass unseen in "
        f"{'this tensor' if one else 'these tensors'}. {'Its' if one else 'Their'} gradient "
        f"is tiny against the loss's round-off at this point (units "
        "saturated or rarely reached, or a large loss): larger `data:` sizes (more "
        "sequences or steps reaching them), another `seed` (a nearby point where they "
        "matter more) or initial values that do not saturate the units usually bring it down"
    )
    worst = short[0]
    return Notice(message, NOTICE_SHORT, worst.file, worst.line)


def sensitivity_notices(result: ModelResult) -> list[Notice]:
    """What the report says of tensors whose sensitivity misses the aim (sensitivity_notice) or
    says nothing (roundoff_notice)."""
    found = (sensitivity_notice(result), roundoff_notice(result))
    return [notice for notice in found if notice is not None]


def roundoff_notice(result: ModelResult) -> Notice | None:
    """A notice naming the tensors whose gradient is below what the loss's round-off lets finite
    differences resolve (RESOLVED_BELOW): the loss hardly depends on them at this point."""
    hidden = [
        p
        for p in result.params
        if p.status != "fail" and p.sensitivity is not None and not resolved(p.sensitivity)
    ]
    if not hidden:
        return None
    one = len(hidden) == 1
    shown = ", ".join(
        f"{p.id} (|g| {p.grad_norm:.2g})" if p.grad_norm is not None else p.id for p in hidden[:4]
    )
    more = f" and {len(hidden) - 4} more" if len(hidden) > 4 else ""
    message = (
        f"the loss hardly depends on {shown}{more} at this point: "
        f"{'its gradient is' if one else 'their gradients are'} below what the loss's round-off "
        "lets finite differences resolve, so an error as large as the gradient itself could pass "
        "(the model's sensitivity leaves "
        f"{'it' if one else 'them'} out). A normalisation after a bias cancels it (batch or "
        "instance normalisation: build the layer before it with `b=None`), as does a path whose "
        "units are dead or saturated at this point (another `seed` or other `data:` sizes)"
    )
    return Notice(message, NOTICE_ROUNDOFF, hidden[0].file, hidden[0].line)


NOTICE_ALL_ZERO = "gradient-all-zero"


def all_zero_notice(result: ModelResult, model: BuiltModel, objective: Objective) -> Notice | None:
    """When no tensor fails and every tensor's gradient is exactly zero, the loss does not depend on
    any parameter at the checked point: the finite differences are zero too, and a wrong backward
    pass upstream of whatever cuts the gradient could not show. Such a check judged nothing, and
    must not read as a pass that did: the tensors are marked inconclusive (so is the model, by
    model_status: a warning, exit 0 unless --fail-on-inconclusive) and the notice, at the custom
    loss or the output layer, says what usually causes it."""
    params = result.params
    if not params or any(p.status == "fail" or p.grad_norm != 0.0 for p in params):
        return None
    for p in params:
        p.status = "inconclusive"
    site = model.site(model.output)
    file, line = objective.custom_site or ((site.file, site.line) if site else (None, None))
    every = "the only tensor" if len(params) == 1 else f"all {len(params)} tensors"
    message = (
        f"every gradient is exactly zero at the checked point ({every}): the loss does not depend "
        "on any parameter here, so the comparison could not see any error and checked nothing. "
        "Usually something in the graph has no gradient: an integer cast or a comparison "
        "(`T.cast(x > 0, 'int64')`, argmax, rounding), a stop-gradient (`disconnected_grad`, "
        "`zero_grad`), or units that are all dead at this seed (another `seed` or `data:` sizes)"
    )
    return Notice(message, NOTICE_ALL_ZERO, file, line)


def checked_line(result: ModelResult) -> str:
    """The verdict as soon as the comparison is done (a progress line): the diagnosis that follows
    can take longer than the check, and CI logs should not make the user wait for it to see pass or
    fail."""
    failing = [p for p in result.params if p.status == "fail"]
    head = (
        f"checked: {result.status.upper()}, {len(failing)} of {len(result.params)} tensors disagree"
    )
    worst = worst_param(result)  # the same choice as the table, the annotations, JUnit and HTML
    if worst is None:
        return head
    where = f" at {located(worst)}" if worst.file and worst.line else ""
    return f"{head} (worst: {worst.id}{where}); diagnosing why"
