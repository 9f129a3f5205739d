"""Bands: which tensors move together along one direction and how far each moves (plan: their boosts
and directions, from the base point's numbers alone, scaled as probing.scaled draws them), and what
the lines said about each member (MemberState). Pure data and arithmetic: probing.py measures a
line, band_lines.py runs a band's lines."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import numeric
from .line import Judgement
from .precision import of
from .probing import Point, line_terms, scaled


@dataclass
class MemberState:
    """What the lines said about one tensor."""

    # Of the lines that passed with it: each line's threshold over the tensor's s_k |g_k| at the
    # line's point (inf where its gradient is all zero), so that numeric.sensitivity(thresholds,
    # 1.0) is its sensitivity.
    thresholds: list[float] = field(default_factory=list)
    # the confirmed Judgement, with `direction` and `point` attached below
    failed: Judgement | None = None
    direction: np.ndarray | None = None
    point: Point | None = None
    # every judgement that counted, for the numbers shown
    judged: list[Judgement] = field(default_factory=list)
    unresolved: int = 0  # lines that could not judge it
    nearby: bool = False  # some line that counted ran at a point near p
    band: dict[str, Any] | None = None
    # a judgement of this tensor alone (decomposition or own line)
    own: Judgement | None = None
    assigned: bool = False  # failed as the largest part of a band whose members' parts each agreed


@dataclass
class Band:
    members: list[int]
    directions: int
    name: str = ""


def plan(
    base: Point,
    indices: list[int],
    minimum: int,
    target: float,
    rho: float,
    atol: float,
    h: float,
    boosts: dict[int, float] | None = None,
) -> tuple[list[Band], dict[int, float]]:
    """One band for every tensor, along `minimum` directions (more when boosts cannot reach
    `target`), each tensor with a gradient boosted (at most the precision's boost_max) until its
    sensitivity reaches the target; returns the bands and the boosts. Tensors whose gradient is all
    zero have no relative sensitivity (any gradient there is an error); they are in the band all the
    same. `boosts` given (a re-check that probes the check's lines): those, and the directions they
    need. rho, atol and the step h are the lines' (probing.Prober's)."""
    precision = base.view.precision
    norms = {k: base.norms[k] for k in indices}
    nonzero = [k for k in indices if norms[k] > 0.0]
    boost: dict[int, float] = {}

    def scale(k: int) -> float:
        """Prober.scale before any line: the tensor's unit, times its boost."""
        return scaled(base.units[k], boost.get(k, 1.0))

    def threshold() -> float:
        """The predicted threshold of a line through the nonzero tensors, its allowance on the
        expected sum |g_i w_i| (probing.line_terms)."""
        allowance = rho * line_terms(base, {k: scale(k) for k in nonzero}) + atol
        return numeric.predicted_threshold(base.loss, h, precision, allowance)

    directions = minimum
    if nonzero:
        first = threshold()
        for k in nonzero:
            if boosts is not None:
                boost[k] = boosts.get(k, 1.0)
                continue
            reach = numeric.sensitivity([first] * minimum, scale(k) * norms[k])
            # a margin: the threshold is known only after probing
            need = (reach or math.inf) / target * 1.25
            boost[k] = min(of(precision).boost_max, max(1.0, need))
        # the boosted parts' terms
        boosted = threshold()
        if of(precision).settles_itself:
            directions = max(
                minimum,
                numeric.directions_needed([scale(k) * norms[k] for k in nonzero], boosted, target),
            )
    band = Band(list(indices), directions)
    band.name = "band0:" + ",".join(str(k) for k in band.members)
    return [band], boost
