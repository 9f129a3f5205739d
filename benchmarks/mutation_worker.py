"""One case of the mutation benchmark, in a process of its own (Theano's floatX is per process):

    python -m benchmarks.mutation_worker JOB.json OUT.json

The model is compiled once; each seed then draws new parameters (the factory again, seeded) and new
data, and passes them to the same compiled functions, as the check would at that seed. The injected
error's size is the shared variable `ERROR` of benchmarks/suite/models/mutation.py, so no size costs
a compile either.

For each seed: the correct model (ERROR = 0) is checked, and for each error size the error is
calibrated (`calibrate`) and the model checked again. A float32 check that leaves tensors unsettled
(failing, not judged, or below the float32 target sensitivity) hands them to the float64 stage, as
the product does (gradcheck_ci/diagnose/low_precision.py): the points are written to OUT.npz and
`--float64` runs them.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import sys
import time
from typing import Any

import numpy as np

ROOT = "benchmarks/suite"
CONFIG = "mutation.yml"  # no such file: the name messages would use


def build(job: dict[str, Any], precision: str) -> tuple[Any, Any, Any, Any, Any]:
    from gradcheck_ci.config import DataSpec, ModelSpec
    from gradcheck_ci.platform import compat

    compat.prepare(precision)
    try:
        from gradcheck_ci.engine.compile import compile_check
    except ImportError:  # an engine from before compile.py (a before/after comparison)
        from gradcheck_ci.engine.check import compile_check  # type: ignore[attr-defined,no-redef]
    from gradcheck_ci.model.build import build_model
    from gradcheck_ci.model.objective import build_objective

    spec = ModelSpec(
        name=job["name"],
        factory=job["factory"],
        kwargs=dict(job["kwargs"]),
        data=DataSpec(**job["data"]),
        precision=precision,
        seed=0,
    )
    model = build_model(spec, job["root"], CONFIG)
    objective = build_objective(model, spec, job["root"], CONFIG)
    compiled = compile_check(model, objective, spec, lambda message: None, job["root"], CONFIG)
    error = next((v for v in compiled.grad_fn.get_shared() if v.name == "injected_error"), None)
    return spec, model, objective, compiled, error


def at_seed(
    job: dict[str, Any], spec: Any, model: Any, objective: Any, compiled: Any, seed: int
) -> tuple[Any, Any]:
    """The check's inputs at `seed`: parameters as the factory initialises them, data as the check
    draws them."""
    from gradcheck_ci.engine import check, evaluation
    from gradcheck_ci.model import data as model_data
    from gradcheck_ci.model.build import build_model

    spec = dataclasses.replace(spec, seed=seed)
    fresh = build_model(spec, job["root"], CONFIG)
    base = [np.asarray(p.variable.get_value()) for p in fresh.params]
    if hasattr(model_data, "check_data"):
        data = model_data.check_data(
            model, objective.prediction, objective.target_kind, spec, CONFIG
        )
    elif hasattr(check, "check_data"):  # an engine that drew the data itself
        draw: Any = check.check_data  # its older signature
        data = draw(model, objective, spec, CONFIG)
    # an engine from before check_data (a before/after comparison): draw the data as compile_check
    # did
    else:
        data = compiled_data_before(check, model, objective, spec)
    return spec, evaluation.CompiledCheck(
        compiled.grad_fn, compiled.loss_fn, data, base, spec.precision
    )


def compiled_data_before(check: Any, model: Any, objective: Any, spec: Any) -> list[np.ndarray]:
    from gradcheck_ci.model.data import make_inputs, make_targets

    rng = np.random.RandomState(spec.seed)
    data = make_inputs(model, spec.data, rng, spec.precision)
    rows, units = check._prediction_shape(model, objective, data)  # the older engine's own helper
    data.append(make_targets(objective.target_kind, rows, units, spec.data, rng, spec.precision))
    return data


def gradients(view: Any) -> list[np.ndarray]:
    _, *grads = view.grad_fn(*view.data, *view.base)
    return [np.asarray(g, dtype="float64") for g in grads]


def relative_sizes(wrong: list[np.ndarray], right: list[np.ndarray]) -> list[float]:
    """|e_k| / |g_k| per tensor (0 where the gradient is 0 and the error too)."""
    out = []
    for w, r in zip(wrong, right, strict=True):
        e, g = float(np.linalg.norm(w - r)), float(np.linalg.norm(r))
        out.append(e / g if g > 0 else (0.0 if e == 0 else float("inf")))
    return out


def calibrate(view: Any, error: Any, right: list[np.ndarray], size: float) -> float:
    """Set ERROR so that the most affected tensor's relative error |e|/|g| is `size` (within 2%);
    returns the size reached. The effect is linear in ERROR except inside a recurrence
    (compounding): a few secant steps."""
    d = 1e-3
    for _ in range(6):
        error.set_value(np.asarray(d, dtype=error.dtype))
        reached = max(relative_sizes(gradients(view), right))
        if reached == 0 or not np.isfinite(reached):
            return reached
        if abs(reached / size - 1) < 0.02:
            return reached
        d *= size / reached
    return reached


def check_once(view: Any, model: Any, spec: Any) -> tuple[list[Any], float, float]:
    """The engine's check at the view's point: (results, seconds, evaluations)."""
    from gradcheck_ci.engine import check

    grads = check.analytic(view)
    view.base_loss = None
    view.loss_at_base()
    view.evaluations = 0
    started = time.perf_counter()
    results = check_tensors(view, model, grads.grads, range(len(model.params)), spec)
    params = [results[k] for k in range(len(model.params))]
    return params, time.perf_counter() - started, view.evaluations


def replay_once(
    view: Any, model: Any, spec: Any, params: list[Any], floor: float | None
) -> dict[str, Any]:
    """The same check again from the same start, replaying the record of the one just made, as the
    next run of an unchanged check does (engine/remembered.py): whether every number is the same
    (the evaluations aside), and its evaluations."""
    record = view.record
    view.replay, view.noise_floor = record, floor
    again, _, evaluations = check_once(view, model, spec)
    view.replay = None

    def numbers(results: list[Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in p.to_json().items() if k != "evaluations"} for p in results]

    return {"identical": numbers(again) == numbers(params), "evaluations": evaluations}


def check_tensors(view: Any, model: Any, grads: Any, tensors: Any, spec: Any) -> Any:
    """check.check_selected as the check runs it: its settings resolved from `spec` (on an engine
    from before settings.py, a before/after comparison: the spec and the numbers themselves)."""
    from gradcheck_ci.engine import check

    try:
        from gradcheck_ci.engine.settings import settings_of
    except ImportError:
        older: Any = check
        mode, rtol = older.resolve_mode(spec, []), older.default_rtol(spec)
        after = older.check_selected(
            view, model, grads, tensors, spec, mode, rtol, spec.atol or 0.0
        )
    else:
        after = check.check_selected(view, model, grads, tensors, settings_of(spec))
    return after


def model_status(params: list[Any]) -> str:
    statuses = {p.status for p in params}
    return (
        "fail" if "fail" in statuses else ("inconclusive" if "inconclusive" in statuses else "pass")
    )


def unsettled(params: list[Any]) -> list[int]:
    try:
        from gradcheck_ci.diagnose.low_precision import unsettled_in_float32
    except ImportError:  # an engine from before the float64 settling: the float32 verdict is final
        return []
    return unsettled_in_float32(params)


def run(job: dict[str, Any]) -> dict[str, Any]:
    spec, model, objective, compiled, error = build(job, job["precision"])
    outcomes: list[dict[str, Any]] = []
    points: dict[str, np.ndarray] = {}
    grad_seconds: list[float] = []
    for seed in job["seeds"]:
        seed_spec, view = at_seed(job, spec, model, objective, compiled, seed)
        if error is not None:
            error.set_value(np.asarray(0.0, dtype=error.dtype))
        right = gradients(view)
        started = time.perf_counter()
        gradients(view)
        grad_seconds.append(time.perf_counter() - started)
        sizes = [None] + (list(job["sizes"]) if error is not None else [])
        for size in sizes:
            reached = 0.0
            if size is not None:
                reached = calibrate(view, error, right, size)
            floor = getattr(view, "noise_floor", None)  # what the check starts from
            params, seconds, evaluations = check_once(view, model, seed_spec)
            outcome = {
                "seed": seed,
                "size": size,
                "reached": reached,
                "status": model_status(params),
                "seconds": seconds,
                "evaluations": evaluations,
                "sensitivity": max(
                    (p.sensitivity for p in params if getattr(p, "sensitivity", None) is not None),
                    default=None,
                ),
                "failing": [p.id for p in params if p.status == "fail"],
            }
            if job.get("replay"):
                outcome["replay"] = replay_once(view, model, seed_spec, params, floor)
            if job["precision"] == "float32":
                todo = unsettled(params)
                if todo:
                    key = f"p{len(outcomes)}"
                    outcome["float64"] = {
                        "key": key,
                        "tensors": todo,
                        "float32": [p.to_json() for p in params],
                    }
                    for k, value in enumerate(view.base):
                        points[f"{key}_param{k}"] = value
                    for i, value in enumerate(view.data):
                        points[f"{key}_data{i}"] = value
                    points[f"{key}_grad32"] = np.concatenate(
                        [g.reshape(-1) for g in gradients(view)]
                    )
                    points[f"{key}_error"] = np.asarray(
                        float(error.get_value()) if error is not None else 0.0
                    )
            outcomes.append(outcome)
        if error is not None:
            error.set_value(np.asarray(0.0, dtype=error.dtype))
    import lasagne

    return {
        "name": job["name"],
        "precision": job["precision"],
        "outcomes": outcomes,
        "one_gradient_seconds": statistics.median(grad_seconds) if grad_seconds else None,
        "points": points,
        "lasagne_version": lasagne.__version__,
    }  # the stack it really ran on


def run_float64(job: dict[str, Any], result: dict[str, Any], points: Any) -> None:
    """The float64 stage of a float32 case: each unsettled point checked again in float64 at the
    same values and data, and settled by the product's rule (low_precision.settle)."""
    from gradcheck_ci.core.results import ParamResult

    spec, model, objective, compiled, error = build(job, "float64")
    from gradcheck_ci.diagnose.low_precision import settle
    from gradcheck_ci.engine import check, evaluation

    for outcome in result["outcomes"]:
        stage = outcome.get("float64")
        if not stage:
            continue
        key = stage["key"]
        base = [
            np.asarray(points[f"{key}_param{k}"], dtype="float64") for k in range(len(model.params))
        ]
        data = [np.asarray(points[f"{key}_data{i}"]) for i in range(len(compiled.data))]
        data = [d.astype("float64") if d.dtype.kind == "f" else d for d in data]
        view = evaluation.CompiledCheck(compiled.grad_fn, compiled.loss_fn, data, base, "float64")
        if error is not None:
            error.set_value(np.asarray(float(points[f"{key}_error"]), dtype=error.dtype))
        grads = check.analytic(view)
        view.loss_at_base()
        seed_spec = dataclasses.replace(spec, seed=outcome["seed"])
        tensors = stage["tensors"]
        after = check_tensors(view, model, grads.grads, tensors, seed_spec)
        shapes = [g.size for g in grads.grads]
        flat32 = np.asarray(points[f"{key}_grad32"])
        offsets = np.cumsum([0] + shapes)
        g32 = {k: flat32[offsets[k] : offsets[k + 1]] for k in tensors}
        g64 = {k: grads.grads[k].reshape(-1) for k in tensors}
        float32 = [ParamResult(**p) for p in stage["float32"]]
        settled, _ = settle(float32, {k: after[k] for k in tensors}, g32, g64)
        outcome["float32_status"] = outcome["status"]
        outcome["status"] = model_status(settled)
        outcome["failing"] = [p.id for p in settled if p.status == "fail"]
        outcome["evaluations64"] = view.evaluations


def main(argv: list[str]) -> int:
    mode = "float64" if argv and argv[0] == "--float64" else "case"
    if mode == "float64":
        argv = argv[1:]
    job_path, out_path = argv
    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    if mode == "case":
        result = run(job)
        points = result.pop("points")
        if points:
            np.savez(out_path + ".npz", **points)
    else:
        with open(out_path, encoding="utf-8") as handle:
            result = json.load(handle)
        with np.load(out_path + ".npz") as points:
            run_float64(job, result, points)
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
