"""low-precision: float32 round-off explains the difference.

Ablation: the same model, data, seed and mode are checked again in float64, with only the tensors that
failed selected. Theano's floatX is fixed per process, so this runs a child worker (`python -m
gradcheck_ci.worker`, as the runner does) with diagnosis switched off. The cause is confirmed when every
tensor that failed in float32 passes in float64; when they fail in float64 too, round-off is ruled out and
the other causes are examined (in float32).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from ..causes import BY_CODE
from ..results import Diagnosis, ModelResult
from .ablation import Outcome
from .session import Session, fmt, names

CODE = "low-precision"
FIX = BY_CODE[CODE].fix
NO_DIAGNOSIS_ENV = "GRADCHECK_CI_NO_DIAGNOSIS"


def _escape(pattern: str) -> str:
    """A parameter id as an fnmatch pattern that matches only itself."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in pattern)


def find(session: Session) -> list[Diagnosis]:
    """Check the unexplained tensors again in float64; round-off is the cause when they pass there."""
    if not session.affordable("the float64 worker (low-precision)", session.rebuild_estimate() + 3.0):
        return []
    outcome = float64_outcome(session, list(session.unexplained))
    if outcome is None:
        return []
    if not outcome.explained:
        session.ruled_out.append(outcome.ruled_out(session, CODE, None))
        return []
    diagnosis = describe(session, outcome)
    session.explain(outcome.explained)
    return [diagnosis]


def float64_outcome(session: Session, indices: list[int]) -> Outcome | None:
    spec = session.spec.to_json()
    spec.update(precision="float64", params=[_escape(session.model.params[k].id) for k in indices],
                mode=session.mode, rtol=None if session.spec.rtol is None else session.spec.rtol)
    started = time.perf_counter()
    session.progress("ablation precision=float64: checking the failing tensors in a float64 worker")
    with tempfile.TemporaryDirectory(prefix="gradcheck-ci-diag-") as tmp:
        job, out = os.path.join(tmp, "job.json"), os.path.join(tmp, "result.json")
        with open(job, "w", encoding="utf-8") as handle:
            json.dump({"spec": spec, "root": session.context.root, "config_file": session.context.config_file}, handle)
        env = {k: v for k, v in os.environ.items() if k != "GRADCHECK_EVENT_FD"}
        env[NO_DIAGNOSIS_ENV] = "1"
        package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
        try:
            subprocess.run([sys.executable, "-m", "gradcheck_ci.worker", job, out], cwd=session.context.root,
                           env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=max(session.left(), 1.0), check=False)
        except subprocess.TimeoutExpired:
            return None
        if not os.path.exists(out):
            return None
        with open(out, encoding="utf-8") as handle:
            child = ModelResult.from_json(json.load(handle))
    if child.error is not None or child.status == "error":
        return None
    by_id = {p.id: p for p in child.params}
    after = {k: by_id[session.model.params[k].id] for k in indices if session.model.params[k].id in by_id}
    outcome = Outcome("precision=float64", list(indices), after, time.perf_counter() - started)
    outcome.extra["float64_seconds"] = child.seconds
    return outcome


def describe(session: Session, outcome: Outcome) -> Diagnosis:
    ids = session.tensor_ids(outcome.tested)
    before, after = outcome.worst(session)
    worst = max(outcome.tested, key=lambda k: session.param(k).max_abs_err / max(session.param(k).tolerance, 1e-300))
    info = session.model.params[worst]
    message = (f"float32 round-off explains the difference: {names(ids)} fail in float32 but pass when the same "
               f"check runs in float64 (max error {fmt(before)} -> {fmt(after)}); the model's gradient is right, "
               "float32 cannot resolve it at this scale")
    evidence: dict[str, Any] = outcome.evidence(session)
    return session.diagnosis(CODE, message + ".", FIX, session.layer_fields(info.layer), outcome.confirmed, evidence)
