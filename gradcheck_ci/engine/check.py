"""The engine: Theano's symbolic gradient against central finite differences, tensor by tensor.

One compiled function returns the loss and every gradient; a second, forward-only one serves the
probes. Parameters are function inputs (`givens`), so a probe never calls set_value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import ModelSpec
from ..core.results import ParamResult
from ..model.built import BuiltModel
from ..model.data import check_data
from ..model.objective import Objective
from ..platform import fncache
from ..platform.functions import compile_function
from ..platform.givens import param_inputs
from ..usercode.blame import user_code_error
from . import differentiable, directional, full
from .evaluation import CompiledCheck, at_point
from .settings import CheckSettings
from .verdict import non_finite_param

Progress = Callable[[str], None]


def compile_check(
    model: BuiltModel,
    objective: Objective,
    spec: ModelSpec,
    progress: Progress,
    root: str,
    config_file: str,
) -> CompiledCheck:
    try:
        # Theano's other "cannot differentiate" errors: blame.py
        graph = gradient_graph(model, objective)
    except Exception as exc:
        error = differentiable.cannot_differentiate(
            exc,
            objective.loss,
            [p.variable for p in model.params],
            spec.name,
            root,
            (config_file, spec.line),
        )
        if error is None:
            raise
        raise error from exc
    progress("compiling loss and gradient (Theano)")
    compiles = len(fncache.EVENTS)
    try:
        grad_fn, loss_fn, compile_seconds = compile_functions(graph)
    except Exception as exc:  # noqa: BLE001 - a custom op's C code or make_node fails here: blamed on the user's line
        raise user_code_error(
            exc, root, f"compiling {spec.name!r}", fallback=(config_file, spec.line)
        ) from None
    progress(f"loss and gradient {_served(fncache.EVENTS[compiles:])} in {compile_seconds:.1f}s")

    # the data's shape can need one more small compile (data.prediction_shape)
    started = time.perf_counter()
    data = check_data(model, objective.prediction, objective.target_kind, spec, config_file)
    compile_seconds += time.perf_counter() - started
    base = [np.asarray(p.variable.get_value()) for p in model.params]
    return CompiledCheck(
        grad_fn, loss_fn, data, base, spec.precision, seconds={"compile": compile_seconds}
    )


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


def _served(events: list[fncache.Event]) -> str:
    outcomes = {e.outcome for e in events}
    if outcomes == {"hit"}:
        return "loaded from the function cache"
    if "miss" in outcomes and all(e.stored for e in events if e.outcome == "miss"):
        return "compiled (kept in the function cache for the next run)"
    return "compiled"


@dataclass
class GradientGraph:
    """The symbolic side of a check: inputs (*data inputs, target, *params), the loss and its
    gradients; the parameters' shared variables are replaced by the inputs (`givens`)."""

    inputs: list[Any]
    loss: Any
    grads: list[Any]
    givens: list[Any]


def gradient_graph(model: BuiltModel, objective: Objective) -> GradientGraph:
    import theano

    params = [p.variable for p in model.params]
    grads = theano.grad(objective.loss, params, disconnected_inputs="ignore")
    symbolic, givens = param_inputs(params)
    inputs = [info.layer.input_var for info in model.inputs] + [objective.target_var] + symbolic
    return GradientGraph(inputs, objective.loss, grads, givens)


def compile_functions(
    graph: GradientGraph, freeze: bool = False, loss_fn: Any = None
) -> tuple[Any, Any, float]:
    """(grad_fn, loss_fn, seconds): the loss with every gradient, and the loss alone. Also used by
    the diagnosis for rebuilt (ablated) objectives; `freeze` keeps random streams from advancing
    between calls. A `loss_fn` given (the forward pass did not change) is kept instead of compiled
    again."""
    started = time.perf_counter()
    grad_fn = compile_function(graph.inputs, [graph.loss] + graph.grads, graph.givens, freeze)
    if loss_fn is None:
        loss_fn = compile_function(graph.inputs, graph.loss, graph.givens, freeze)
    return grad_fn, loss_fn, time.perf_counter() - started


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
    indices: Any,
    settings: CheckSettings,
    progress: Progress = lambda message: None,
) -> dict[int, ParamResult]:
    """The tensors `indices` (into model.params) in settings.mode: directional (bands along shared
    directions, see directional.py) or full (every element, full.py)."""
    results: dict[int, ParamResult] = {}
    finite = []
    for k in indices:
        if np.all(np.isfinite(grads[k])):
            finite.append(k)
        else:
            results[k] = non_finite_param(model.params[k], grads[k])
    if not finite:
        return results
    if settings.mode == "directional":
        progress(
            f"comparing {len(finite)} tensor(s) along random directions "
            f"({model.params[finite[0]].id}, ...)"
        )
        results.update(directional.check_tensors(check, model, grads, finite, settings, at_point))
        return results
    results.update(
        full.check_elements(check, model, grads, finite, settings.rtol, settings.atol, progress)
    )
    return results
