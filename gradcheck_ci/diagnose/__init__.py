"""The diagnosis stage: why analytic and numeric gradients differ, where, and proof by ablation.

    diagnose(context) -> list[Diagnosis]

Runs in the worker after the check of one model (worker.Context holds the built model, the objective, the
compiled check and the result). One module per cause, each with a stable code; their docstrings are the
documentation (docs/diagnosis.md summarises them):

    disconnected        a selected parameter has no path to the loss                 (always looked for)
    stochastic-forward  the checked forward pass draws random numbers                (always looked for)
    nan-or-inf          the loss or a gradient is not finite
    truncated-bptt      a recurrent layer backpropagates through its last k steps only   ablation: gradient_steps=-1
    gradient-clipping   a recurrent layer clips the backward message                  ablation: grad_clipping=False
    low-precision       float32 round-off; the check passes in float64                ablation: float64 worker
    non-differentiable  the probe sits on a kink (step sizes disagree)
    wrong-backward      none of the above: the layer whose backward pass is wrong

Order matters: causes that can be switched off are tried first, each ablation changing only its own cause;
the tensors an ablation fixes are "explained", and the general causes (a kink, a wrong backward pass) only
look at what is left. Correct models get no diagnosis; the ablations and probes run only when a tensor
fails, so a passing model costs one symbolic theano.grad and a walk over its graph.
"""
from __future__ import annotations

import os
import time
import traceback
from typing import Any

from ..results import Diagnosis
from . import (
    disconnected,
    gradient_clipping,
    low_precision,
    nan_or_inf,
    non_differentiable,
    stochastic_forward,
    truncated_bptt,
    wrong_backward,
)
from .ablation import Outcome, Suspect, recheck
from .low_precision import NO_DIAGNOSIS_ENV
from .session import Session

CODES = ("truncated-bptt", "gradient-clipping", "stochastic-forward", "non-differentiable", "low-precision",
         "nan-or-inf", "disconnected", "wrong-backward")

__all__ = ["CODES", "diagnose"]


def diagnose(context: Any) -> list[Diagnosis]:
    """Every cause found for this model's mismatch (or untrustworthy check); [] for a correct model."""
    if os.environ.get(NO_DIAGNOSIS_ENV):
        return []
    session = Session(context)
    found: list[Diagnosis] = []
    try:
        _run(session, found)
    except Exception as exc:  # noqa: BLE001 - a diagnosis bug must never cost the user the check's result
        context.result.extra["diagnosis_error"] = (f"{type(exc).__name__}: {exc}\n"
                                                   + traceback.format_exc(limit=-4))
    seconds = round(time.perf_counter() - session.started, 3)
    if session.failing or found:
        context.result.seconds["diagnosis"] = seconds
    return found


def _run(session: Session, found: list[Diagnosis]) -> None:
    import math

    result = session.result
    if result.loss_value is not None and not math.isfinite(result.loss_value):
        session.progress("the loss is not finite: locating the first NaN/Inf")
        found.extend(nan_or_inf.for_loss(session))
        return
    session.progress("looking for disconnected parameters and noise in the graph")
    found.extend(disconnected.detect(session))
    stochastic = stochastic_forward.detect(session)
    if stochastic is not None:
        found.append(stochastic)
    if not session.unexplained:
        return
    non_finite = [k for k in session.unexplained if not math.isfinite(session.param(k).max_abs_err)]
    if non_finite:
        found.extend(nan_or_inf.for_gradients(session, non_finite))
        session.explain(non_finite)
    if session.unexplained:
        found.extend(_graph_causes(session))
    if (session.unexplained and session.precision == "float32"
            and session.affordable("the float64 worker (low-precision)", session.rebuild_estimate() + 3.0)):
        outcome = low_precision.float64_outcome(session, list(session.unexplained))
        if outcome is not None and outcome.explained:
            found.append(low_precision.describe(session, outcome))
            session.explain(outcome.explained)
        elif outcome is not None:
            session.ruled_out.append(_ruled_out(session, "low-precision", None, outcome))
    if session.unexplained:
        try:
            found.extend(non_differentiable.detect(session, list(session.unexplained)))
        except Exception as exc:  # noqa: BLE001 - go on to the last resort
            result.extra["diagnosis_error"] = f"non-differentiable probe: {type(exc).__name__}: {exc}"
    if session.unexplained:
        try:
            found.extend(wrong_backward.detect(session, list(session.unexplained)))
        except Exception as exc:  # noqa: BLE001 - localisation could not run: say so, name the likeliest layer
            found.append(wrong_backward.unlocalised(session, list(session.unexplained), exc))
    _profiles(session, found)
    if session.skipped:
        result.extra["diagnosis_skipped"] = session.skipped


def _graph_causes(session: Session) -> list[Diagnosis]:
    """truncated-bptt and gradient-clipping: seen in the graph, each confirmed by its own ablation."""
    suspects: list[tuple[Any, Suspect]] = [(truncated_bptt, s) for s in truncated_bptt.suspects(session)]
    suspects += [(gradient_clipping, s) for s in gradient_clipping.suspects(session)]
    diagnoses: dict[int, Diagnosis] = {}
    tested: list[tuple[Any, Suspect, Outcome]] = []
    for module, suspect in suspects:
        if suspect.no_effect:
            session.ruled_out.append({"code": suspect.code, "layer": suspect.label, "why": suspect.no_effect})
            continue
        if suspect.changes is None and suspect.rewrite is None:  # cannot ablate: report it unconfirmed
            diagnoses[id(suspect)] = module.describe(session, suspect, None)
            session.explain(_upstream(session, suspect.layer))
            continue
        try:
            if not session.affordable(f"ablation {suspect.change} of {suspect.label}", session.rebuild_estimate()):
                raise TimeoutError("not enough of the model's timeout left")
            outcome = recheck(session, suspect.change, suspect.changes, indices=list(session.unexplained),
                              rewrite=suspect.rewrite, backward_only=True)
        except Exception as exc:  # noqa: BLE001 - the ablation could not run: report the suspect unconfirmed
            diagnosis = module.describe(session, suspect, None)
            diagnosis.evidence["ablation_not_run"] = f"{type(exc).__name__}: {exc}"
            diagnoses[id(suspect)] = diagnosis
            session.explain(_upstream(session, suspect.layer))
            continue
        tested.append((module, suspect, outcome))
        if outcome.explained or suspect.decisive:
            diagnoses[id(suspect)] = module.describe(session, suspect, outcome)
        else:
            session.ruled_out.append(_ruled_out(session, suspect.code, suspect.label, outcome))
    for _, _, outcome in tested:
        session.explain(outcome.explained)
    if len(tested) > 1 and not any(o.explained for _, _, o in tested) and session.unexplained:
        # Two causes in one layer (truncation and a zero clip) hide each other: switch them off together.
        changes = [c for _, s, _ in tested for c in s.changes or []]
        rewrites = [s.rewrite for _, s, _ in tested if s.rewrite is not None]

        def rewrite_all(loss: Any) -> Any:
            for rewrite in rewrites:
                loss = rewrite(loss)
            return loss

        joint = recheck(session, " and ".join(s.change for _, s, _ in tested), changes,
                        indices=list(session.unexplained), rewrite=rewrite_all if rewrites else None,
                        backward_only=True)
        if joint.explained:
            for module, suspect, outcome in tested:
                diagnosis = module.describe(session, suspect, outcome)
                diagnosis.evidence["joint_ablation"] = joint.evidence(session)
                diagnosis.message = diagnosis.message.rstrip(".") + (
                    f"; switched off together with the other suspects ({joint.change}), the mismatch "
                    f"{'disappears' if joint.confirmed else 'shrinks'}.")
                diagnoses[id(suspect)] = diagnosis
            tested_codes = {(s.code, s.label) for _, s, _ in tested}
            session.ruled_out = [r for r in session.ruled_out if (r.get("code"), r.get("layer")) not in tested_codes]
            session.explain(joint.explained)
    return list(diagnoses.values())


def _upstream(session: Session, layer: Any) -> list[int]:
    import lasagne

    feeding = {id(x) for x in lasagne.layers.get_all_layers(layer)}
    return [k for k in session.unexplained if id(session.model.params[k].layer) in feeding]


def _ruled_out(session: Session, code: str, label: str | None, outcome: Outcome) -> dict[str, Any]:
    before, after = outcome.worst(session)
    return {"code": code, "layer": label, "ablation": outcome.change, "max_abs_err_before": before,
            "max_abs_err_after": after, "why": "the mismatch did not change when it was switched off"}


def _profiles(session: Session, found: list[Diagnosis]) -> None:
    """Gradient-through-time profiles of the recurrent layers of a failing model (result.extra["profiles"])."""
    from ..profile import layer_profile

    recurrent = [n for n in session.structure.nodes if n.has_scan]
    if not recurrent or not session.failing:
        return
    evaluation = float(session.result.seconds.get("numeric", 0.0)) / max(session.result.evaluations, 1)
    estimate = len(recurrent) * 50 * 2 * evaluation + (0 if session._instrumented else session.rebuild_estimate())
    if not session.affordable("the gradient-through-time profile", estimate):
        return
    profiles = []
    for node in recurrent:
        try:
            profile = layer_profile(session, node)
        except Exception as exc:  # noqa: BLE001 - the profile is extra information
            profile = {"layer": node.label, "error": f"{type(exc).__name__}: {exc}"}
        if profile is None:
            continue
        profiles.append(profile)
        for diagnosis in found:
            if diagnosis.layer == node.label and "summary" in profile:
                diagnosis.evidence["profile"] = profile["summary"]
    if profiles:
        session.result.extra["profiles"] = profiles
