"""low-precision: float32 round-off, and how float32 checks are settled in float64.

Finite differences in float32 resolve little: the step is ~5e-3 and each loss evaluation is only
good to a few float32 ulps, so a float32 comparison often cannot judge a tensor (its line is not
smooth at that step, or its sensitivity stays above FLOAT32.target), and a disagreement it finds may
be round-off. The worker therefore settles every float32 tensor it could not settle itself
(`unsettled_in_float32`) before the verdict (`settle_in_float64`): a float64 worker (`python -m
gradcheck_ci.process.worker`, diagnosis off) checks those tensors again at the same point (the
float32 parameter values and data, exactly), and returns its analytic gradients there, and the
diagnosis of what it confirms failing (`localised_in_float64`: an error too small for float32 finite
differences is localised where it was seen, not blamed on the layer before). A graph that casts to
float32 inside (written for the GPU) is built with those casts made float64 (usercode/blame.py:
float32_inputs_as_float64). Per tensor (`settle`):

- float64 confirms a disagreement: it fails (the gradient is wrong, whatever the precision);
- float64 passes and the float32 gradient agrees with the float64 one within the float32 target
  (|g32 - g64| <= TARGET * |g64|): it passes, with a notice saying float32 could not resolve it;
- float64 passes but the float32 gradient is further off: it fails, and this cause explains it (the
  model's gradient is right; float32 round-off in the model's own computation makes it wrong, e.g. a
  cancellation in E[x^2] - E[x]^2);
- float64 cannot judge it, or the float64 worker cannot run: inconclusive (a float32 failure is
  never final without float64's word).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import tempfile
import time
from dataclasses import replace
from typing import Any

import numpy as np

from ..core.causes import BY_CODE, in_phase
from ..core.extra import Float64Outcome
from ..core.installation import child_command, child_environment
from ..core.results import Diagnosis, ModelResult, Notice, ParamResult, resolved
from ..engine.precision import FLOAT32
from .context import Context
from .session import Session, fmt, names

CODE = "low-precision"
FIX = BY_CODE[CODE].fix
NO_DIAGNOSIS_ENV = "GRADCHECK_CI_NO_DIAGNOSIS"
NOTICE_CODE = "float32-settled-in-float64"


def _escape(pattern: str) -> str:
    """A parameter id as an fnmatch pattern that matches only itself."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in pattern)


# ---------------------------------------------------------------- the rule


def unsettled_in_float32(params: list[ParamResult], target: float | None = None) -> list[int]:
    """Indices of the float32 tensors a float32 check did not settle: failing, inconclusive, or
    passing with a sensitivity worse than the float32 target (or none, while their gradient is not
    all zero)."""
    target = FLOAT32.target if target is None else target
    out = []
    for k, p in enumerate(params):
        if p.status in ("fail", "inconclusive"):
            out.append(k)
        elif p.status == "pass" and p.sensitivity is not None and p.sensitivity > target:
            out.append(k)
    return out


def agreement(g32: np.ndarray, g64: np.ndarray) -> float:
    """|g32 - g64| / |g64| (0 when both are zero)."""
    diff, norm = float(np.linalg.norm(g32 - g64)), float(np.linalg.norm(g64))
    if norm == 0:
        return 0.0 if diff == 0 else math.inf
    return diff / norm


# A tensor whose float64 gradient is below round-off (the loss hardly depends on it: a bias that a
# normalisation cancels) has nothing relative to compare: float32's value for it is round-off when
# it is within this many float32 ulps of the model's largest gradient.
ROUNDOFF_ULPS = 1e3


def settle(
    float32: list[ParamResult],
    float64: dict[int, ParamResult],
    g32: dict[int, np.ndarray],
    g64: dict[int, np.ndarray],
    allowed: float | None = None,
    scale: float = 0.0,
) -> tuple[list[ParamResult], dict[str, Any]]:
    """The float32 results after the float64 check of the tensors in `float64` (by index), with the
    flat analytic gradients of both precisions at the same point. Returns the new results and a
    summary (which tensors passed in float64, which float32 gets wrong, which float64 confirms).
    `scale`: the norm of the model's largest float32 gradient, what round-off is measured against
    for a tensor whose own gradient is below it (ROUNDOFF_ULPS)."""
    allowed = FLOAT32.target if allowed is None else allowed
    out = list(float32)
    summary: dict[str, Any] = {
        "passed": [],
        "float32_off": [],
        "confirmed": [],
        "undecided": [],
        "roundoff": [],
        "agreement": {},
    }
    for k, p64 in float64.items():
        p32 = float32[k]
        d = agreement(g32[k], g64[k])
        summary["agreement"][p32.id] = d
        settled_by = "checked again in float64 at the same point"
        if p64.status == "fail":
            out[k] = replace(p64, note=f"{settled_by}: float64 confirms the disagreement")
            summary["confirmed"].append(k)
        elif p64.status != "pass":
            out[k] = replace(
                p32, status="inconclusive", note=f"{settled_by}: float64 could not judge it either"
            )
            summary["undecided"].append(k)
        elif not resolved(p64.sensitivity) and float(np.linalg.norm(g32[k] - g64[k])) <= (
            ROUNDOFF_ULPS * float(np.finfo(np.float32).eps) * scale
        ):
            out[k] = replace(
                p64,
                note=f"{settled_by}: it passes, and its gradient is below round-off in float64 "
                f"too, where float32's ({fmt(float(np.linalg.norm(g32[k])))}) is round-off of the "
                f"model's gradients ({fmt(scale)}): nothing relative to compare",
            )
            summary["roundoff"].append(k)
        elif d <= allowed:
            sensitivity = max(p64.sensitivity, allowed) if p64.sensitivity is not None else None
            out[k] = replace(
                p64,
                sensitivity=sensitivity,
                note=f"{settled_by}: it passes, and the float32 gradient is within "
                f"{fmt(d)} "
                "(relative) of the float64 one",
            )
            summary["passed"].append(k)
        else:
            diff = g32[k] - g64[k]
            i = int(np.argmax(np.abs(diff)))
            shape = p32.shape
            index = [int(x) for x in np.unravel_index(i, shape)] if shape else []
            norm = float(np.linalg.norm(g64[k]))
            out[k] = replace(
                p64,
                status="fail",
                max_abs_err=float(np.linalg.norm(diff)),
                max_rel_err=d,
                tolerance=allowed * norm,
                worst_index=index,
                method=p64.method,
                analytic=float(g32[k][i]),
                numeric=float(g64[k][i]),
                note=f"{settled_by}: the gradient is right in float64, but float32 "
                f"computes it {fmt(d)} off (relative); `numeric` is the float64 "
                f"gradient there",
            )
            summary["float32_off"].append(k)
    return out, summary


def notice_for(params: list[ParamResult], summary: dict[str, Any]) -> Notice | None:
    passed = [params[k] for k in summary["passed"]]
    if not passed:
        return None
    worst = max(summary["agreement"][p.id] for p in passed)
    ids = [p.id for p in passed]
    first = passed[0]
    subject = "it was" if len(ids) == 1 else f"the {len(ids)} tensors were"
    return Notice(
        f"float32 cannot resolve {names(ids)} at this scale (finite differences in "
        f"float32 are too coarse for the stated sensitivity), so {subject} checked again "
        f"in float64 at the same point: {'they pass' if len(ids) != 1 else 'it passes'}, "
        f"and the float32 gradient is within {fmt(worst)} (relative) of the float64 one.",
        NOTICE_CODE,
        first.file,
        first.line,
    )


# ---------------------------------------------------------------- in the worker


def settle_in_float64(context: Context) -> None:
    """Settle the float32 tensors the float32 check left open (see the module docstring): updates
    context.result.params, adds a notice, and keeps the outcome in result.extra.float64."""
    result: ModelResult = context.result
    todo = unsettled_in_float32(result.params)
    if not todo or os.environ.get(NO_DIAGNOSIS_ENV):
        return
    context.progress(f"settling {len(todo)} float32 tensor(s) in float64 at the same point")
    started = time.perf_counter()
    left = (
        float(context.spec.timeout) * 0.9
        - float(result.seconds.get("compile", 0.0))
        - float(result.seconds.get("numeric", 0.0))
    )
    child, g64, why_not = float64_worker(context, todo, max(left, 5.0))
    seconds = round(time.perf_counter() - started, 3)
    result.seconds["float64"] = seconds
    if child is None:
        for k in todo:
            p = result.params[k]
            if p.status == "fail":
                result.params[k] = replace(
                    p,
                    status="inconclusive",
                    note="fails in float32, where round-off may explain it; "
                    "the float64 "
                    f"check that settles it could not run: {why_not}",
                )
            elif p.status == "inconclusive":
                result.params[k] = replace(
                    p,
                    note=f"{p.note}; the float64 check that settles what "
                    f"float32 cannot could not run: {why_not}",
                )
        result.extra.float64 = Float64Outcome(error=why_not, seconds=seconds)
        return
    before = {result.params[k].id: result.params[k].to_json() for k in todo}
    by_id = {p.id: p for p in child.params}
    float64 = {k: by_id[result.params[k].id] for k in todo if result.params[k].id in by_id}
    g32 = {k: context.analytic.grads[k].reshape(-1) for k in float64}
    g64_flat = {
        k: g64[result.params[k].id].reshape(-1) for k in float64 if result.params[k].id in g64
    }
    float64 = {k: v for k, v in float64.items() if k in g64_flat}
    allowed = max(FLOAT32.target, context.spec.rtol or 0.0)
    norms = [float(np.linalg.norm(g)) for g in context.analytic.grads]
    scale = max((n for n in norms if math.isfinite(n)), default=0.0)
    params, summary = settle(result.params, float64, g32, g64_flat, allowed, scale)
    result.params = params
    notice = notice_for(params, summary)
    if notice is not None:
        result.notices.append(notice)
    outcome = Float64Outcome(
        tensors=[result.params[k].id for k in float64],
        seconds=seconds,
        agreement=summary["agreement"],
        float32_off=[params[k].id for k in summary["float32_off"]],
        confirmed=[params[k].id for k in summary["confirmed"]],
        float32=before,
    )
    # what float64 confirms, it has diagnosed: taken over by localised_in_float64
    if summary["confirmed"]:
        # the float32 worker looks for those itself
        own = {cause.code for cause in in_phase("always")}
        outcome.diagnoses = [d.to_json() for d in child.diagnoses if d.code not in own]
    result.extra.float64 = outcome


def float64_worker(
    context: Context, indices: list[int], timeout: float
) -> tuple[ModelResult | None, dict[str, Any], str]:
    """The check of `indices` in a float64 worker at the float32 check's point; (its result, its
    analytic gradients by parameter id, ""), or (None, {}, why) when it cannot run (the worker's own
    error when it reports one: a model that does not build in float64)."""
    model = context.model
    spec = context.spec.to_json()
    spec.update(
        precision="float64",
        params=[_escape(model.params[k].id) for k in indices],
        # its diagnosis keeps within what is left
        mode=context.result.mode,
        timeout=timeout,
    )
    with tempfile.TemporaryDirectory(prefix="gradcheck-ci-f64-") as tmp:
        job, out = os.path.join(tmp, "job.json"), os.path.join(tmp, "result.json")
        point, dump = os.path.join(tmp, "point.npz"), os.path.join(tmp, "grads.npz")
        arrays = {f"param:{p.id}": np.asarray(p.variable.get_value()) for p in model.all_params}
        for k, p in enumerate(model.params):
            arrays[f"param:{p.id}"] = context.compiled.base[k]
        arrays.update({f"data:{i}": value for i, value in enumerate(context.compiled.data)})
        np.savez(point, **arrays)
        with open(job, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "spec": spec,
                    "root": context.root,
                    "config_file": context.config_file,
                    "point": point,
                    "dump": dump,
                },
                handle,
            )
        env = {k: v for k, v in os.environ.items() if k != "GRADCHECK_EVENT_FD"}
        child_environment(env, context.root)
        try:
            subprocess.run(
                child_command("gradcheck_ci.process.worker", job, out),
                cwd=context.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None, {}, f"it ran out of time ({timeout:.0f} s)"
        if not os.path.exists(out):
            return None, {}, "the float64 worker did not return a result"
        with open(out, encoding="utf-8") as handle:
            child = ModelResult.from_json(json.load(handle))
        if child.error is not None:
            return None, {}, child.error.message
        if child.status == "error" or not os.path.exists(dump):
            return None, {}, "the float64 worker did not return its gradients"
        with np.load(dump) as grads:
            g64 = {name[len("grad:") :]: np.asarray(grads[name]) for name in grads.files}
    return child, g64, ""


# ---------------------------------------------------------------- the diagnosis of what float64
# confirms


def localised_in_float64(session: Session) -> list[Diagnosis]:
    """The float64 check's diagnosis of the tensors it confirmed failing, which it explains: float32
    finite differences may not see the error at all, so a layer-by-layer localisation in float32
    would blame the layer below the wrong one. [] when float64 confirmed nothing or could not say
    why."""
    outcome = session.result.extra.float64 or Float64Outcome()
    found = [Diagnosis(**d) for d in outcome.diagnoses or []]
    outcome.diagnoses = None  # taken over: not kept twice
    confirmed = [
        k for k in session.unexplained if session.model.params[k].id in (outcome.confirmed or [])
    ]
    if not found or not confirmed:
        return []
    session.explain(confirmed)
    where = (
        "Localised by the float64 check that settled the verdict: float32 finite differences "
        "cannot see it."
    )
    return [
        replace(
            d,
            message=f"{d.message.rstrip('.')}. {where}",
            evidence={**d.evidence, "precision": "float64"},
        )
        for d in found
    ]


# ---------------------------------------------------------------- the cause


def find(session: Session) -> list[Diagnosis]:
    """The failing float32 tensors whose gradient float64 finds right but float32 computes wrong."""
    outcome = session.result.extra.float64 or Float64Outcome()
    off = [
        k for k in session.unexplained if session.model.params[k].id in (outcome.float32_off or [])
    ]
    confirmed = [
        k for k in session.unexplained if session.model.params[k].id in (outcome.confirmed or [])
    ]
    if confirmed:
        session.ruled_out.append(
            {
                "code": CODE,
                "layer": None,
                "ablation": "precision=float64",
                "why": "the same check in float64 fails too",
            }
        )
    if not off:
        return []
    ids = session.tensor_ids(off)
    agreement = outcome.agreement or {}
    worst = max(off, key=lambda k: agreement.get(session.model.params[k].id, 0.0))
    info = session.model.params[worst]
    d = agreement.get(info.id, 0.0)
    message = (
        f"float32 round-off makes the gradient of {names(ids)} wrong: checked again in "
        f"float64 at the same point, the gradient agrees with finite differences, but "
        f"float32 computes it {fmt(d)} off "
        "(relative), more than the float32 target allows"
    )
    evidence = {
        "ablation": "precision=float64",
        "agreement": agreement,
        "explained": ids,
        "float64_seconds": outcome.seconds,
    }
    session.explain(off)
    return [
        session.diagnosis(
            CODE, message + ".", FIX, session.layer_fields(info.layer), True, evidence
        )
    ]
