"""gradient-clipping: a recurrent layer clips the backward message at every step.

Lasagne's `grad_clipping=c` wraps the pre-activations in `theano.gradient.grad_clip(x, -c, c)`: the forward
pass is unchanged, the gradient flowing back through each step is clipped to [-c, c], so Theano's
gradient is no longer the derivative of the loss wherever a message exceeds c. Presence alone is no
verdict: a loose clip (c = 100) usually changes nothing, so the cause is reported only when its ablation
(rebuild with `grad_clipping=False`) removes at least part of the mismatch, or when the bounds are [0, 0]:
Lasagne 0.1 tests `grad_clipping is not False`, so `grad_clipping=0` clips to [0, 0] and zeroes every
gradient through the layer; Lasagne master tests `if grad_clipping`, so 0 is off there and builds no clip.
Both are judged from the graph the model's stack built (platform/lasagne_stacks.py), and the message names it.

Detected from the graph: `GradClip` ops inside the inner graph of a Scan the layer introduced.
"""
from __future__ import annotations

from ..core.causes import BY_CODE
from ..core.results import Diagnosis
from ..platform import lasagne_stacks
from .ablation import Outcome, Suspect, verdict_sentence
from .session import Session

CODE = "gradient-clipping"
FIX = BY_CODE[CODE].fix


def suspects(session: Session) -> list[Suspect]:
    found = []
    for node in session.structure.nodes:
        if not node.clips:
            continue
        bounds = sorted(set(node.clips))
        attr = getattr(node.layer, "grad_clipping", None)
        ablate = attr is not None and attr is not False
        zero = any(lo == 0 and hi == 0 for lo, hi in bounds)
        facts = {"grad_clipping": attr if ablate and isinstance(attr, (int, float)) else None,
                 "clip_bounds": [list(b) for b in bounds]}
        found.append(Suspect(CODE, node.layer, node.label, "grad_clipping=False",
                             changes=[(node.layer, "grad_clipping", False)] if ablate else None, facts=facts,
                             decisive=zero))
    return found


def describe(session: Session, suspect: Suspect, outcome: Outcome | None) -> Diagnosis:
    bounds = suspect.facts["clip_bounds"]
    value = suspect.facts.get("grad_clipping")
    zero = any(lo == 0 and hi == 0 for lo, hi in bounds)
    setting = f"grad_clipping={value:g}" if isinstance(value, (int, float)) else "a grad_clip in its scan"
    if zero:  # only Lasagne 0.1 builds these bounds: master's layers test `if self.grad_clipping`
        message = (f"{suspect.label} has {setting}, which Lasagne 0.1 treats as a clip to [0, 0], not as off: "
                   "every gradient flowing back through the layer's steps is zeroed")
        fix = ("use grad_clipping=False to switch clipping off; code written for Lasagne master, where 0 is off, "
               "is checked on master with `lasagne: master`")
    else:
        hi = max(abs(b) for pair in bounds for b in pair)
        message = (f"{suspect.label} clips the gradient flowing back through each step to [-{hi:g}, {hi:g}] "
                   f"({setting}, on {lasagne_stacks.label(lasagne_stacks.current())}), so where a backward message is "
                   "larger Theano's gradient is not the derivative of the loss")
        fix = FIX
    message += verdict_sentence(session, outcome, "grad_clipping=False")
    if session.spec.expect == "fail" and not zero:
        fix = "expected (`expect: fail`); to check the true gradient instead, set grad_clipping=False"
    evidence = dict(suspect.facts)
    if outcome is not None:
        evidence.update(outcome.evidence(session))
    return session.diagnosis(CODE, message, fix, session.layer_fields(suspect.layer, suspect.label),
                             outcome.confirmed if outcome is not None else None, evidence)
