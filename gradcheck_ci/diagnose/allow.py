"""`allow:`: causes a model accepts (truncated BPTT and gradient clipping are legitimate training
choices).

After the causes are looked for, the failing tensors are checked once more with every allowed cause
switched off at once, in every layer that has it (the graph causes' joint ablation,
suspects.joint_outcome), with the same check and so the same sensitivity. The tensors that then
agree with finite differences are `allowed`: their difference is explained by the allowed causes and
nothing else. Tensors that still disagree keep failing, so any other bug in the model is still
caught. An allowed cause that is not found changes nothing. Causes that are not graph causes are
accepted on their own confirmation: low-precision (the gradient is right in float64) and
stochastic-forward (the gradients agree with the random stream frozen; the tensors its noise left
unjudged are accepted too, and diagnose() asks before it stops when this cause explained all).

The model's `allowed` list holds each accepted cause with its evidence (the ablation, the errors
before and after); a notice says so in every report format; the cause's diagnosis stays, marked
allowed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..core.results import Diagnosis, Notice
from .ablation import Outcome, Suspect
from .session import Session, names, verb
from .stopped import diagnosis_error
from .suspects import Group, joint_outcome

NOTICE_CODE = "allowed-cause"
REFUSED_CODE = "allow-not-applied"


def accept(session: Session, found: list[Diagnosis]) -> None:
    """Turn the failing tensors the allowed causes explain into `allowed` ones (see the module
    docstring)."""
    allowed = list(session.spec.allow)
    if not allowed or not (session.failing or session.inconclusive):
        return
    accepted: dict[int, str] = {}  # tensor -> the ablation that explains it
    entries: list[dict[str, Any]] = []
    graph, refused = _allowable_groups(session, allowed)
    if refused:
        session.result.notices.append(_refused_notice(session, refused))
    if graph:
        outcome = _graph_outcome(session, graph)
        if outcome is not None and outcome.explained:
            entries.append(_entry(session, graph, outcome))
            accepted.update({k: outcome.change for k in outcome.explained})
    for entry, tensors in _confirmed_entries(session, found, allowed, accepted):
        entries.append(entry)
        accepted.update({k: str(entry["ablation"]) for k in tensors})
    if not accepted:
        return
    result = session.result
    unjudged = [k for k in accepted if result.params[k].status == "inconclusive"]
    for k, change in accepted.items():
        p = result.params[k]
        what = "differs from finite differences by"
        if k in unjudged:
            what = "could not be judged because of"
        result.params[k] = replace(
            p,
            status="allowed",
            note=f"{what} an allowed cause: rebuilt with {change}, it agrees",
        )
    result.allowed.extend(entries)
    codes = {code for entry in entries for code in entry["codes"]}
    for diagnosis in found:
        if diagnosis.code in codes:
            diagnosis.evidence["allowed"] = True
            # its usual fix would advise what the model already did (or allow it)
            diagnosis.fix = f"none: the model allows it (`allow: [{diagnosis.code}]`)"
    causes = [d for d in found if d.code in codes]
    result.notices.append(_notice(session, entries, sorted(accepted), unjudged, causes))
    session.explain(list(accepted))


def _confirmed_entries(
    session: Session, found: list[Diagnosis], allowed: list[str], accepted: dict[int, str]
) -> list[tuple[dict[str, Any], list[int]]]:
    """The allowed causes that are not graph causes, accepted on their own confirmation: each one's
    entry and the tensors (failing or unjudged, not accepted yet) it explains."""
    graph_codes = {g.cause.CODE for g in session.graph_groups}
    taken = set(accepted)
    out = []
    for diagnosis in found:
        code = diagnosis.code
        if code not in allowed or code in graph_codes or not diagnosis.confirmed:
            continue
        ids = set(diagnosis.evidence.get("explained", []))
        # noise in the forward pass leaves tensors unjudged more often than failing
        tensors = [
            k
            for k in [*session.failing, *session.inconclusive]
            if session.model.params[k].id in ids and k not in taken
        ]
        if tensors:
            taken.update(tensors)
            entry = {
                "codes": [diagnosis.code],
                "layers": [diagnosis.layer] if diagnosis.layer else [],
                "tensors": session.tensor_ids(tensors),
                "ablation": diagnosis.evidence.get("ablation"),
                "evidence": diagnosis.evidence,
            }
            out.append((entry, tensors))
    return out


def _allowable_groups(session: Session, allowed: list[str]) -> tuple[list[Group], list[Suspect]]:
    """The allowed graph causes' groups, less the suspects `allow:` cannot accept (each group
    narrowed to the rest, its ablation to be run again), and those suspects."""
    groups, refused = [], []
    for group in session.graph_groups:
        if group.cause.CODE not in allowed:
            continue
        kept = [s for s in group.suspects if not s.not_allowable]
        refused += [s for s in group.suspects if s.not_allowable]
        if len(kept) == len(group.suspects):
            groups.append(group)
        elif kept:
            groups.append(replace(group, suspects=kept, outcome=None, matters={}))
    return groups, refused


def _refused_notice(session: Session, refused: list[Suspect]) -> Notice:
    """At the `allow` line: the layers the allowed causes do not cover, and why."""
    spec = session.spec
    by_reason: dict[str, list[str]] = {}
    for suspect in refused:
        by_reason.setdefault(suspect.not_allowable, []).append(suspect.label)
    codes = ", ".join(sorted({s.code for s in refused}))
    why = "; ".join(f"{names(labels)}: {reason}" for reason, labels in by_reason.items())
    return Notice(
        f"allow: [{codes}] does not cover {why}. Their tensors are judged as if it were not "
        "allowed.",
        REFUSED_CODE,
        session.context.config_file,
        spec.key_lines.get("allow", spec.line),
    )


def _graph_outcome(session: Session, groups: list[Group]) -> Outcome | None:
    """Every allowed graph cause off at once, re-checking every failing tensor (reusing the cause's
    own joint ablation when it is exactly that)."""
    if (
        len(groups) == 1
        and groups[0].outcome is not None
        and groups[0].outcome.tested == session.failing
    ):
        return groups[0].outcome
    if not session.affordable("ablation of the allowed causes", session.rebuild_estimate()):
        return None
    try:
        return joint_outcome(
            session, [s for g in groups for s in g.suspects], indices=list(session.failing)
        )
    except Exception as exc:  # noqa: BLE001 - nothing can be accepted without the proof: the tensors keep failing
        session.result.extra.allow_error = diagnosis_error(
            exc, getattr(session.context, "root", None), "the ablation that proves `allow:`"
        )
        return None


def _entry(session: Session, groups: list[Group], outcome: Outcome) -> dict[str, Any]:
    return {
        "codes": [g.cause.CODE for g in groups],
        "layers": [s.label for g in groups for s in g.suspects],
        "tensors": session.tensor_ids(outcome.explained),
        "ablation": outcome.change,
        "evidence": outcome.evidence(session),
    }


def _notice(
    session: Session,
    entries: list[dict[str, Any]],
    tensors: list[int],
    unjudged: list[int],
    causes: list[Diagnosis],
) -> Notice:
    """The allowed tensors, said where the allowed cause is (the truncating layer's line, not the
    embedding before it whose tensor happens to come first)."""
    codes = sorted({code for entry in entries for code in entry["codes"]})
    ids = session.tensor_ids(tensors)
    left = [k for k in session.failing if k not in tensors]  # (unjudged ones stay unjudged)
    ablations = "; ".join(str(entry["ablation"]) for entry in entries)
    differ = f"{verb(len(ids), 'differs', 'differ')} from finite differences"
    if len(unjudged) == len(tensors):
        differ = "could not be judged"
    elif unjudged:
        differ += " (or could not be judged)"
    message = (
        f"allowed ({', '.join(codes)}): {names(ids)} {differ} only because of "
        f"{verb(len(codes), 'this cause', 'these causes')}: rebuilt with {ablations}, "
        f"{verb(len(ids), 'it agrees', 'they agree')}"
    )
    if left:
        message += (
            f"; {names(session.tensor_ids(left))} still {verb(len(left), 'fails', 'fail')} "
            f"for another reason"
        )
    located = [d for d in causes if d.file]
    if located:
        return Notice(message + ".", NOTICE_CODE, located[0].file, located[0].line)
    site = session.model.params[tensors[0]].site
    return Notice(
        message + ".", NOTICE_CODE, site.file if site else None, site.line if site else None
    )
