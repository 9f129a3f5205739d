"""disconnected: a selected parameter has no path to the loss.

The check differentiates with `disconnected_inputs="ignore"`, so such a parameter gets an all-zero gradient,
the finite differences are zero too, and the tensor "passes" while nothing was checked. Typical causes: a
custom layer that creates a parameter with add_param but never uses it in get_output_for, or a branch of the
network that does not reach the output.

Detected symbolically: `theano.grad(loss, params, return_disconnected="None")` returns None for parameters
the loss does not depend on (no path in the graph, or only through ops without a gradient). No ablation
applies; reported whether or not the check failed, since the check of these tensors means nothing.
"""
from __future__ import annotations

from ..core.causes import BY_CODE
from ..core.results import Diagnosis
from .session import Session, names

CODE = "disconnected"
FIX = BY_CODE[CODE].fix


def find(session: Session) -> list[Diagnosis]:
    import theano

    model = session.model
    params = [p.variable for p in model.params]
    try:
        grads = theano.grad(session.context.objective.loss, params, disconnected_inputs="ignore",
                            return_disconnected="None")
    except Exception:  # noqa: BLE001 - the check's own theano.grad succeeded; this is only a refinement
        return []
    missing = [k for k, g in enumerate(grads) if g is None]
    by_layer: dict[int, list[int]] = {}
    for k in missing:
        by_layer.setdefault(id(model.params[k].layer), []).append(k)
    diagnoses = []
    for indices in by_layer.values():
        info = model.params[indices[0]]
        ids = session.tensor_ids(indices)
        these = "it" if len(ids) == 1 else "them"
        message = (f"{names(ids)} get{'s' if len(ids) == 1 else ''} no gradient from the "
                   f"loss: nothing the loss computes depends on {these}, so Theano's gradient and the finite "
                   "differences are both zero and the check of "
                   f"{these} means nothing.")
        diagnoses.append(session.diagnosis(CODE, message, FIX, session.layer_fields(info.layer), None,
                                           {"tensors": ids}))
    session.explain(missing)
    return diagnoses
