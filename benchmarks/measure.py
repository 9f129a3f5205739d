"""Measure one model in this process (run by benchmarks.run, one process per model like the real
check).

    python -m benchmarks.measure JOB.json OUT.json

Everything is measured in one run on the same compiled functions and the same data, so the ratios
are comparable even on a noisy machine: one analytic gradient evaluation (median of several), one
loss evaluation, our numeric check, and the plain per-element central-difference method.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time

PLAIN_BUDGET_SECONDS = (
    30.0  # the plain method runs this long at most, then is extrapolated (and says so)
)


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def plain_method(compiled, precision: str) -> dict:
    """Perturb every element of every tensor, two loss evaluations each, one fixed relative step."""

    from gradcheck_ci.engine import numeric

    total = sum(v.size for v in compiled.base)
    done = 0
    started = time.perf_counter()
    deadline = started + PLAIN_BUDGET_SECONDS
    for index, value in enumerate(compiled.base):
        flat = value.reshape(-1)
        for i in range(flat.size):
            if time.perf_counter() > deadline:
                break
            step = numeric.base_step(precision, abs(float(flat[i])))
            probe = flat.copy()
            probe[i] += step
            compiled.loss_with(index, probe.reshape(value.shape))
            probe[i] = flat[i] - step
            compiled.loss_with(index, probe.reshape(value.shape))
            done += 1
    seconds = time.perf_counter() - started
    extrapolated = done < total
    return {
        "elements": total,
        "elements_run": done,
        "evaluations": 2 * total,
        "seconds": seconds * total / max(done, 1),
        "measured_seconds": seconds,
        "extrapolated": extrapolated,
    }


def measure(job: dict) -> dict:
    from gradcheck_ci.config import ModelSpec
    from gradcheck_ci.platform import compat

    spec = ModelSpec.from_json(job["spec"])
    compat.prepare(spec.precision)
    from gradcheck_ci.engine import check
    from gradcheck_ci.engine.compile import compile_check
    from gradcheck_ci.engine.settings import settings_of
    from gradcheck_ci.model.build import build_model
    from gradcheck_ci.model.objective import build_objective

    def quiet(message: str) -> None:
        pass

    from gradcheck_ci.platform import fncache

    started = time.perf_counter()
    model = build_model(spec, job["root"], job["config_file"])
    objective = build_objective(model, spec, job["root"], job["config_file"])
    compiled = compile_check(model, objective, spec, quiet, job["root"], job["config_file"])
    compile_seconds = time.perf_counter() - started
    cache = fncache.summary(fncache.EVENTS)
    if job.get("compile_only"):
        return {
            "name": spec.name,
            "compile_seconds": compile_seconds,
            "function_cache": cache.cache,
            "theano_seconds": compiled.seconds["compile"],
        }

    settings = settings_of(spec)
    mode = settings.mode
    grads = check.analytic(compiled)  # also warms the functions up
    compiled.choose_probe_function(grads.seconds)  # as the real check does
    repeat = job.get("repeat", 5)
    grad_seconds = median_seconds(lambda: compiled.grad_fn(*compiled.data, *compiled.base), repeat)
    loss_seconds = median_seconds(
        lambda: compiled.loss(compiled.base), repeat
    )  # the probe function

    compiled.evaluations = 0
    started = time.perf_counter()
    grads = check.analytic(compiled)
    analytic_seconds = time.perf_counter() - started
    # The check is deterministic (same probes every time): its median over a few runs, like the
    # gradient's, keeps one noisy moment on a shared machine from deciding the ratio. Measured as a
    # first run (nothing remembered) and as the next run of the unchanged check, which replays the
    # first run's record as the worker does (engine/remembered.py).
    from gradcheck_ci.engine import remembered

    def numeric_run(replay) -> tuple[float, int, list]:
        compiled.evaluations = 0
        compiled.noise_floor, compiled.replay = None, replay
        started = time.perf_counter()
        params = check.check_all(compiled, model, grads, settings, quiet)
        return time.perf_counter() - started, compiled.evaluations, params

    first_runs = [numeric_run(None) for _ in range(job.get("numeric_repeat", 3))]
    record = compiled.record
    replay = record if record is not None and remembered.saves(record) else None
    repeat_runs = [numeric_run(replay) for _ in range(job.get("numeric_repeat", 3))]
    numeric_first = statistics.median(seconds for seconds, _, _ in first_runs)
    numeric_seconds = statistics.median(seconds for seconds, _, _ in repeat_runs)
    evaluations_first, evaluations = first_runs[-1][1], repeat_runs[-1][1]
    params = repeat_runs[-1][2]
    failing = [p.id for p in params if p.status == "fail"]

    def numbers(results: list) -> list[dict]:
        return [{k: v for k, v in p.to_json().items() if k != "evaluations"} for p in results]

    if numbers(first_runs[-1][2]) != numbers(params):
        failing.append("(the repeat run's numbers differ from the first run's!)")

    plain = plain_method(compiled, spec.precision) if job.get("plain", True) else None
    ours = analytic_seconds + numeric_seconds
    return {
        "name": spec.name,
        "parameters": int(sum(v.size for v in compiled.base)),
        "tensors": len(params),
        "mode": mode,
        "probe_function": "loss+gradient" if compiled.probe_with_gradient else "loss",
        "evaluations": evaluations,
        "evaluations_first_run": evaluations_first,
        "seconds": {
            "compile": compile_seconds,
            "analytic": analytic_seconds,
            "numeric": numeric_seconds,
            "total": compile_seconds + ours,
        },
        "function_cache": cache.cache,
        "one_gradient_seconds": grad_seconds,
        "one_loss_seconds": loss_seconds,
        "ratio_numeric_over_gradient": numeric_seconds / grad_seconds,
        "ratio_first_run": numeric_first / grad_seconds,
        "plain": plain,
        "ratio_ours_over_plain": ours / (grad_seconds + plain["seconds"]) if plain else None,
        "peak_memory_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "status": "fail" if failing else "pass",
        "failing": failing,
        "expect": spec.expect,
    }


def main(argv: list[str]) -> int:
    job_path, out_path = argv
    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    result = measure(job)
    with open(out_path, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
