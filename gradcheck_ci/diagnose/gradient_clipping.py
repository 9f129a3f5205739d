"""gradient-clipping: a layer clips the backward message (`theano.gradient.grad_clip`).

`grad_clip(x, lo, hi)` is the identity in the forward pass; the gradient flowing back through it is
clipped to [lo, hi], so Theano's gradient is no longer the derivative of the loss wherever a message
exceeds the bounds. Lasagne's recurrent layers call it on their pre-activations at every step
(`grad_clipping=c`: [-c, c]); users call it themselves in custom layers, inline or in their own
scans. Presence alone is no verdict: a loose clip (c = 100) usually changes nothing, so the cause is
reported only when its ablation removes at least part of the mismatch, or when the bounds are [0,
0]: Lasagne 0.1 tests `grad_clipping is not False`, so `grad_clipping=0` clips to [0, 0] and zeroes
every gradient through the layer; Lasagne master tests `if grad_clipping`, so 0 is off there and
builds no clip. Both are judged from the graph the model's stack built (platform/lasagne_stacks.py),
and the message names it.

Detected from the graph: `GradClip` ops among the nodes a layer introduced, inside its scans or not,
each with the user's line that called grad_clip (Theano's creation trace). Ablation:
`grad_clipping=False` for a Lasagne layer that has the attribute, else the layer rebuilt with its
grad_clip calls removed (bypass.py).
"""

from __future__ import annotations

from typing import Any

from ..core.causes import BY_CODE
from ..core.results import Diagnosis
from ..platform import lasagne_stacks
from ..usercode.trace import creation_site
from .ablation import Outcome, Suspect, confirmed_diagnosis, verdict_sentence
from .bypass import without
from .session import Session

CODE = "gradient-clipping"
FIX = BY_CODE[CODE].fix
REMOVED = "no grad_clip"  # the ablation of a grad_clip the user's code calls, in the user's terms


def suspects(session: Session) -> list[Suspect]:
    found = []
    for node in session.structure.nodes:
        if not node.clips:
            continue
        bounds = sorted(set(node.clips))
        attr = getattr(node.layer, "grad_clipping", None)
        lasagne_setting = attr is not None and attr is not False
        zero = any(lo == 0 and hi == 0 for lo, hi in bounds)
        clips = [(n, inner) for n, inner in node.gradient_ops if type(n.op).__name__ == "GradClip"]
        facts: dict[str, Any] = {
            "grad_clipping": attr if lasagne_setting and isinstance(attr, (int, float)) else None,
            "clip_bounds": [list(b) for b in bounds],
            "clip_sites": sorted(
                {
                    f"{s[0]}:{s[1]}"
                    for n, _ in clips
                    if (s := creation_site(n.outputs[0], session.context.root))
                }
            ),
            "in_scan": any(inner for _, inner in clips),
        }
        if lasagne_setting:
            change, changes = "grad_clipping=False", [(node.layer, "grad_clipping", False)]
        else:
            change, changes = REMOVED, [without(node.layer, ("GradClip",))]
        found.append(
            Suspect(
                CODE,
                node.layer,
                node.label,
                change,
                changes=changes,
                facts=facts,
                decisive=zero,
                # clipping is allowed as a training choice; zeroing every gradient is not one
                not_allowable=(
                    "a clip to [0, 0] zeroes every gradient through its layer instead of "
                    "bounding it"
                    if zero
                    else ""
                ),
            )
        )
    return found


def _span(bounds: list[list[float]]) -> str:
    lo = min(pair[0] for pair in bounds)
    hi = max(pair[1] for pair in bounds)
    return f"[-{hi:g}, {hi:g}]" if lo == -hi else f"[{lo:g}, {hi:g}]"


def describe(session: Session, suspect: Suspect, outcome: Outcome | None) -> Diagnosis:
    bounds = suspect.facts["clip_bounds"]
    value = suspect.facts.get("grad_clipping")
    sites = suspect.facts.get("clip_sites") or []
    zero = any(lo == 0 and hi == 0 for lo, hi in bounds)
    through = "through each step" if suspect.facts.get("in_scan") else "through it"
    called = (
        f"theano.gradient.grad_clip at {', '.join(sites)}"
        if sites
        else ("a theano.gradient.grad_clip call")
    )
    if suspect.change != REMOVED:  # Lasagne's grad_clipping
        setting = f"grad_clipping={value:g}" if isinstance(value, (int, float)) else "grad_clipping"
        # only Lasagne 0.1 builds these bounds: master's layers test `if self.grad_clipping`
        if zero:
            message = (
                f"{suspect.label} has {setting}, which Lasagne 0.1 treats as a clip to [0, "
                f"0], not as off: "
                "every gradient flowing back through the layer's steps is zeroed"
            )
            fix = (
                "use grad_clipping=False to switch clipping off; code written for Lasagne "
                "master, where 0 is off, is checked on master with `lasagne: master`"
            )
        else:
            message = (
                f"{suspect.label} clips the gradient flowing back {through} to "
                f"{_span(bounds)} ({setting}, on "
                f"{lasagne_stacks.label(lasagne_stacks.current())}), so where a backward "
                "message is larger Theano's gradient is not the derivative of the loss"
            )
            fix = FIX
        off = "set grad_clipping=False"
    else:
        if zero:
            message = (
                f"{suspect.label} clips the gradient flowing back {through} to [0, 0] "
                f"({called}): "
                "every gradient through it is zeroed"
            )
        else:
            message = (
                f"{suspect.label} clips the gradient flowing back {through} to "
                f"{_span(bounds)} ({called}), so where a backward message is larger "
                f"Theano's gradient is not the "
                "derivative of the loss"
            )
        fix = (
            "remove the grad_clip while checking (clip the update instead, e.g. "
            "lasagne.updates.total_norm_constraint), or accept it with `allow: "
            "[gradient-clipping]` if clipping is intended"
        )
        off = "remove the grad_clip"
    message += verdict_sentence(session, outcome, suspect.change)
    if session.spec.expect == "fail" and not zero:
        fix = f"expected (`expect: fail`); to check the true gradient instead, {off}"
    return confirmed_diagnosis(session, suspect, outcome, message, fix)
