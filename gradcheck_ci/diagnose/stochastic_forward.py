"""stochastic-forward: the checked forward pass draws random numbers.

The check builds the loss with `deterministic=True`, which switches Lasagne's DropoutLayer and
GaussianNoiseLayer off. When noise survives that (a layer that ignores or overrides `deterministic`,
a noise layer inside a recurrent layer's `hidden_to_hidden`, which Lasagne 0.1's step() never passes
the flag to, a random stream in a custom layer), finite differences compare losses computed with
different noise.

Detected from the graph (a random-number op among the Apply nodes a layer introduced, scans
included) and from the engine's repeat evaluation (`forward_repeatable`). Confirmed by ablation: the
functions are recompiled with `no_default_updates=True`, which freezes the random stream (one fixed
noise draw, the same in every evaluation), and the failing tensors re-checked. Reported even when
nothing fails, because the check did not check the deterministic model.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..core.causes import BY_CODE
from ..core.results import Diagnosis
from .ablation import agree_text, recheck
from .graph import inner_layers, is_noise_layer, is_random, walk
from .session import Session, fmt

CODE = "stochastic-forward"
FIX = BY_CODE[CODE].fix


def find(session: Session) -> list[Diagnosis]:
    """Noise in the checked forward pass, confirmed by freezing the random stream when a tensor
    fails."""
    repeatable = session.result.extra.forward_repeatable is not False  # unrecorded: repeatable
    nodes = [n for n in session.structure.nodes if n.random]
    try:
        compiled_random = any(
            is_random(op) for op in walk(session.compiled.loss_fn.maker.fgraph.toposort())
        )
    except Exception:  # noqa: BLE001 - an unusual compiled graph: fall back to what the layers showed
        compiled_random = bool(nodes)
    if repeatable and not compiled_random and not nodes:
        return []
    session.progress("stochastic forward pass: locating the noise")
    layer, label, inner_attr = _culprit(session, nodes)
    compiled = session.compiled
    first, second = compiled.loss(compiled.base), compiled.loss(compiled.base)
    delta = abs(first - second)
    if not compiled_random and not nodes and delta <= 1e-12 * abs(first):
        return []  # no random op and the repeat agrees now: the engine's disagreement was round-off
    evidence: dict[str, Any] = {
        "forward_repeatable": bool(repeatable and delta == 0),
        "repeat_difference": delta,
        "random_ops_in_compiled_loss": compiled_random,
    }
    where = (
        session.layer_fields(layer, label) if layer is not None else session.config_fields("loss")
    )
    if not repeatable or delta:
        message = (
            f"{label or 'The loss'} draws new random numbers on every forward pass even "
            f"with deterministic=True: two evaluations of the loss at the same point differ "
            f"by {fmt(delta)}, "
            "so finite differences measure the noise, not the gradient"
        )
    else:
        message = (
            f"{label or 'The loss'} stays stochastic with deterministic=True: its random "
            f"stream does not "
            "advance between evaluations, so the check compared gradients for one fixed "
            "noise draw, not for the deterministic model"
        )
    confirmed = None
    # Noise in the forward pass makes lines fail or, more often now, not smooth at all
    # (inconclusive): both are re-checked with the stream frozen.
    tested = sorted(set(session.failing) | set(session.inconclusive))
    if tested and session.affordable("ablation: random stream frozen", session.rebuild_estimate()):
        outcome = recheck(session, "random stream frozen", freeze=True, indices=tested)
        again = outcome.compiled.loss(outcome.compiled.base)
        outcome.extra["forward_repeatable_after"] = again == outcome.compiled.loss(
            outcome.compiled.base
        )
        evidence.update(outcome.evidence(session))
        confirmed = outcome.confirmed
        before, after = outcome.worst(session)
        if confirmed:
            message += (
                f". With the random stream frozen, the gradients agree {agree_text(before, after)}."
            )
        else:
            message += (
                ". With the random stream frozen, some gradients still differ: see the "
                "other diagnoses."
            )
        session.explain(outcome.explained)
        _noise_notes(session, outcome.explained if confirmed else [])
        session.frozen = True  # later ablations and probes run on the frozen stream
        session.compiled = outcome.compiled
    else:
        message += "."
    if inner_attr:
        fix = (
            f"Lasagne 0.1's recurrent step() does not pass `deterministic` on to {inner_attr}: "
            f"keep noise layers "
            "out of it (apply dropout to the recurrent layer's input or output instead)"
        )
    elif layer is not None:
        fix = FIX
    else:
        fix = "keep random numbers out of the loss, or draw them outside the checked graph"
    return [session.diagnosis(CODE, message, fix, where, confirmed, evidence)]


def _culprit(session: Session, nodes: list[Any]) -> tuple[Any, str | None, str | None]:
    """The layer to blame: the noise layer itself where one can be named, else the layer adding
    noise."""
    model = session.model
    if not nodes:
        noise = [layer for layer in model.layers if is_noise_layer(layer)]
        if noise:
            return noise[0], model.label(noise[0]), None
        return None, None, None
    node = nodes[0]
    if is_noise_layer(node.layer):
        return node.layer, node.label, None
    for attr, inner in inner_layers(node.layer):
        if is_noise_layer(inner):
            return inner, f"{type(inner).__name__} in {node.label}.{attr}", f"{node.label}.{attr}"
    return node.layer, node.label, None


def _noise_notes(session: Session, explained: list[int]) -> None:
    """The unjudged tensors the frozen stream explained: their note says the noise, not kinks or
    round-off (what the engine, which cannot tell them apart, wrote)."""
    for k in explained:
        param = session.result.params[k]
        if param.status == "inconclusive":
            session.result.params[k] = replace(
                param,
                note="no line could judge it: the loss differs between evaluations at the same "
                "point (noise in the forward pass: stochastic-forward); with the random stream "
                "frozen, it agrees",
            )
