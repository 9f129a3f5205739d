"""truncated-bptt: a recurrent layer backpropagates through only its last k steps.

Lasagne's `gradient_steps=k` becomes `theano.scan(..., truncate_gradient=k)`: the backward scan
covers only the last k iterations, every earlier step (and the initial hidden state) gets exactly
zero gradient, and the analytic gradient of everything feeding the layer misses all contributions
from earlier steps.

Detected from the graph: each Scan introduced by a layer carries `truncate_gradient`; the compiled
gradient function is cross-checked for the same value. Confirmed by ablation: the layer is rebuilt
with `gradient_steps=-1` and the failing tensors re-checked. A truncation at least as long as the
checked sequences cannot change anything and is not reported.
"""

from __future__ import annotations

import functools
from typing import Any

from ..core.causes import BY_CODE
from ..core.results import Diagnosis
from ..usercode.trace import creation_site
from .ablation import Outcome, Suspect, confirmed_diagnosis, verdict_sentence
from .graph import compiled_scans, untruncated
from .session import Session

CODE = "truncated-bptt"
FIX = BY_CODE[CODE].fix


def suspects(session: Session) -> list[Suspect]:
    compiled = sorted(
        {
            int(op.truncate_gradient)
            for op in compiled_scans(session.compiled.grad_fn)
            if getattr(op, "truncate_gradient", -1) != -1
        }
    )
    found = []
    for node in session.structure.nodes:
        if not node.truncations:
            continue
        steps = max(node.truncations)
        length = sequence_length(session, node.layer)
        attr = getattr(node.layer, "gradient_steps", None)
        ablate = isinstance(attr, int) and not isinstance(attr, bool) and attr != -1
        facts = {
            "gradient_steps": attr if ablate else None,
            "truncate_gradient": steps,
            "sequence_steps": length,
            "compiled_graph": {"scan_truncate_gradient": compiled},
        }
        if ablate:
            suspect = Suspect(
                CODE,
                node.layer,
                node.label,
                "gradient_steps=-1",
                changes=[(node.layer, "gradient_steps", -1)],
                facts=facts,
            )
        else:  # a scan no attribute controls (the user's own): ablate in the graph
            ops = list(node.truncated_ops)
            facts["scan_site"] = scan_site(node, ops, session.context.root)
            suspect = Suspect(
                CODE,
                node.layer,
                node.label,
                "truncate_gradient=-1",
                changes=None,
                rewrite=functools.partial(untruncated, ops=ops),
                facts=facts,
            )
        if length is not None and steps >= length:
            suspect.no_effect = (
                f"truncation to {steps} steps is no shorter than the {length}-step sequences"
            )
        found.append(suspect)
    return found


def scan_site(node: Any, ops: list[Any], root: str) -> str | None:
    """'file:line' of the user's theano.scan call that made the first of `ops`, from the creation
    trace Theano keeps on its outputs."""
    for apply in node.applies:
        if any(apply.op is op for op in ops):
            site = creation_site(apply.outputs[0], root)
            if site:
                return f"{site[0]}:{site[1]}"
    return None


def sequence_length(session: Session, layer: Any) -> int | None:
    """Steps of the layer's input sequences on the check's data (axis 1 of the input, as in
    Lasagne)."""
    import lasagne

    from .graph import input_layers

    ins = input_layers(layer)
    if not ins:
        return None
    try:
        data = session.compiled.data  # ends with the target, which no InputLayer takes
        given = {
            info.layer: array.shape for info, array in zip(session.model.inputs, data, strict=False)
        }
        shape = lasagne.layers.get_output_shape(ins[0], given)
    except Exception:  # noqa: BLE001 - a layer that cannot infer shapes: the length is then unknown
        return None
    return int(shape[1]) if len(shape) >= 2 and isinstance(shape[1], int) else None


def describe(session: Session, suspect: Suspect, outcome: Outcome | None) -> Diagnosis:
    k = suspect.facts["truncate_gradient"]
    length = suspect.facts.get("sequence_steps")
    seq = f" of each {length}-step sequence" if length else ""
    only = "the last step" if k == 1 else f"the last {k} steps"
    if suspect.changes is not None:
        what = f"(gradient_steps={k})"
        fix = FIX
    else:
        at = suspect.facts.get("scan_site")
        where = f" at {at}" if at else ""
        what = f"(its theano.scan{where} has truncate_gradient={k})"
        fix = (
            f"pass truncate_gradient=-1 to theano.scan{where}, or mark the model `expect: fail` "
            "if truncation is intended"
        )
    message = (
        f"{suspect.label} truncates backpropagation through time to {k} "
        f"{'step' if k == 1 else 'steps'} {what}, so Theano differentiates only "
        f"{only}{seq}: earlier steps get exactly zero gradient "
        "although the loss depends on them"
    )
    message += verdict_sentence(session, outcome, suspect.change)
    if session.spec.expect == "fail":
        fix = f"expected (`expect: fail`); to check the full gradient instead, set {suspect.change}"
    return confirmed_diagnosis(session, suspect, outcome, message, fix)
