"""disconnected: a selected parameter gets no gradient from the loss, so its check means nothing.

The check differentiates with `disconnected_inputs="ignore"`, so such a parameter gets an all-zero
gradient. Detected symbolically: `theano.grad(loss, params, return_disconnected="None")` returns
None for it. Why (cut.py) decides what is said:

- nothing the loss computes uses it (a custom layer that creates a parameter with add_param and
  never uses it in get_output_for, a branch that does not reach the output): the finite differences
are zero too;
- it reaches the loss only through an integer-valued op such as argmax (hard attention): the loss is
  piecewise constant in it, so the finite differences are zero too, except across a jump;
- only its shape is used;
- its gradient is stopped (`disconnected_grad`, `zero_grad`) at a line of the user's: the loss does
  depend on it. When its tensor fails, the `gradient-stopped` cause confirms that by ablation; when
it passes (the
  stopped path changes the loss too little to see), it is reported here.

No ablation applies; reported whether or not the check failed.
"""

from __future__ import annotations

from typing import Any

from ..core.causes import BY_CODE
from ..core.results import Diagnosis
from ..usercode.trace import creation_site
from .cut import Cut, cut_of
from .session import Session, names

CODE = "disconnected"
FIX = BY_CODE[CODE].fix
FIXES = {
    "absent": FIX,
    "piecewise": "make the path differentiable (a softmax over the scores instead of argmax: soft "
    "attention), or leave the parameter out of `params` if it is not meant to be "
    "trained by this loss",
    "shape": FIX,
    "stopped": "if the stop is intended (a baseline or target trained by its own loss), leave the "
    "parameter out of `params`; otherwise remove the stop",
}


def find(session: Session) -> list[Diagnosis]:
    import theano

    model = session.model
    loss = session.context.objective.loss
    params = [p.variable for p in model.params]
    try:
        grads = theano.grad(loss, params, disconnected_inputs="ignore", return_disconnected="None")
    except Exception:  # noqa: BLE001 - the check's own theano.grad succeeded; this is only a refinement
        return []
    groups: dict[tuple[int, str], tuple[Cut, list[int]]] = {}
    for k, g in enumerate(grads):
        if g is not None:
            continue
        cut = cut_of(loss, params[k])
        if cut.kind == "stopped" and k in session.failing:
            continue  # the loss depends on it: gradient-stopped confirms that by its ablation
        groups.setdefault((id(model.params[k].layer), cut.kind), (cut, []))[1].append(k)
    diagnoses = []
    reported: list[int] = []
    for cut, indices in groups.values():
        info = model.params[indices[0]]
        ids = session.tensor_ids(indices)
        sites = _sites(session, cut)
        message = _message(ids, cut, sites)
        evidence: dict[str, Any] = {"tensors": ids, "cut": cut.kind}
        if cut.nodes:
            evidence.update(ops=cut.op_names(), sites=sites)
        diagnoses.append(
            session.diagnosis(
                CODE, message, FIXES[cut.kind], session.layer_fields(info.layer), None, evidence
            )
        )
        reported += indices
    session.explain(reported)
    return diagnoses


def _sites(session: Session, cut: Cut) -> list[str]:
    found = (creation_site(node.outputs[-1], session.context.root) for node in cut.nodes)
    return list(dict.fromkeys(f"{s[0]}:{s[1]}" for s in found if s))


def _message(ids: list[str], cut: Cut, sites: list[str]) -> str:
    one = len(ids) == 1
    these, gets = ("it", "gets") if one else ("them", "get")
    at = f" at {', '.join(sites)}" if sites else ""
    ops = ", ".join(cut.op_names())
    if cut.kind == "piecewise":
        return (
            f"{names(ids)} reach{'es' if one else ''} the loss only through {ops}{at}, which "
            f"is piecewise constant: the loss's derivative with respect to {these} is zero "
            f"wherever it exists, so Theano's gradient and the finite differences are both "
            f"zero and the check of {these} means nothing."
        )
    if cut.kind == "stopped":
        return (
            f"{names(ids)} {gets} no gradient from the loss: the gradient is stopped at "
            f"{ops}{at}, and the loss changes too little with {these} for the finite "
            f"differences to show it, so the check of {these} means nothing."
        )
    if cut.kind == "shape":
        return (
            f"{names(ids)} {gets} no gradient from the loss: the loss uses only the shape of "
            f"{these}{at}, so Theano's gradient and the finite differences are both zero and "
            f"the check of {these} "
            "means nothing."
        )
    return (
        f"{names(ids)} {gets} no gradient from the loss: nothing the loss computes uses "
        f"{these} (not in the graph of the loss), so Theano's gradient and the finite "
        f"differences are both zero and the check of {these} means nothing."
    )
