"""The "graph" phase: causes seen in the graph, each confirmed (or ruled out) by its own ablation.

A graph cause's module names its suspects (`suspects(session)`: the layers where the graph shows it, and
the change that switches it off) and words a diagnosis for one (`describe(session, suspect, outcome)`);
this module decides which suspects to ablate and what their outcomes explain:

- a suspect that provably cannot change this check is ruled out without an ablation;
- one that cannot be ablated, or whose ablation cannot run, is reported unconfirmed and explains the
  failing tensors upstream of its layer;
- each other suspect is ablated alone (only its change); it is reported when its ablation explains a
  tensor (or its evidence alone is decisive), else ruled out;
- when two or more were ablated and none explained anything, they may hide each other (truncation and a
  zero clip in one layer): they are switched off together, and reported if that explains something.
"""
from __future__ import annotations

from typing import Any, Protocol

from ..results import Diagnosis
from .ablation import Outcome, Suspect, recheck
from .session import Session


class GraphCause(Protocol):
    """What a graph cause's module provides (truncated_bptt, gradient_clipping)."""

    def suspects(self, session: Session) -> list[Suspect]: ...

    def describe(self, session: Session, suspect: Suspect, outcome: Outcome | None) -> Diagnosis: ...


def confirm(session: Session, causes: list[GraphCause]) -> list[Diagnosis]:
    """The diagnoses of the suspects of `causes` (in that order) that their ablations bear out."""
    suspects: list[tuple[GraphCause, Suspect]] = [(cause, s) for cause in causes for s in cause.suspects(session)]
    diagnoses: dict[int, Diagnosis] = {}
    tested: list[tuple[GraphCause, Suspect, Outcome]] = []
    for cause, suspect in suspects:
        if suspect.no_effect:
            session.ruled_out.append({"code": suspect.code, "layer": suspect.label, "why": suspect.no_effect})
            continue
        if suspect.changes is None and suspect.rewrite is None:  # cannot ablate: report it unconfirmed
            diagnoses[id(suspect)] = cause.describe(session, suspect, None)
            session.explain(upstream(session, suspect.layer))
            continue
        try:
            if not session.affordable(f"ablation {suspect.change} of {suspect.label}", session.rebuild_estimate()):
                raise TimeoutError("not enough of the model's timeout left")
            outcome = recheck(session, suspect.change, suspect.changes, indices=list(session.unexplained),
                              rewrite=suspect.rewrite, backward_only=True)
        except Exception as exc:  # noqa: BLE001 - the ablation could not run: report the suspect unconfirmed
            diagnosis = cause.describe(session, suspect, None)
            diagnosis.evidence["ablation_not_run"] = f"{type(exc).__name__}: {exc}"
            diagnoses[id(suspect)] = diagnosis
            session.explain(upstream(session, suspect.layer))
            continue
        tested.append((cause, suspect, outcome))
        if outcome.explained or suspect.decisive:
            diagnoses[id(suspect)] = cause.describe(session, suspect, outcome)
        else:
            session.ruled_out.append(outcome.ruled_out(session, suspect.code, suspect.label))
    for _, _, outcome in tested:
        session.explain(outcome.explained)
    if len(tested) > 1 and not any(o.explained for _, _, o in tested) and session.unexplained:
        diagnoses.update(_joint(session, tested))
    return list(diagnoses.values())


def _joint(session: Session, tested: list[tuple[GraphCause, Suspect, Outcome]]) -> dict[int, Diagnosis]:
    """Switch every tested suspect off at once; if that explains something, each is reported with it."""
    changes = [c for _, s, _ in tested for c in s.changes or []]
    rewrites = [s.rewrite for _, s, _ in tested if s.rewrite is not None]

    def rewrite_all(loss: Any) -> Any:
        for rewrite in rewrites:
            loss = rewrite(loss)
        return loss

    joint = recheck(session, " and ".join(s.change for _, s, _ in tested), changes,
                    indices=list(session.unexplained), rewrite=rewrite_all if rewrites else None,
                    backward_only=True)
    if not joint.explained:
        return {}
    diagnoses = {}
    for cause, suspect, outcome in tested:
        diagnosis = cause.describe(session, suspect, outcome)
        diagnosis.evidence["joint_ablation"] = joint.evidence(session)
        diagnosis.message = diagnosis.message.rstrip(".") + (
            f"; switched off together with the other suspects ({joint.change}), the mismatch "
            f"{'disappears' if joint.confirmed else 'shrinks'}.")
        diagnoses[id(suspect)] = diagnosis
    tested_codes = {(s.code, s.label) for _, s, _ in tested}
    session.ruled_out = [r for r in session.ruled_out if (r.get("code"), r.get("layer")) not in tested_codes]
    session.explain(joint.explained)
    return diagnoses


def upstream(session: Session, layer: Any) -> list[int]:
    """The unexplained tensors of `layer` and of every layer feeding it."""
    import lasagne

    feeding = {id(x) for x in lasagne.layers.get_all_layers(layer)}
    return [k for k in session.unexplained if id(session.model.params[k].layer) in feeding]
