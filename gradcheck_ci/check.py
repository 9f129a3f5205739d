"""The engine: Theano's symbolic gradient against central finite differences, tensor by tensor.

One compiled function returns the loss and every gradient; a second, forward-only one serves the probes.
Parameters are function inputs (`givens`), so a probe never calls set_value.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from . import numeric
from .config import ModelSpec
from .data import make_inputs, make_targets, stable_seed
from .loading import BuiltModel, ModelLoadError, ParamInfo
from .objective import Objective
from .results import ParamResult

Progress = Callable[[str], None]

AUTO_FULL_LIMIT = 64  # auto: every element when the selected tensors hold at most this many
LOCALISE_LEAF = 8


@dataclass
class CompiledCheck:
    grad_fn: Any  # (*data, *params) -> [loss, *grads]
    loss_fn: Any  # (*data, *params) -> loss
    data: list[np.ndarray]
    base: list[np.ndarray]  # the selected parameters' values, in ParamInfo order
    precision: str
    evaluations: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    probe_with_gradient: bool = False  # see choose_probe_function

    def loss(self, values: list[np.ndarray]) -> float:
        self.evaluations += 1
        if self.probe_with_gradient:
            return float(self.grad_fn(*self.data, *values)[0])
        return float(self.loss_fn(*self.data, *values))

    def loss_with(self, index: int, value: np.ndarray) -> float:
        values = list(self.base)
        values[index] = value
        return self.loss(values)


def compile_check(model: BuiltModel, objective: Objective, spec: ModelSpec, progress: Progress,
                  root: str, config_file: str) -> CompiledCheck:
    import theano
    import theano.tensor as T

    params = [p.variable for p in model.params]
    symbolic = [T.TensorType(p.dtype, p.broadcastable)(p.name or "param") for p in params]
    grads = theano.grad(objective.loss, params, disconnected_inputs="ignore")
    givens = list(zip(params, symbolic))
    inputs = [info.layer.input_var for info in model.inputs] + [objective.target_var]

    progress("compiling loss and gradient (Theano; cached after the first run)")
    started = time.perf_counter()
    try:
        grad_fn = _compile(inputs + symbolic, [objective.loss] + grads, givens)
        loss_fn = _compile(inputs + symbolic, objective.loss, givens)
    except Exception as exc:  # noqa: BLE001
        from .loading import user_code_error
        raise user_code_error(exc, root, f"compiling {spec.name!r}", fallback=(config_file, spec.line)) from None
    compile_seconds = time.perf_counter() - started

    rng = np.random.RandomState(spec.seed)
    data = make_inputs(model, spec.data, rng, spec.precision)
    rows, units = _prediction_shape(model, objective, data)
    if objective.target_kind == "labels" and spec.data.classes > units:
        raise ModelLoadError(f"data.classes is {spec.data.classes} but the output has {units} units",
                             config_file, spec.key_lines.get("data.classes", spec.line), kind="data")
    data.append(make_targets(objective.target_kind, rows, units, spec.data, rng, spec.precision))
    base = [np.asarray(p.variable.get_value()) for p in model.params]
    return CompiledCheck(grad_fn, loss_fn, data, base, spec.precision, seconds={"compile": compile_seconds})


def _compile(inputs: list[Any], outputs: Any, givens: list[Any]) -> Any:
    import theano

    try:
        return theano.function(inputs, outputs, givens=givens, on_unused_input="ignore")
    except ValueError as exc:
        if "not aligned" not in str(exc):
            raise
    # Theano issue 4652: truncated scan with a dot pushed out of the loop; compile without that rewrite.
    mode = theano.compile.get_default_mode().excluding("scanOp_pushout_output")
    return theano.function(inputs, outputs, givens=givens, on_unused_input="ignore", mode=mode)


def _prediction_shape(model: BuiltModel, objective: Objective, data: list[np.ndarray]) -> tuple[int, int]:
    import lasagne
    import theano

    shape = lasagne.layers.get_output_shape(
        model.output, {info.layer: array.shape for info, array in zip(model.inputs, data)})
    if all(isinstance(s, int) for s in shape) and len(shape) >= 1:
        units = shape[-1] if len(shape) > 1 else 1
        return int(np.prod(shape)) // units, units
    # Some layers cannot infer their shape statically: evaluate it (one more small compile).
    inputs = [info.layer.input_var for info in model.inputs]
    shape_fn = theano.function(inputs, objective.prediction.shape, on_unused_input="ignore")
    rows, units = (int(s) for s in shape_fn(*data))
    return rows, units


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


def choose_probe_function(check: CompiledCheck, gradient_seconds: float) -> float:
    """Evaluate the loss once with the forward-only function and keep, for the probes, whichever function
    is faster. Theano's forward-only graph of a scan can be the slower one (the reported network: 0.70 s
    against 0.49 s for loss and gradient), since its scan rewrites differ. Returns the loss."""
    started = time.perf_counter()
    loss = check.loss(check.base)
    loss_seconds = time.perf_counter() - started
    check.probe_with_gradient = gradient_seconds < 0.8 * loss_seconds
    return loss


def resolve_mode(spec: ModelSpec, params: list[ParamInfo]) -> str:
    if spec.mode != "auto":
        return spec.mode
    total = sum(int(np.prod(p.variable.get_value(borrow=True).shape)) for p in params)
    return "full" if total <= AUTO_FULL_LIMIT else "directional"


def check_all(check: CompiledCheck, model: BuiltModel, grads: AnalyticResult, spec: ModelSpec,
              progress: Progress) -> tuple[str, list[ParamResult]]:
    """Every selected tensor, in graph order. Returns the mode used and the per-tensor results."""
    from .verdict import non_finite_param

    mode = resolve_mode(spec, model.params)
    rtol = default_rtol(spec)
    atol = spec.atol or 0.0
    results = []
    for k, (info, grad) in enumerate(zip(model.params, grads.grads)):
        progress(f"probing {info.id} ({k + 1}/{len(model.params)}, {mode})")
        if not np.all(np.isfinite(grad)):
            results.append(non_finite_param(info, grad))
        else:
            results.append(check_tensor(check, k, info, grad, spec, mode, rtol, atol))
    return mode, results


def check_tensor(check: CompiledCheck, index: int, info: ParamInfo, grad: np.ndarray, spec: ModelSpec,
                 mode: str, rtol: float, atol: float) -> ParamResult:
    before = check.evaluations
    value = check.base[index]
    if mode == "full":
        result = _full(check, index, info, grad, rtol, atol, range(value.size))
    else:
        result = _directional(check, index, info, grad, spec, rtol, atol)
    result.evaluations = check.evaluations - before
    return result


def _element_comparisons(check: CompiledCheck, index: int, grad: np.ndarray, rtol: float, atol: float,
                         flat_indices: Any) -> list[tuple[int, numeric.Comparison]]:
    """One central difference per element; then a second step size for the disagreeing ones, worst first,
    until one disagreement survives it (the tensor fails) or all are explained (it passes)."""
    value = check.base[index]
    flat = value.reshape(-1)
    flat_grad = grad.reshape(-1)

    def loss_along_element(i: int) -> Callable[[float], float]:
        def loss_along(t: float) -> float:
            probe = flat.copy()
            probe[i] = flat[i] + t
            return check.loss_with(index, probe.reshape(value.shape))
        return loss_along

    out = []
    for i in flat_indices:
        step = numeric.base_step(check.precision, abs(float(flat[i])))
        out.append((i, numeric.compare(float(flat_grad[i]), loss_along_element(i), step, check.precision,
                                       rtol, atol, refine_failures=False)))
    for position in sorted(range(len(out)), key=lambda k: -out[k][1].excess):
        i, first = out[position]
        if not first.needs_refining:
            break
        out[position] = (i, numeric.refine(first, loss_along_element(i), rtol, atol))
        if not out[position][1].passed:
            break
    return out


def _full(check: CompiledCheck, index: int, info: ParamInfo, grad: np.ndarray, rtol: float, atol: float,
          flat_indices: Any) -> ParamResult:
    comparisons = _element_comparisons(check, index, grad, rtol, atol, flat_indices)
    worst_i, worst = max(comparisons, key=lambda item: item[1].excess)
    shape = list(check.base[index].shape)
    return ParamResult(
        id=info.id, shape=shape, status="pass" if all(c.passed for _, c in comparisons) else "fail",
        max_abs_err=max(c.abs_err for _, c in comparisons),
        max_rel_err=max(_meaningful_rel(c) for _, c in comparisons),
        tolerance=worst.tolerance, worst_index=_unravel(worst_i, shape), method="full",
        analytic=worst.analytic, numeric=worst.numeric, layer=info.layer_label,
        file=info.site.file if info.site else None, line=info.site.line if info.site else None)


def _meaningful_rel(c: numeric.Comparison) -> float:
    """Relative error against the larger of the two values, but never below the tolerance (noise level)."""
    reference = max(abs(c.analytic), abs(c.numeric), c.tolerance)
    return c.abs_err / reference if reference > 0 else 0.0


def _unravel(flat_index: int, shape: list[int]) -> list[int]:
    return [int(i) for i in np.unravel_index(flat_index, shape)] if shape else []


def _directional(check: CompiledCheck, index: int, info: ParamInfo, grad: np.ndarray, spec: ModelSpec,
                 rtol: float, atol: float) -> ParamResult:
    value = check.base[index]
    rng = np.random.RandomState(stable_seed(spec.seed, info.id))
    step = numeric.base_step(check.precision, float(np.sqrt(np.mean(np.square(value, dtype="float64")))))
    grad_norm = float(np.linalg.norm(grad))
    comparisons = []
    directions = []
    for _ in range(spec.directions):
        direction = rng.standard_normal(value.shape)
        directions.append(direction)
        comparisons.append(_along(check, index, grad, direction, step, rtol, atol, grad_norm))
    k = max(range(len(comparisons)), key=lambda j: comparisons[j].excess)
    worst = comparisons[k]
    result = ParamResult(
        id=info.id, shape=list(value.shape), status="pass" if all(c.passed for c in comparisons) else "fail",
        max_abs_err=max(c.abs_err for c in comparisons), max_rel_err=max(_meaningful_rel(c) for c in comparisons),
        tolerance=worst.tolerance, worst_index=None, method="directional",
        analytic=worst.analytic, numeric=worst.numeric, layer=info.layer_label,
        file=info.site.file if info.site else None, line=info.site.line if info.site else None)
    if result.status == "fail":
        flat_index, element = localise(check, index, grad, directions[k], step, rtol, atol)
        result.worst_index = _unravel(flat_index, list(value.shape))
        result.analytic, result.numeric = element.analytic, element.numeric
    return result


def _along(check: CompiledCheck, index: int, grad: np.ndarray, direction: np.ndarray, step: float,
           rtol: float, atol: float, scale: float) -> numeric.Comparison:
    value = check.base[index]

    def loss_along(t: float) -> float:
        return check.loss_with(index, (value + t * direction).astype(value.dtype))

    return numeric.compare(float(np.sum(grad * direction)), loss_along, step, check.precision, rtol, atol, scale)


def localise(check: CompiledCheck, index: int, grad: np.ndarray, direction: np.ndarray, step: float,
             rtol: float, atol: float) -> tuple[int, numeric.Comparison]:
    """The worst element of a tensor whose directional check failed.

    Bisection over element blocks: directional derivatives add up over disjoint blocks, so the error of
    one half is measured (one central difference) and the other's is the remainder. The half with the
    larger error is kept: O(log n) probes instead of the 2n of an element-wise pass.
    """
    size = direction.size
    flat_direction = direction.reshape(-1)
    candidates = np.arange(size)
    total_error = _signed_error(check, index, grad, flat_direction, candidates, step, rtol, atol)
    while candidates.size > LOCALISE_LEAF:
        first, second = np.array_split(candidates, 2)
        first_error = _signed_error(check, index, grad, flat_direction, first, step, rtol, atol)
        second_error = total_error - first_error
        candidates, total_error = ((first, first_error) if abs(first_error) >= abs(second_error)
                                   else (second, second_error))
    comparisons = _element_comparisons(check, index, grad, rtol, atol, candidates)
    return max(comparisons, key=lambda item: item[1].abs_err)


def _signed_error(check: CompiledCheck, index: int, grad: np.ndarray, flat_direction: np.ndarray,
                  block: np.ndarray, step: float, rtol: float, atol: float) -> float:
    masked = np.zeros(flat_direction.size)
    masked[block] = flat_direction[block]
    value = check.base[index]
    masked = masked.reshape(value.shape)

    def loss_along(t: float) -> float:
        return check.loss_with(index, (value + t * masked).astype(value.dtype))

    c = numeric.compare(float(np.sum(grad * masked)), loss_along, step, check.precision, rtol, atol,
                        refine_failures=False)
    return c.numeric - c.analytic


def default_rtol(spec: ModelSpec) -> float:
    return spec.rtol if spec.rtol is not None else numeric.DEFAULT_RTOL[spec.precision]

