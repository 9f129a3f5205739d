"""gradient-stopped: a layer stops the gradient (`theano.gradient.disconnected_grad`, `zero_grad`,
`consider_constant`) on a path the loss depends on.

Those ops are the identity in the forward pass and cut the backward one: Theano's gradient treats
the value as a constant, while the finite differences see the loss change with every parameter
before it. Often intended (a baseline or a target network trained by a loss of its own), sometimes
not; either way the parameters before the stop get less gradient than the loss's derivative.

Detected from the graph: those ops among the nodes a layer introduced (its scans included), each
with the user's line that called it, when a checked parameter feeds them. Ablation: the layer
rebuilt with the stops removed (bypass.py); the forward pass does not change.
"""

from __future__ import annotations

from typing import Any

from ..core.causes import BY_CODE
from ..core.results import Diagnosis
from ..usercode.trace import creation_site
from .ablation import Outcome, Suspect, confirmed_diagnosis, verdict_sentence
from .bypass import GRADIENT_ONLY, STOPS, without
from .session import Session, names, verb
from .suspects import upstream

CODE = "gradient-stopped"
FIX = BY_CODE[CODE].fix


def suspects(session: Session) -> list[Suspect]:
    from theano.gof import graph

    params = {p.variable for p in session.model.params}
    found = []
    for node in session.structure.nodes:
        stops = [(n, inner) for n, inner in node.gradient_ops if type(n.op).__name__ in STOPS]
        if not stops:
            continue
        calls = sorted({GRADIENT_ONLY[type(n.op).__name__] for n, _ in stops})
        located = (creation_site(n.outputs[0], session.context.root) for n, _ in stops)
        sites = sorted({f"{s[0]}:{s[1]}" for s in located if s})
        outer = [n for n, inner in stops if not inner]
        # inside a scan the stop's inputs are the scan's own variables: assume a checked parameter
        # feeds them
        fed = (
            params
            if len(outer) < len(stops)
            else params & set(graph.ancestors([i for n in outer for i in n.inputs]))
        )
        change = "no " + " or ".join(call.rsplit(".", 1)[1] for call in calls)
        facts: dict[str, Any] = {"calls": calls, "sites": sites, "in_scan": len(outer) < len(stops)}
        unused = "" if fed else "it stops only the gradient of values no checked parameter feeds"
        found.append(
            Suspect(
                CODE,
                node.layer,
                node.label,
                change,
                changes=[without(node.layer, STOPS)],
                facts=facts,
                no_effect=unused,
            )
        )
    return found


def describe(session: Session, suspect: Suspect, outcome: Outcome | None) -> Diagnosis:
    calls = " and ".join(suspect.facts["calls"])
    sites = suspect.facts.get("sites") or []
    at = f" at {', '.join(sites)}" if sites else ""
    tensors = (
        outcome.explained
        if outcome is not None and outcome.explained
        else upstream(session, suspect.layer)
    )
    ids = session.tensor_ids(tensors)
    message = (
        f"{suspect.label} stops the gradient ({calls}{at}): Theano treats the value there "
        f"as a constant while the loss depends on it, so "
        + (
            f"{names(ids)} {verb(len(ids), 'gets', 'get')} less gradient than the finite "
            f"differences measure"
            if ids
            else "the parameters before it get less gradient than the finite differences measure"
        )
    )
    message += verdict_sentence(session, outcome, suspect.change)
    fix = FIX
    if session.spec.expect == "fail":
        fix = f"expected (`expect: fail`); to check the true gradient instead, remove the {calls}"
    return confirmed_diagnosis(session, suspect, outcome, message, fix)
