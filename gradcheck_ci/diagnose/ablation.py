"""Confirmation by ablation: rebuild with exactly one change, re-check the failing tensors, compare.

A cause is `confirmed` only when its ablation ran and every tensor that failed passes afterwards;
when the ablation ran and some still fail, it is `confirmed: false`. The re-check uses the engine's
own comparison (check.check_tensor) on the same synthetic data, the same parameter values and the
same probe directions, so "before" and "after" differ only by the change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..core.results import Diagnosis, ParamResult
from ..engine import check, evaluation
from ..engine.compile import compile_functions, gradient_graph
from .session import Session, attributes, fmt, names, param_evidence, verb


@dataclass
class Outcome:
    change: str  # what was switched off, in the user's terms ("gradient_steps=-1")
    tested: list[int]  # indices of the tensors re-checked (those failing before)
    after: dict[int, ParamResult]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)  # more evidence, JSON-able
    compiled: Any = None  # the rebuilt evaluation.CompiledCheck, for causes that probe further

    @property
    def explained(self) -> list[int]:
        return [
            k
            for k in self.tested
            if self.after.get(k) is not None and self.after[k].status == "pass"
        ]

    @property
    def still_failing(self) -> list[int]:
        return [k for k in self.tested if k not in self.explained]

    @property
    def confirmed(self) -> bool:
        return bool(self.tested) and not self.still_failing

    def evidence(self, session: Session) -> dict[str, Any]:
        ids = {k: session.model.params[k].id for k in self.tested}
        before = {ids[k]: param_evidence(session.param(k)) for k in self.tested}
        after = {ids[k]: param_evidence(self.after[k]) for k in self.tested if k in self.after}
        return {
            "ablation": self.change,
            "before": before,
            "after": after,
            "explained": [ids[k] for k in self.explained],
            "still_failing": [ids[k] for k in self.still_failing],
            "ablation_seconds": round(self.seconds, 3),
            **self.extra,
        }

    def worst(self, session: Session) -> tuple[float, float]:
        """Largest error before and after (over the tested tensors; a tensor that passed with its
        band has no error of its own: 0)."""
        before = max((session.param(k).max_abs_err or 0.0 for k in self.tested), default=0.0)
        after = max(
            (self.after[k].max_abs_err or 0.0 for k in self.tested if k in self.after), default=0.0
        )
        return before, after

    def ruled_out(self, session: Session, code: str, label: str | None) -> dict[str, Any]:
        """The entry for session.ruled_out when this ablation ran and the mismatch stayed."""
        before, after = self.worst(session)
        return {
            "code": code,
            "layer": label,
            "ablation": self.change,
            "max_abs_err_before": before,
            "max_abs_err_after": after,
            "why": "the mismatch did not change when it was switched off",
        }


def after_text(after: float) -> str:
    """The largest error after an ablation, in words: tensors that passed with their band have none
    of their own (0 here), so "every comparison within tolerance" says what is known."""
    return f"{fmt(after)} after" if after > 0 else "every comparison within tolerance after"


def agree_text(before: float, after: float) -> str:
    """'(max error 0.03 before, ... after)': the mismatch's size before the ablation and after. No
    error before (0 here) means the tensors were not judged at all (inconclusive), and says so."""
    said = "no comparison could judge them before"
    if before > 0:
        said = f"max error {fmt(before)} before"
    return f"({said}, {after_text(after)})"


def verdict_sentence(session: Session, outcome: Outcome | None, change: str) -> str:
    """The end of a diagnosis message: what the ablation did to the mismatch ("." when it did not
    run). The ablation is the outcome's own (a joint one names every layer), else `change`."""
    if outcome is None:
        return "."
    change = outcome.change or change
    before, after = outcome.worst(session)
    if outcome.confirmed:
        return f". Rebuilt with {change}, the gradients agree {agree_text(before, after)}."
    fixed = session.tensor_ids(outcome.explained)
    left = session.tensor_ids(outcome.still_failing)
    return (
        f". Rebuilt with {change}: {names(fixed)} {verb(len(fixed), 'agrees', 'agree')} but "
        f"{names(left)} still {verb(len(left), 'differs', 'differ')}, so something else is "
        f"wrong too."
    )


def recheck(
    session: Session,
    change: str,
    changes: list[tuple[Any, str, Any]] | None = None,
    freeze: bool | None = None,
    indices: list[int] | None = None,
    rewrite: Callable[[Any], Any] | None = None,
    backward_only: bool = False,
    statuses_only: bool = False,
) -> Outcome:
    """Rebuild the objective with `changes` applied, recompile, and re-check `indices` (default:
    failing). `statuses_only`: only which tensors fail is asked for, so a failing tensor's worst
    element is not looked for.

    `rewrite` (loss -> loss) changes the rebuilt graph itself, for causes no layer attribute
    controls. `backward_only`: the change leaves the forward pass as it is (truncation, clipping),
    so the check's forward-only function serves the probes and only the gradient function is
    compiled again.
    """
    from ..model.objective import build_objective

    indices = list(session.failing if indices is None else indices)
    freeze = session.frozen if freeze is None else freeze
    started = time.perf_counter()
    context = session.context
    with attributes(changes or []):
        objective = build_objective(session.model, session.spec, context.root, context.config_file)
        if rewrite is not None:
            objective = replace(objective, loss=rewrite(objective.loss))
        session.progress(f"ablation {change}: compiling")
        compiled = compile_like_check(
            session, objective, freeze, backward_only and freeze == session.frozen
        )
    session.progress(f"ablation {change}: re-checking {len(indices)} tensor(s)")
    grads = check.analytic(compiled)
    settings = replace(session.settings, localise=False) if statuses_only else session.settings
    after = check.check_selected(compiled, session.model, grads.grads, indices, settings)
    # loss evaluations of the re-check (the check's values it read are not counted)
    extra = {"ablation_evaluations": compiled.evaluations}
    return Outcome(change, indices, after, time.perf_counter() - started, extra, compiled)


def compile_like_check(
    session: Session, objective: Any, freeze: bool, backward_only: bool = False
) -> evaluation.CompiledCheck:
    """compile.compile_check (engine/compile.py) for a rebuilt objective, on the check's own data
    and parameter values."""
    graph = gradient_graph(session.model, objective)
    reused = session.compiled.loss_fn if backward_only else None
    grad_fn, loss_fn, seconds = compile_functions(graph, freeze, loss_fn=reused)
    compiled = evaluation.CompiledCheck(
        grad_fn,
        loss_fn,
        session.compiled.data,
        session.compiled.base,
        session.precision,
        seconds={"compile": seconds},
    )
    if backward_only and not session.compiled.probe_with_gradient:
        compiled.base_loss = session.compiled.base_loss  # the same function at the same point,
        compiled.noise_floor = session.compiled.noise_floor  # with the same round-off
        # and the same values along the check's lines, which the re-check probes again
        compiled.reused_values = session.compiled.line_values
        compiled.reused_plan = session.compiled.plan
        compiled.evaluation_seconds = session.compiled.evaluation_seconds
    return compiled


@dataclass
class Suspect:
    """A cause seen in the graph, waiting for its ablation (or for the evidence to speak for it)."""

    code: str
    layer: Any
    label: str
    change: str  # the ablation in the user's terms, e.g. "gradient_steps=-1"
    # attribute changes on built layers; None: see rewrite
    changes: list[tuple[Any, str, Any]] | None
    # or a graph rewrite of the loss; neither: cannot ablate
    rewrite: Callable[[Any], Any] | None = None
    # what the graph showed (JSON-able), for the evidence
    facts: dict[str, Any] = field(default_factory=dict)
    # the evidence alone shows it acts (grad_clipping=0): report even without ablation
    decisive: bool = False
    # set when it provably cannot change this check (truncation longer than the sequence)
    no_effect: str = ""
    # why `allow:` cannot accept this one (a clip to [0, 0] is no training choice); "" if it can
    not_allowable: str = ""


def confirmed_diagnosis(
    session: Session, suspect: Suspect, outcome: Outcome | None, message: str, fix: str
) -> Diagnosis:
    """A suspect's diagnosis at its layer: what the graph showed, with the ablation's evidence and
    verdict when it ran (confirmed None when it did not)."""
    evidence = dict(suspect.facts)
    if outcome is not None:
        evidence.update(outcome.evidence(session))
    return session.diagnosis(
        suspect.code,
        message,
        fix,
        session.layer_fields(suspect.layer, suspect.label),
        outcome.confirmed if outcome is not None else None,
        evidence,
    )
