"""Culprit-layer localisation, on the instrumented function (graph.Instrumented).

`layer_checks`: walking from the output towards the inputs, compare dLoss/d(output of L) (Theano)
with central differences of the loss when L's output is moved along a random Gaussian direction,
which exercises exactly the layers above L. The first L that disagrees has a consumer whose backward
pass is wrong (everything above that consumer agreed); if L is the output layer, it is the loss's
own gradient. The comparison is the engine's (line.probe: a disagreement must be confirmed at a
smooth line, and a line that cannot judge is tried again with shorter steps), so a layer check fails
only where the check would.

`kink_layer`: for a probe of one parameter element, the first layer (in forward order) whose output
is not smooth along the probe: its second differences do not scale like h^2 between step sizes.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from ..engine import line, numeric, probing
from ..engine.precision import of
from .session import Session


@dataclass
class LayerCheck:
    index: int  # into Instrumented.layers
    label: str
    comparison: line.Judgement

    @property
    def passed(self) -> bool:
        """Not a confirmed disagreement (a line that could not judge does not blame the layer)."""
        return self.comparison.verdict != line.FAIL

    def to_json(self) -> dict[str, Any]:
        c = self.comparison
        return {
            "layer": self.label,
            "analytic": c.analytic,
            "numeric": c.numeric,
            "abs_err": c.abs_err,
            "tolerance": c.tolerance,
            "passed": self.passed,
            "verdict": c.verdict,
        }


LAYER_RETRY_STEPS = (1.0, 0.25, 1.0 / 16.0)  # a fresh direction at each, until a line judges


def output_check(session: Session, k: int, direction: np.ndarray | None = None) -> line.Judgement:
    """dLoss/d(output of instrumented layer k) along a direction, against finite differences (on the
    localising function: confirmed causes switched off)."""
    inst = session.localising
    base = inst.at_base
    grad, out = base.grads[k], base.outputs[k]
    judgement: line.Judgement | None = None
    at_zero = float(inst.loss(perturb={}))
    for attempt, factor in enumerate(LAYER_RETRY_STEPS):
        if direction is None or attempt:
            seed = probing.stable_seed(session.spec.seed, "localise", inst.labels[k], attempt or "")
            rng = np.random.RandomState(seed)
            direction = rng.standard_normal(out.shape)
        analytic = float(np.sum(grad * direction))
        step = numeric.base_step(session.precision, numeric.rms(out)) * factor

        def loss_along(t: float, direction: np.ndarray = direction) -> float:
            return float(inst.loss(perturb={k: t * direction}))

        allowance = (
            session.rtol * float(np.linalg.norm(grad)) * max(numeric.rms(out), 1.0) + session.atol
        )
        judgement = line.probe(analytic, loss_along, step, session.precision, allowance, at_zero)
        if judgement.counts:
            break
    assert judgement is not None
    return judgement


def layer_checks(session: Session) -> tuple[list[LayerCheck], LayerCheck | None]:
    """Checks from the output backwards, stopping at the first that fails (returned second)."""
    inst = session.localising
    done: list[LayerCheck] = []
    for k in reversed(range(len(inst.layers))):
        session.progress(f"localising: gradient with respect to the output of {inst.labels[k]}")
        check = LayerCheck(k, inst.labels[k], output_check(session, k))
        done.append(check)
        if not check.passed:
            return done, check
    return done, None


@dataclass
class KinkProbe:
    tensor: str
    index: list[int]
    steps: list[float]
    losses: dict[str, float]
    one_sided: dict[str, float]  # at the smallest step
    central: list[float]  # per step
    analytic: float
    kink: bool
    layer_index: int | None  # first instrumented layer whose output has a kink along the probe
    elements_at_kink: int = 0
    elements: int = 0

    def to_json(self, labels: list[str]) -> dict[str, Any]:
        return {
            "tensor": self.tensor,
            "index": self.index,
            "steps": self.steps,
            "central": self.central,
            "one_sided_at_smallest_step": self.one_sided,
            "analytic": self.analytic,
            "kink": self.kink,
            "kink_layer": labels[self.layer_index] if self.layer_index is not None else None,
            "elements_at_kink": self.elements_at_kink,
            "elements": self.elements,
        }


SCALES = (1.0, 0.5, 0.25, 0.125)  # probe steps, as fractions of the engine's step h


def kinked(
    values: list[tuple[np.ndarray, np.ndarray]], centre: np.ndarray, eps: float
) -> np.ndarray:
    """Per element: does the function have a kink at the probe point or within the largest step?

    With SD(h) = f(h) - 2 f(0) + f(-h) at h, h/2, h/4, h/8: along a smooth function SD shrinks 4x
    per halving (curvature), across a kink at the point 2x (the jump in slope times h), and
    round-off noise does not scale at all. A kink at the point: every SD well above round-off and
    every ratio in [1.5, 2.7]. A kink within the largest step but not at the point: the largest
    step's SD does not scale like the next one's (for the loss, probe_element also requires the
    smallest step to agree with Theano: the kink is then out of its reach).
    """
    sds = [plus - 2 * centre + minus for plus, minus in values]
    magnitude = np.maximum.reduce(
        [np.abs(centre)] + [np.abs(p) for p, _ in values] + [np.abs(m) for _, m in values]
    )
    noise = 4 * numeric.ROUNDOFF_FACTOR * eps * np.maximum(magnitude, 1e-300)
    at_point = np.ones(np.shape(centre), dtype=bool)
    for big, small in pairwise(sds):
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(small != 0, big / np.where(small != 0, small, 1), np.inf)
        at_point &= (np.abs(small) > 8 * noise) & (ratio >= 1.5) & (ratio <= 2.7)

    def smooth_pair(big: np.ndarray, small: np.ndarray) -> np.ndarray:
        return np.abs(big - 4 * small) <= 0.25 * np.abs(big) + 2 * noise

    near = (~smooth_pair(sds[0], sds[1])) & (np.abs(sds[0]) > 8 * noise)
    return at_point | near


def probe_element(session: Session, k: int, flat_index: int, with_layers: bool) -> KinkProbe:
    """Step-size test of the loss (and, optionally, every layer's output) along one parameter
    element."""
    compiled = session.compiled
    value = compiled.base[k]
    flat = value.reshape(-1)
    h0 = numeric.base_step(session.precision, abs(float(flat[flat_index])))
    steps = [h0 * f for f in SCALES]
    eps = numeric.machine_eps(session.precision)

    def moved(t: float) -> np.ndarray:
        probe = flat.astype(flat.dtype, copy=True)
        probe[flat_index] = flat[flat_index] + t
        return probe.reshape(value.shape)

    centre = compiled.loss(compiled.base)
    pairs = [(compiled.loss_with(k, moved(h)), compiled.loss_with(k, moved(-h))) for h in steps]
    central = [(p - m) / (2 * h) for (p, m), h in zip(pairs, steps, strict=True)]
    analytic = float(session.param(k).analytic or 0.0)
    at_point_or_near = bool(
        kinked([(np.asarray(p), np.asarray(m)) for p, m in pairs], np.asarray(centre), eps)
    )
    # A kink within the step but not at the point must also let the smallest step agree with Theano.
    noise_small = numeric.ROUNDOFF_FACTOR * eps * max(abs(centre), 1e-30) / steps[-1]
    # a kink's probe, not a verdict: the plain error model
    rtol = of(session.precision).default_rtol
    agrees_small = abs(central[-1] - analytic) <= 4 * noise_small + rtol * max(
        abs(analytic), abs(central[-1])
    )
    kink = at_point_or_near and (kink_at_point(pairs, centre, eps) or agrees_small)
    plus, minus = pairs[-1]
    one_sided = {"right": (plus - centre) / steps[-1], "left": (centre - minus) / steps[-1]}
    shape = list(value.shape)
    index = [int(i) for i in np.unravel_index(flat_index, value.shape)] if shape else []
    probe = KinkProbe(
        session.model.params[k].id,
        index,
        steps,
        {
            "0": centre,
            **{f"+{h:.3g}": p for (p, _), h in zip(pairs, steps, strict=True)},
            **{f"-{h:.3g}": m for (_, m), h in zip(pairs, steps, strict=True)},
        },
        one_sided,
        central,
        analytic,
        kink,
        None,
    )
    if kink and with_layers:
        inst = session.instrumented
        params = list(compiled.base)

        def outputs(t: float) -> list[np.ndarray]:
            params[k] = moved(t)
            return inst.run(params).outputs

        base_outs = outputs(0.0)
        moved_outs = [(outputs(h), outputs(-h)) for h in steps]
        for j in range(len(inst.layers)):
            flagged = kinked(
                [(p[j].astype("float64"), m[j].astype("float64")) for p, m in moved_outs],
                base_outs[j].astype("float64"),
                eps,
            )
            if flagged.any():
                probe.layer_index = j
                probe.elements_at_kink = int(flagged.sum())
                probe.elements = int(flagged.size)
                break
    return probe


def kink_at_point(pairs: list[tuple[float, float]], centre: float, eps: float) -> bool:
    sds = [p - 2 * centre + m for p, m in pairs]
    noise = 4 * numeric.ROUNDOFF_FACTOR * eps * max(abs(centre), 1e-300)
    return all(
        abs(small) > 8 * noise and small != 0 and 1.5 <= big / small <= 2.7
        for big, small in pairwise(sds)
    )


def flat_worst(session: Session, k: int) -> int:
    p = session.param(k)
    shape = session.compiled.base[k].shape
    if not shape:
        return 0
    if p.worst_index is None or len(p.worst_index) != len(shape):
        return 0
    return int(np.ravel_multi_index(tuple(p.worst_index), shape))
