"""wrong-backward: none of the known causes; the backward pass of one layer is wrong.

Localisation (see localise.layer_checks): walking from the output, the gradient with respect to each
layer's output is compared with finite differences of the network above it. The first layer whose
output gradient disagrees has a consumer whose backward pass is wrong: that consumer is named, with
the line that constructed it. This points a wrong `grad()` of a hand-written op inside a custom
layer at that layer, not at the dense layer before it whose weights happen to show the error. When
every layer-output gradient agrees, the wrong part is the gradient of a layer with respect to its
own parameter: the failing parameter's layer is named. No ablation applies (confirmed stays null).
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from ..core.causes import BY_CODE
from ..core.results import Diagnosis
from ..engine.line import PASS
from ..usercode.sites import is_inside, is_library, relative
from .graph import walk
from .localise import layer_checks
from .session import Session, names, pair, verb

CODE = "wrong-backward"
FIX = BY_CODE[CODE].fix


def find(session: Session) -> list[Diagnosis]:
    """The last resort: localise the wrong backward pass, or name the likeliest layer when that
    cannot run."""
    try:
        return detect(session, list(session.unexplained))
    except Exception as exc:  # noqa: BLE001 - localisation could not run: say so, name the likeliest layer
        return [unlocalised(session, list(session.unexplained), exc)]


def detect(session: Session, indices: list[int]) -> list[Diagnosis]:
    inst = session.localising
    checks, failing = layer_checks(session)
    ids = session.tensor_ids(indices)
    evidence: dict[str, Any] = {"tensors": ids, "layer_checks": [c.to_json() for c in checks]}
    if session.ruled_out:
        evidence["ruled_out"] = session.ruled_out
    if failing is not None:
        c = failing.comparison
        layer = inst.layers[failing.index]
        consumers = session.structure.consumers(layer)
        if not consumers:
            says = pair(c.analytic, c.numeric).replace(" vs ", ", finite differences say ", 1)
            message = (
                f"The gradient of the loss ({session.result.loss}) with respect to the "
                f"prediction is wrong: along a random direction Theano says {says}; "
                f"{verb(len(ids), 'the failing tensor', 'every failing tensor')} "
                f"({names(ids)}) "
                "inherits the error"
            )
            fix = (
                "check the loss function's gradient (a hand-written op or a theano.gradient "
                "helper in it)"
            )
            where = session.loss_fields(layer)
            return [session.diagnosis(CODE, message + ".", fix, where, None, evidence)]
        culprit = consumers[0]
        above = (
            "the gradient with respect to its output agrees"
            if len(checks) > 1
            else ("the loss's gradient agrees")
        )
        message = (
            f"The backward pass of {culprit.label} is wrong: Theano's gradient with respect "
            f"to its input ({failing.label}'s output) disagrees with finite differences of "
            f"the network above it ({pair(c.analytic, c.numeric)} along a random "
            f"direction), while {above}; {names(ids)} {verb(len(ids), 'fails', 'fail')} "
            f"because the wrong gradient flows back into {verb(len(ids), 'it', 'them')}"
        )
        ops = users_ops(session, culprit.applies)
        fix = (
            f"check the grad() of {_ops_text(ops)}, which {culprit.label} applies: it must return "
            "the derivative of what its perform() computes"
            if ops
            else f"check {culprit.label}'s get_output_for: the grad() of any hand-written Theano "
            "op in it must return the derivative of what its perform() computes"
        )
        evidence["culprit_consumers"] = [n.label for n in consumers]
        if ops:
            evidence["ops"] = [f"{name} at {where}" for name, where in ops]
        return [
            session.diagnosis(
                CODE,
                message + ".",
                fix,
                session.layer_fields(culprit.layer, culprit.label),
                None,
                evidence,
            )
        ]
    # Every gradient between layers agrees: a layer's gradient with respect to its own parameter is
    # wrong.
    order = {id(layer): j for j, layer in enumerate(session.model.layers)}
    k = max(indices, key=lambda i: order.get(id(session.model.params[i].layer), -1))
    info = session.model.params[k]
    same = [i for i in indices if session.model.params[i].layer is info.layer]
    mine = session.tensor_ids(same)
    p = session.param(k)
    # a layer output whose line was not smooth (a max over tied values, a kink) was not compared
    unjudged = [c.label for c in checks if c.comparison.verdict != PASS]
    agrees = (
        "every layer's output agrees"
        if not unjudged
        else f"every layer's output that could be compared agrees ({names(unjudged)}'s could "
        "not: the loss is not smooth along it at this point, as a max over tied values or a "
        "kink makes it)"
    )
    message = (
        f"Theano's gradient of {names(mine)} disagrees with finite differences "
        f"({pair(p.analytic, p.numeric)} at {p.worst_index}) while the gradient with "
        f"respect to {agrees}: the backward pass of {info.layer_label} "
        f"with respect to its own parameter is wrong"
        + (", or the one of an op above it that was not compared" if unjudged else "")
    )
    param_name = info.id.split(".", 1)[-1]
    ops = users_ops(session, session.structure.node(info.layer).applies)
    fix = (
        f"check the grad() of {_ops_text(ops)}, which {info.layer_label} applies to "
        f"{param_name}: it must return the derivative of what its perform() computes"
        if ops
        else f"check how {info.layer_label}.get_output_for uses {param_name}: the grad() of a "
        "hand-written op applied to it, or a theano.gradient helper (disconnected_grad, "
        "grad_clip, a custom gradient)"
    )
    if unjudged:
        fix += (
            "; or a max (T.max, max-pooling) above it over tied values: Theano gives the whole "
            "gradient to every tied element, which is not the derivative when the tied values are "
            "copies of one parameter (a token repeated in an embedding)"
        )
    if ops:
        evidence["ops"] = [f"{name} at {where}" for name, where in ops]
    return [
        session.diagnosis(
            CODE, message + ".", fix, session.layer_fields(info.layer), None, evidence
        )
    ]


def unlocalised(session: Session, indices: list[int], error: BaseException) -> Diagnosis:
    """The last resort when localisation cannot run: the failing tensor nearest the output,
    hedged."""
    order = {id(layer): j for j, layer in enumerate(session.model.layers)}
    k = max(indices, key=lambda i: order.get(id(session.model.params[i].layer), -1))
    info = session.model.params[k]
    ids = session.tensor_ids(indices)
    message = (
        f"No known cause explains the mismatch of {names(ids)}, and the layer-by-layer "
        f"localisation could not run ({type(error).__name__}: {error}); the failing tensor "
        f"nearest the output belongs to {info.layer_label}, so its backward pass (or that "
        f"of a layer after it) is the first suspect."
    )
    evidence: dict[str, Any] = {
        "tensors": ids,
        "localisation_error": f"{type(error).__name__}: {error}",
    }
    if session.ruled_out:
        evidence["ruled_out"] = session.ruled_out
    return session.diagnosis(CODE, message, FIX, session.layer_fields(info.layer), None, evidence)


def users_ops(session: Session, applies: list[Any]) -> list[tuple[str, str]]:
    """The repository's own Theano ops among these applies (inside scans too) that define grad(),
    each with where its grad() is ('models/layers.py:19'): the likeliest wrong backward pass."""
    root = os.path.realpath(session.context.root)
    found: dict[str, str] = {}
    for op in walk(applies):
        cls = type(op)
        grad = next((c.__dict__["grad"] for c in cls.__mro__ if "grad" in c.__dict__), None)
        if grad is None or cls.__name__ in found:
            continue
        try:
            path = inspect.getsourcefile(grad) or ""
            _, line = inspect.getsourcelines(grad)
        except (OSError, TypeError):
            continue
        if is_inside(path, root) and not is_library(path):
            found[cls.__name__] = f"{relative(path, root)}:{line}"
    return sorted(found.items())


def _ops_text(ops: list[tuple[str, str]]) -> str:
    return ", ".join(f"{name} ({where})" for name, where in ops[:3])
