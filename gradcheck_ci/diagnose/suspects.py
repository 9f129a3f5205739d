"""The "graph" phase: causes seen in the graph, each confirmed (or ruled out) by its own ablation.

A graph cause's module names its suspects (`suspects(session)`: the layers where the graph shows it,
and the change that switches it off) and words a diagnosis for one (`describe(session, suspect,
outcome)`); this module decides which suspects to ablate and what their outcomes explain:

- a suspect that provably cannot change this check is ruled out without an ablation;
- one that cannot be ablated, or whose ablation cannot run, is reported unconfirmed and explains the
  failing tensors upstream of its layer;
- the other suspects of one cause are switched off together, in every layer that has the cause (a
  bidirectional RNN clipped in both directions, truncation in several layers: ablated one layer at a
  time, each re-check would still see the other layers' error). The cause is reported when that
  joint ablation explains a tensor (or the evidence alone is decisive), else ruled out. With several
  layers, the cause is then put back one layer at a time, when affordable, to report which layers
  matter: a layer whose cause, put back alone, makes an explained tensor fail again matters; one
  that changes nothing is ruled out. When that is skipped, every layer is reported and the evidence
  says so;
- when two or more causes were ablated and none explained anything, they may hide each other
  (truncation and a zero clip in one layer): all are switched off together, and reported if that
explains something.

`joint_outcome` also serves `allow:` (diagnose/allow.py): the ablation of every suspect of the
allowed causes at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..core.results import Diagnosis
from .ablation import Outcome, Suspect, recheck
from .session import Session, names


class GraphCause(Protocol):
    """What a graph cause's module provides (truncated_bptt, gradient_clipping)."""

    CODE: str

    def suspects(self, session: Session) -> list[Suspect]: ...

    def describe(
        self, session: Session, suspect: Suspect, outcome: Outcome | None
    ) -> Diagnosis: ...


@dataclass
class Group:
    """The ablatable suspects of one cause, and what switching them all off did."""

    cause: GraphCause
    suspects: list[Suspect]
    outcome: Outcome | None = None
    # id(suspect) -> tensors its layer re-breaks
    matters: dict[int, list[int]] = field(default_factory=dict)
    attribution: str = ""  # "" (done, or one layer), or why the per-layer attribution was skipped


def change_of(suspects: list[Suspect], named: bool = False) -> str:
    """The joint ablation in the user's terms: "gradient_steps=-1" or "grad_clipping=False in A and
    B" (`named`: "grad_clipping=False in A" for one suspect too)."""
    changes = sorted({s.change for s in suspects})
    if len(suspects) == 1 and not named:
        return suspects[0].change
    labels = [s.label for s in suspects]
    if len(labels) == 1:
        layers = labels[0]
    elif len(labels) <= 6:
        layers = " and ".join([", ".join(labels[:-1]), labels[-1]])
    else:
        layers = names(labels, limit=6)
    return f"{' and '.join(changes)} in {layers}"


def joint_outcome(
    session: Session,
    suspects: list[Suspect],
    indices: list[int] | None = None,
    per_layer: bool = False,
) -> Outcome:
    """Every suspect switched off at once (their attribute changes and graph rewrites together).
    `per_layer`: a re-check of the attribution, which puts the cause back in one layer: its progress
    names the layers even when there is one (change_of), and only which tensors fail is asked
    for."""
    changes = [c for s in suspects for c in s.changes or []]
    rewrites: list[Callable[[Any], Any]] = [s.rewrite for s in suspects if s.rewrite is not None]

    def rewrite_all(loss: Any) -> Any:
        for rewrite in rewrites:
            loss = rewrite(loss)
        return loss

    return recheck(
        session,
        change_of(suspects, named=per_layer),
        changes,
        indices=list(session.unexplained if indices is None else indices),
        rewrite=rewrite_all if rewrites else None,
        backward_only=True,
        statuses_only=per_layer,
    )


def confirm(session: Session, causes: list[GraphCause]) -> list[Diagnosis]:
    """The diagnoses of the suspects of `causes` (in that order) that their ablations bear out."""
    diagnoses: list[Diagnosis] = []
    groups: list[Group] = []
    for cause in causes:
        ablatable = []
        for suspect in cause.suspects(session):
            if suspect.no_effect:
                session.ruled_out.append(
                    {"code": suspect.code, "layer": suspect.label, "why": suspect.no_effect}
                )
            # cannot ablate: report it unconfirmed
            elif suspect.changes is None and suspect.rewrite is None:
                diagnoses.append(cause.describe(session, suspect, None))
                session.explain(upstream(session, suspect.layer))
            else:
                ablatable.append(suspect)
        if ablatable:
            groups.append(Group(cause, ablatable))
    session.graph_groups = groups
    for group in groups:
        diagnoses.extend(_confirm_group(session, group))
    for group in groups:
        if group.outcome is not None:
            session.explain(group.outcome.explained)
            if group.outcome.explained:
                session.ablated.extend(c for s in group.suspects for c in s.changes or [])
    tested = [g for g in groups if g.outcome is not None]
    if (
        len(tested) > 1
        and not any(g.outcome.explained for g in tested if g.outcome)
        and session.unexplained
    ):
        diagnoses.extend(_all_together(session, tested))
    return diagnoses


def _confirm_group(session: Session, group: Group) -> list[Diagnosis]:
    cause, suspects = group.cause, group.suspects
    change = change_of(suspects)
    try:
        if not session.affordable(f"ablation {change}", session.rebuild_estimate()):
            raise TimeoutError("not enough of the model's timeout left")
        outcome = joint_outcome(session, suspects)
    except Exception as exc:  # noqa: BLE001 - the ablation could not run: report the suspects unconfirmed
        found = []
        for suspect in suspects:
            diagnosis = cause.describe(session, suspect, None)
            diagnosis.evidence["ablation_not_run"] = f"{type(exc).__name__}: {exc}"
            diagnosis.message = diagnosis.message.rstrip(".") + ". " + not_run_sentence(change, exc)
            found.append(diagnosis)
            session.explain(upstream(session, suspect.layer))
        return found
    group.outcome = outcome
    if not outcome.explained and not any(s.decisive for s in suspects):
        for suspect in suspects:
            session.ruled_out.append(outcome.ruled_out(session, suspect.code, suspect.label))
        return []
    reported = (
        _attribute(session, group) if len(suspects) > 1 and outcome.explained else list(suspects)
    )
    found = []
    for suspect in reported:
        diagnosis = cause.describe(session, suspect, outcome)
        if len(suspects) > 1:
            _joint_evidence(session, group, suspect, diagnosis)
        found.append(diagnosis)
    return found


def not_run_sentence(change: str, exc: BaseException) -> str:
    """Why a diagnosis is not confirmed when its ablation did not run (the timeout, or a failed
    rebuild)."""
    if isinstance(exc, TimeoutError):
        return (
            f"Not confirmed: the ablation ({change}) was skipped because {exc} (compiling used "
            f"the time; "
            "see the diagnosis-skipped notice)."
        )
    return f"Not confirmed: the ablation ({change}) could not run ({type(exc).__name__}: {exc})."


def _attribute(session: Session, group: Group) -> list[Suspect]:
    """Put the cause back one layer at a time (the others stay off): the layers that make an
    explained tensor fail again matter. Skipped (every layer reported) when the model's timeout
    cannot afford it."""
    assert group.outcome is not None
    explained = group.outcome.explained
    reported = []
    for suspect in group.suspects:
        others = [s for s in group.suspects if s is not suspect]
        what = f"putting {suspect.change} back in {suspect.label} alone"
        if not session.affordable(what, session.rebuild_estimate()):
            group.attribution = (
                "skipped: not enough of the model's timeout left to put the cause back per layer"
            )
            return list(group.suspects)
        try:
            # its progress says which layers are off, the rest as built
            back = joint_outcome(session, others, indices=explained, per_layer=True)
        except Exception as exc:  # noqa: BLE001 - attribution is a courtesy: report every layer
            group.attribution = f"skipped: {type(exc).__name__}: {exc}"
            return list(group.suspects)
        again = back.still_failing
        group.matters[id(suspect)] = again
        if again or suspect.decisive:
            reported.append(suspect)
        else:
            session.ruled_out.append(
                {
                    "code": suspect.code,
                    "layer": suspect.label,
                    "ablation": group.outcome.change,
                    "why": "put back in this layer alone (the others off), nothing fails again",
                }
            )
    return reported or list(group.suspects)


def _joint_evidence(session: Session, group: Group, suspect: Suspect, diagnosis: Diagnosis) -> None:
    layers: dict[str, Any] = {}
    for s in group.suspects:
        if id(s) in group.matters:
            again = session.tensor_ids(group.matters[id(s)])
            layers[s.label] = {
                "matters": bool(again) or s.decisive,
                "fail_again_when_put_back": again,
            }
        else:
            layers[s.label] = {"matters": None}
    diagnosis.evidence["layers"] = layers
    if group.attribution:
        diagnosis.evidence["per_layer"] = group.attribution
    mine = group.matters.get(id(suspect))
    if mine:
        ids = session.tensor_ids(mine)
        diagnosis.message = diagnosis.message.rstrip(".") + (
            f"; put back in {suspect.label} alone, {names(ids)} "
            f"{'fails' if len(ids) == 1 else 'fail'} again."
        )


def _all_together(session: Session, groups: list[Group]) -> list[Diagnosis]:
    """Switch every tested suspect of every cause off at once; if that explains something, each is
    reported."""
    suspects = [s for g in groups for s in g.suspects]
    by_suspect = {id(s): g.cause for g in groups for s in g.suspects}
    joint = joint_outcome(session, suspects)
    if not joint.explained:
        return []
    diagnoses = []
    for suspect in suspects:
        diagnosis = by_suspect[id(suspect)].describe(session, suspect, joint)
        diagnosis.evidence["joint_ablation"] = joint.evidence(session)
        diagnosis.message = diagnosis.message.rstrip(".") + (
            f"; switched off together with the other suspects ({joint.change}), the mismatch "
            f"{'disappears' if joint.confirmed else 'shrinks'}."
        )
        diagnoses.append(diagnosis)
    tested_codes = {(s.code, s.label) for s in suspects}
    session.ruled_out = [
        r for r in session.ruled_out if (r.get("code"), r.get("layer")) not in tested_codes
    ]
    session.explain(joint.explained)
    session.ablated.extend(c for s in suspects for c in s.changes or [])
    return diagnoses


def upstream(session: Session, layer: Any) -> list[int]:
    """The unexplained tensors of `layer` and of every layer feeding it."""
    import lasagne

    feeding = {id(x) for x in lasagne.layers.get_all_layers(layer)}
    return [k for k in session.unexplained if id(session.model.params[k].layer) in feeding]
