"""The comparison of a compiled check (compile.py): the analytic gradients at its point, then every
selected tensor against central finite differences, in the settings' mode (directional.py or
full.py); a tensor whose gradient is not finite fails without a probe.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..core.results import ParamResult
from ..model.built import BuiltModel, ParamInfo
from . import directional, full
from .evaluation import CompiledCheck, Move, at_point
from .settings import CheckSettings

Progress = Callable[[str], None]


class Mode(Protocol):
    """A way of comparing tensors (the `mode` key): a module with compare_tensors."""

    def compare_tensors(
        self,
        check: CompiledCheck,
        model: BuiltModel,
        grads: list[np.ndarray],
        indices: list[int],
        settings: CheckSettings,
        progress: Progress,
        move: Move,
    ) -> dict[int, ParamResult]: ...


# the modes settings.mode names (config's `auto` is resolved to one of them by settings.py)
MODES: dict[str, Mode] = {"directional": directional, "full": full}


def move_to_point(compiled: CompiledCheck, model: BuiltModel, path: str) -> None:
    """Put the check at the parameter values and data saved in `path` (an .npz of `param:<id>` and
    `data:<i>` arrays, from a check in another precision): every parameter, selected or not, and
    every input."""
    with np.load(path) as point:
        for info in model.all_params:
            key = f"param:{info.id}"
            if key in point.files:
                info.variable.set_value(np.asarray(point[key]).astype(info.variable.dtype))
        compiled.base = [
            np.asarray(point[f"param:{info.id}"]).astype(compiled.base[k].dtype)
            for k, info in enumerate(model.params)
        ]
        compiled.data = [
            np.asarray(point[f"data:{i}"]).astype(value.dtype)
            if value.dtype.kind == "f"
            else np.asarray(point[f"data:{i}"])
            for i, value in enumerate(compiled.data)
        ]
    compiled.base_loss = None


def dump_gradients(path: str, model: BuiltModel, grads: AnalyticResult) -> None:
    """The analytic gradients of the selected parameters, as an .npz of `grad:<id>` arrays."""
    np.savez(
        path, **{f"grad:{info.id}": g for info, g in zip(model.params, grads.grads, strict=True)}
    )


@dataclass
class AnalyticResult:
    loss: float
    grads: list[np.ndarray]
    seconds: float


def analytic(check: CompiledCheck) -> AnalyticResult:
    started = time.perf_counter()
    loss, *grads = check.grad_fn(*check.data, *check.base)
    seconds = time.perf_counter() - started
    return AnalyticResult(float(loss), [np.asarray(g, dtype="float64") for g in grads], seconds)


def check_all(
    check: CompiledCheck,
    model: BuiltModel,
    grads: AnalyticResult,
    settings: CheckSettings,
    progress: Progress,
) -> list[ParamResult]:
    """Every selected tensor, in graph order: the per-tensor results."""
    results = check_selected(
        check, model, grads.grads, range(len(model.params)), settings, progress
    )
    return [results[k] for k in range(len(model.params))]


def check_selected(
    check: CompiledCheck,
    model: BuiltModel,
    grads: list[np.ndarray],
    indices: Iterable[int],
    settings: CheckSettings,
    progress: Progress = lambda message: None,
) -> dict[int, ParamResult]:
    """The tensors `indices` (into model.params) in settings.mode (MODES): directional (bands along
    shared directions, see directional.py) or full (every element, full.py). Both modes are given
    the same way to move the check to other parameter values (evaluation.at_point)."""
    results: dict[int, ParamResult] = {}
    finite = []
    for k in indices:
        if np.all(np.isfinite(grads[k])):
            finite.append(k)
        else:
            results[k] = non_finite_param(model.params[k], grads[k])
    if not finite:
        return results
    mode = MODES[settings.mode]
    results.update(mode.compare_tensors(check, model, grads, finite, settings, progress, at_point))
    return results


def non_finite_param(info: ParamInfo, grad: np.ndarray) -> ParamResult:
    """The loss is finite but Theano's gradient is not: that is a gradient bug, not a config
    error."""
    bad = np.argwhere(~np.isfinite(grad))
    worst = [int(i) for i in bad[0]] if bad.size else None
    return info.result(
        shape=list(grad.shape),
        status="fail",
        max_abs_err=math.inf,
        max_rel_err=math.inf,
        tolerance=0.0,
        worst_index=worst,
        method="full",
        analytic=float(grad[tuple(worst)]) if worst is not None else None,
        numeric=None,
    )
