"""The engine: Theano's symbolic gradient against central finite differences, tensor by tensor.

One compiled function returns the loss and every gradient; a second, forward-only one serves the probes.
Parameters are function inputs (`givens`), so a probe never calls set_value.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import fncache, numeric
from .blame import user_code_error
from .config import ModelSpec
from .data import make_inputs, make_targets, stable_seed
from .errors import ModelLoadError
from .model import BuiltModel, ParamInfo
from .objective import Objective
from .results import ParamResult
from .verdict import non_finite_param

Progress = Callable[[str], None]

# Screening (directional mode): tensors whose gradient norms are within this factor of each other are
# compared along one shared direction first (see screening_bands); only a band that disagrees costs a
# comparison per tensor.
SCREEN_BAND_RATIO = 10.0


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
    base_loss: float | None = None  # the probe function's loss at the base point (one-sided differences)

    def loss(self, values: list[np.ndarray], data: list[np.ndarray] | None = None) -> float:
        """The loss at parameter `values` (on the check's data unless `data` is given), by the probe function."""
        data = self.data if data is None else data
        self.evaluations += 1
        if self.probe_with_gradient:
            return float(self.grad_fn(*data, *values)[0])
        return float(self.loss_fn(*data, *values))

    def loss_with(self, index: int, value: np.ndarray) -> float:
        values = list(self.base)
        values[index] = value
        return self.loss(values)

    def loss_with_input(self, position: int, value: np.ndarray) -> float:
        """The loss with data input `position` (in model.inputs order) replaced, at the base parameters."""
        data = list(self.data)
        data[position] = value
        return self.loss(self.base, data)

    def loss_at_base(self) -> float:
        if self.base_loss is None:
            self.base_loss = self.loss(self.base)
        return self.base_loss


def compile_check(model: BuiltModel, objective: Objective, spec: ModelSpec, progress: Progress,
                  root: str, config_file: str) -> CompiledCheck:
    graph = gradient_graph(model, objective)  # Theano's "cannot differentiate" errors are classified upstream
    progress("compiling loss and gradient (Theano)")
    compiles = len(fncache.EVENTS)
    try:
        grad_fn, loss_fn, compile_seconds = compile_functions(graph)
    except Exception as exc:  # noqa: BLE001 - a custom op's C code or make_node fails here: blamed on the user's line
        raise user_code_error(exc, root, f"compiling {spec.name!r}", fallback=(config_file, spec.line)) from None
    progress(f"loss and gradient {_served(fncache.EVENTS[compiles:])} in {compile_seconds:.1f}s")

    rng = np.random.RandomState(spec.seed)
    data = make_inputs(model, spec.data, rng, spec.precision)
    base = [np.asarray(p.variable.get_value()) for p in model.params]
    started = time.perf_counter()
    rows, units = _prediction_shape(model, objective, graph, data, base)
    compile_seconds += time.perf_counter() - started
    if objective.target_kind == "labels" and spec.data.classes > units:
        raise ModelLoadError(f"data.classes is {spec.data.classes} but the output has {units} units",
                             config_file, spec.key_lines.get("data.classes", spec.line), kind="data")
    data.append(make_targets(objective.target_kind, rows, units, spec.data, rng, spec.precision))
    return CompiledCheck(grad_fn, loss_fn, data, base, spec.precision, seconds={"compile": compile_seconds})


def _served(events: list[fncache.Event]) -> str:
    outcomes = {e.outcome for e in events}
    if outcomes == {"hit"}:
        return "loaded from the function cache"
    if "miss" in outcomes and all(e.stored for e in events if e.outcome == "miss"):
        return "compiled (kept in the function cache for the next run)"
    return "compiled"


@dataclass
class GradientGraph:
    """The symbolic side of a check: inputs (*data inputs, target, *params), the loss and its gradients;
    the parameters' shared variables are replaced by the inputs (`givens`)."""

    inputs: list[Any]
    loss: Any
    grads: list[Any]
    givens: list[Any]


def gradient_graph(model: BuiltModel, objective: Objective) -> GradientGraph:
    import theano
    import theano.tensor as T

    params = [p.variable for p in model.params]
    symbolic = [T.TensorType(p.dtype, p.broadcastable)(p.name or "param") for p in params]
    grads = theano.grad(objective.loss, params, disconnected_inputs="ignore")
    inputs = [info.layer.input_var for info in model.inputs] + [objective.target_var] + symbolic
    return GradientGraph(inputs, objective.loss, grads, list(zip(params, symbolic, strict=True)))


def compile_functions(graph: GradientGraph, freeze: bool = False, loss_fn: Any = None) -> tuple[Any, Any, float]:
    """(grad_fn, loss_fn, seconds): the loss with every gradient, and the loss alone. Also used by the
    diagnosis for rebuilt (ablated) objectives; `freeze` keeps random streams from advancing between calls.
    A `loss_fn` given (the forward pass did not change) is kept instead of compiled again."""
    started = time.perf_counter()
    grad_fn = compile_function(graph.inputs, [graph.loss] + graph.grads, graph.givens, freeze)
    if loss_fn is None:
        loss_fn = compile_function(graph.inputs, graph.loss, graph.givens, freeze)
    return grad_fn, loss_fn, time.perf_counter() - started


def compile_function(inputs: list[Any], outputs: Any, givens: list[Any], freeze: bool = False) -> Any:
    """theano.function, served by the function cache (fncache) when an unchanged graph was compiled before."""
    def compile() -> Any:
        return _compile_function(inputs, outputs, givens, freeze)

    return fncache.function(compile, inputs, outputs, givens, on_unused_input="ignore", no_default_updates=freeze)


def _compile_function(inputs: list[Any], outputs: Any, givens: list[Any], freeze: bool) -> Any:
    import theano

    kwargs = {"givens": givens, "on_unused_input": "ignore", "no_default_updates": freeze}
    try:
        return theano.function(inputs, outputs, **kwargs)
    except ValueError as exc:
        if "not aligned" not in str(exc):
            raise
    # Theano issue 4652: truncated scan with a dot pushed out of the loop; compile without that rewrite.
    mode = theano.compile.get_default_mode().excluding("scanOp_pushout_output")
    return theano.function(inputs, outputs, mode=mode, **kwargs)


def _prediction_shape(model: BuiltModel, objective: Objective, graph: GradientGraph, data: list[np.ndarray],
                      base: list[np.ndarray]) -> tuple[int, int]:
    import lasagne

    shape = lasagne.layers.get_output_shape(
        model.output, {info.layer: array.shape for info, array in zip(model.inputs, data, strict=True)})
    if all(isinstance(s, int) for s in shape) and len(shape) >= 1:
        units = shape[-1] if len(shape) > 1 else 1
        return int(np.prod(shape)) // units, units
    # Some layers cannot infer their shape statically: evaluate it (one more small compile). Parameters are
    # inputs here too, so the function cache can keep this function without their values.
    n_data = len(model.inputs)
    inputs = graph.inputs[:n_data] + graph.inputs[n_data + 1:]  # no target: it is made from this shape
    shape_fn = compile_function(inputs, objective.prediction.shape, graph.givens)
    rows, units = (int(s) for s in shape_fn(*data, *base))
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
    """Evaluate the loss with the forward-only function and keep, for the probes, whichever function is
    faster. Theano's forward-only graph of a scan can be the slower one, since its scan rewrites differ.
    The loss is timed twice (the faster time counts): a single timing on a shared machine can be off by 2x
    and pick the slower function for every probe that follows. Returns the loss."""
    loss_seconds = []
    for _ in range(2):
        started = time.perf_counter()
        loss = check.loss(check.base)
        loss_seconds.append(time.perf_counter() - started)
    check.probe_with_gradient = gradient_seconds < 0.8 * min(loss_seconds)
    check.base_loss = float(check.grad_fn(*check.data, *check.base)[0]) if check.probe_with_gradient else loss
    return loss


def resolve_mode(spec: ModelSpec, params: list[ParamInfo]) -> str:
    """auto is directional at every size: with screening and bisection it costs fewer evaluations than
    perturbing every element even for the 10-parameter reported network, and still names the worst element."""
    return "directional" if spec.mode == "auto" else spec.mode


def check_all(check: CompiledCheck, model: BuiltModel, grads: AnalyticResult, spec: ModelSpec,
              progress: Progress) -> tuple[str, list[ParamResult]]:
    """Every selected tensor, in graph order. Returns the mode used and the per-tensor results."""
    mode = resolve_mode(spec, model.params)
    results = check_selected(check, model, grads.grads, range(len(model.params)), spec, mode,
                             default_rtol(spec), spec.atol or 0.0, progress)
    return mode, [results[k] for k in range(len(model.params))]


def check_selected(check: CompiledCheck, model: BuiltModel, grads: list[np.ndarray], indices: Any,
                   spec: ModelSpec, mode: str, rtol: float, atol: float,
                   progress: Progress = lambda message: None) -> dict[int, ParamResult]:
    """The tensors `indices` (into model.params). In directional mode they are first screened in bands
    along shared directions; a band that agrees passes all its tensors, a band that does not is checked
    tensor by tensor (the verdict that counts)."""
    results: dict[int, ParamResult] = {}
    finite = []
    for k in indices:
        if np.all(np.isfinite(grads[k])):
            finite.append(k)
        else:
            results[k] = non_finite_param(model.params[k], grads[k])
    if mode == "directional":
        for band in screening_bands(grads, finite):
            progress(f"screening {len(band)} tensors along shared directions ({model.params[band[0]].id}, ...)")
            results.update(screen(check, model, grads, band, spec, rtol, atol))
    for k in finite:
        if k not in results:
            info = model.params[k]
            progress(f"probing {info.id} ({k + 1}/{len(model.params)}, {mode})")
            results[k] = check_tensor(check, k, info, grads[k], spec, mode, rtol, atol)
    return results


def direction_generator(seed: int, name: str) -> np.random.Generator:
    """Gaussian directions, reproducible from the model's seed and what they probe (so every run and every
    shard draws the same). numpy's Generator: its Gaussians cost a third of RandomState's, which shows on
    100k+-parameter models, where drawing the direction otherwise costs more than the forward pass."""
    return np.random.default_rng(stable_seed(seed, name))


def screening_bands(grads: list[np.ndarray], indices: list[int]) -> list[list[int]]:
    """Groups of at least two tensors to screen together: gradient norms within SCREEN_BAND_RATIO of each
    other (all-zero gradients form their own band). See `screen` for why any grouping keeps the check's
    sensitivity; similar norms keep the band's tolerance close to each member's, so a right gradient's
    round-off rarely trips it (which would cost the per-tensor comparisons after all)."""
    norms = {k: float(np.linalg.norm(grads[k])) for k in indices}
    zero = [k for k in indices if norms[k] == 0.0]
    bands: list[list[int]] = []
    for k in sorted((k for k in indices if norms[k] > 0.0), key=lambda k: -norms[k]):
        if bands and norms[bands[-1][0]] <= SCREEN_BAND_RATIO * norms[k]:
            bands[-1].append(k)
        else:
            bands.append([k])
    return [sorted(band) for band in bands + [zero] if len(band) > 1]


def screen(check: CompiledCheck, model: BuiltModel, grads: list[np.ndarray], band: list[int], spec: ModelSpec,
           rtol: float, atol: float) -> dict[int, ParamResult]:
    """One central difference per direction for the whole band, each tensor's part of the direction drawn
    as in its own check. All agree: every tensor passes (method "grouped"). Any disagreement: {} (the
    caller then checks each tensor on its own, which is the verdict that counts).

    The band's tolerance is the smallest any member would get on its own: atol + round-off + rtol*|g_min|,
    with no relative part for the band's larger sum. Round-off is the same for one tensor or many (the loss
    and the step are), so an error in any member that its own check would catch exceeds this tolerance as
    well. There is no second step size: a band that misses, even by truncation error, is checked per tensor.
    """
    smallest = min(float(np.linalg.norm(grads[k])) for k in band)
    step = numeric.base_step(check.precision, max(numeric.rms(check.base[k]) for k in band))
    rng = direction_generator(spec.seed, "screen:" + ",".join(model.params[k].id for k in band))
    comparisons = []
    before = check.evaluations
    for _ in range(spec.directions):
        direction = {k: rng.standard_normal(check.base[k].shape) for k in band}
        analytic = float(sum(np.sum(grads[k] * direction[k]) for k in band))

        def loss_along(t: float, direction: dict[int, np.ndarray] = direction) -> float:
            values = list(check.base)
            for k, part in direction.items():
                values[k] = (check.base[k] + t * part).astype(check.base[k].dtype, copy=False)
            return check.loss(values)

        c = numeric.compare(analytic, loss_along, step, check.precision, 0.0, atol + rtol * smallest,
                            refine_failures=False)
        if not c.passed:
            return {}
        comparisons.append(c)
    worst = max(comparisons, key=lambda c: c.excess)
    results = {}
    for position, k in enumerate(band):
        info = model.params[k]
        results[k] = info.result(
            shape=list(check.base[k].shape), status="pass",
            max_abs_err=max(c.abs_err for c in comparisons),
            max_rel_err=max(_meaningful_rel(c) for c in comparisons), tolerance=worst.tolerance,
            worst_index=None, method="grouped", analytic=worst.analytic, numeric=worst.numeric,
            evaluations=(check.evaluations - before) if position == 0 else 0)
    return results


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
    """One central difference per element; then a refinement (numeric.refine) for the disagreeing ones, worst first,
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
        out[position] = (i, numeric.refine(first, loss_along_element(i), rtol, atol, check.loss_at_base()))
        if not out[position][1].passed:
            break
    return out


def _full(check: CompiledCheck, index: int, info: ParamInfo, grad: np.ndarray, rtol: float, atol: float,
          flat_indices: Any) -> ParamResult:
    comparisons = _element_comparisons(check, index, grad, rtol, atol, flat_indices)
    worst_i, worst = max(comparisons, key=lambda item: item[1].excess)
    shape = list(check.base[index].shape)
    return info.result(
        shape=shape, status="pass" if all(c.passed for _, c in comparisons) else "fail",
        max_abs_err=max(c.abs_err for _, c in comparisons),
        max_rel_err=max(_meaningful_rel(c) for _, c in comparisons),
        tolerance=worst.tolerance, worst_index=_unravel(worst_i, shape), method="full",
        analytic=worst.analytic, numeric=worst.numeric)


def _meaningful_rel(c: numeric.Comparison) -> float:
    """Relative error against the larger of the two values, but never below the tolerance (noise level)."""
    reference = max(abs(c.analytic), abs(c.numeric), c.tolerance)
    return c.abs_err / reference if reference > 0 else 0.0


def _unravel(flat_index: int, shape: list[int]) -> list[int]:
    return [int(i) for i in np.unravel_index(flat_index, shape)] if shape else []


def _directional(check: CompiledCheck, index: int, info: ParamInfo, grad: np.ndarray, spec: ModelSpec,
                 rtol: float, atol: float) -> ParamResult:
    value = check.base[index]
    rng = direction_generator(spec.seed, info.id)
    step = numeric.base_step(check.precision, numeric.rms(value))
    grad_norm = float(np.linalg.norm(grad))
    comparisons = []
    directions = []
    for _ in range(spec.directions):
        direction = rng.standard_normal(value.shape)
        directions.append(direction)
        comparisons.append(_along(check, index, grad, direction, step, rtol, atol, grad_norm))
    k = max(range(len(comparisons)), key=lambda j: comparisons[j].excess)
    worst = comparisons[k]
    result = info.result(
        shape=list(value.shape), status="pass" if all(c.passed for c in comparisons) else "fail",
        max_abs_err=max(c.abs_err for c in comparisons), max_rel_err=max(_meaningful_rel(c) for c in comparisons),
        tolerance=worst.tolerance, worst_index=None, method="directional",
        analytic=worst.analytic, numeric=worst.numeric)
    if result.status == "fail":
        flat_index, analytic, numeric_value = localise(check, index, grad, directions[k], worst)
        result.worst_index = _unravel(flat_index, list(value.shape))
        result.analytic, result.numeric = analytic, numeric_value
    return result


def _along(check: CompiledCheck, index: int, grad: np.ndarray, direction: np.ndarray, step: float,
           rtol: float, atol: float, scale: float) -> numeric.Comparison:
    value = check.base[index]

    def loss_along(t: float) -> float:
        return check.loss_with(index, (value + t * direction).astype(value.dtype, copy=False))

    return numeric.compare(float(np.sum(grad * direction)), loss_along, step, check.precision, rtol, atol, scale,
                           base_loss=check.loss_at_base())


def localise(check: CompiledCheck, index: int, grad: np.ndarray, direction: np.ndarray,
             failed: numeric.Comparison) -> tuple[int, float, float]:
    """The worst element of a tensor whose directional check failed: (flat index, analytic, numeric).

    Bisection: directional derivatives add up over disjoint blocks, so the error of one half is measured
    and the other's is the remainder of the failed comparison's; the half with the larger error is kept,
    down to one element: log2(n) probes instead of the 2n of an element-wise pass. The failure is already
    established (refined: see numeric.refine), so a level only has to rank two halves: in float64 one one-sided
    difference does (one evaluation); in float32 its round-off is too coarse and a level takes a central one.
    The element's numeric derivative is its analytic one plus its error over its direction component.
    """
    flat_direction = direction.reshape(-1)
    flat_grad = grad.reshape(-1)
    candidates = np.arange(flat_direction.size)
    error = failed.numeric - failed.analytic
    while candidates.size > 1:
        first, second = np.array_split(candidates, 2)
        first_error = _block_error(check, index, flat_grad, flat_direction, first, failed.step)
        second_error = error - first_error
        candidates, error = ((first, first_error) if abs(first_error) >= abs(second_error)
                             else (second, second_error))
    i = int(candidates[0])
    analytic = float(flat_grad[i])
    if abs(flat_direction[i]) < 1e-3:  # the estimate would divide by ~0: measure the element itself
        step = numeric.base_step(check.precision, abs(float(check.base[index].reshape(-1)[i])))
        element = _block_error(check, index, flat_grad, np.eye(1, flat_direction.size, i).reshape(-1),
                               candidates, step, central=True)
        return i, analytic, analytic + element
    return i, analytic, analytic + error / float(flat_direction[i])


def _block_error(check: CompiledCheck, index: int, flat_grad: np.ndarray, flat_direction: np.ndarray,
                 block: np.ndarray, step: float, central: bool = False) -> float:
    """numeric - analytic derivative along `flat_direction` restricted to `block`."""
    value = check.base[index]
    masked = np.zeros(flat_direction.size)
    masked[block] = flat_direction[block]
    masked = masked.reshape(value.shape)
    analytic = float(np.dot(flat_grad[block], flat_direction[block]))

    def loss_at(t: float) -> float:
        return check.loss_with(index, (value + t * masked).astype(value.dtype, copy=False))

    if check.precision == "float64" and not central:
        # sqrt(eps) balances a one-sided difference's truncation and round-off
        h = step * numeric.machine_eps(check.precision) ** (1.0 / 6.0)
        return (loss_at(h) - check.loss_at_base()) / h - analytic
    return (loss_at(step) - loss_at(-step)) / (2 * step) - analytic


def default_rtol(spec: ModelSpec) -> float:
    return spec.rtol if spec.rtol is not None else numeric.DEFAULT_RTOL[spec.precision]

