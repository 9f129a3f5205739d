"""The two precisions a model is checked in, each one object: what the engine does differently in
float64 and float32 is read from here, not from tables keyed by a string or `== "float64"` branches.

A check carries its precision's name (gradcheck.yml's `precision`, Theano's floatX, the reports'
field); `of(name)` gives the object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The attempts at a line in float64, in order, until one judges: (step in h, boost level, at the
# nearby point). A boost level scales the boosts above 1 (0: no boost). Boosts are cut first (a
# boosted tensor moves furthest, so its curvature is the likeliest to spoil the line), then the step
# shortens, then a point near p.
_FLOAT64_LADDER = (
    (1.0, 1.0, False),
    (1.0, 1.0 / 8.0, False),
    (1.0, 1.0 / 64.0, False),
    (1.0, 0.0, False),
    (1.0 / 8.0, 0.0, False),
    (1.0 / 64.0, 0.0, False),
    (1.0, 0.0, True),
    (1.0 / 8.0, 0.0, True),
    (1.0 / 64.0, 0.0, True),
)


@dataclass(frozen=True)
class Precision:
    name: str  # "float64" | "float32": numpy's dtype and Theano's floatX
    # The stated sensitivity: a relative gradient error of this size in any checked tensor is caught
    # with probability at least 1 - numeric.MISS_PROBABILITY, whatever the seed (docs/numerics.md
    # derives it).
    target: float
    # numeric.compare()'s relative tolerance (the diagnosis' probes, not the check's)
    default_rtol: float
    # A tensor whose gradient is small against the loss's round-off moves further along the line, by
    # at most this boost. R(1)'s truncation is O(h^4), so it costs nothing where the loss is smooth,
    # and where it is not the ladder's retries shorten every move again. float32's step is long
    # already.
    boost_max: float
    top_up: int  # more directions for a band member that retries left short of the target
    ladder: tuple[tuple[float, float, bool], ...]  # the attempts at a line (see _FLOAT64_LADDER)
    # float64 judges everything it can itself: a band no line could judge is split into its members,
    # an element is retried at a nearby point, and a one-sided difference is precise enough to rank
    # two halves in localisation. float32's round-off is too coarse for that: what its lines cannot
    # judge is settled by a float64 check (diagnose/low_precision.py).
    settles_itself: bool

    @property
    def eps(self) -> float:
        return float(np.finfo(self.name).eps)

    @property
    def allowance(self) -> float:
        """The relative allowance rho in every tolerance, times sum |g_i w_i| (which bounds |<g,
        w>|): the analytic gradient's own round-off, a thousand ulps per term. Not the sensitivity
        (round-off of the loss sets that, far above this); a model's `rtol` replaces it."""
        return 1e3 * self.eps


FLOAT64 = Precision(
    "float64",
    target=1e-5,
    default_rtol=1e-5,
    boost_max=4096.0,
    top_up=2,
    ladder=_FLOAT64_LADDER,
    settles_itself=True,
)
FLOAT32 = Precision(
    "float32",
    target=1e-2,
    default_rtol=1e-2,
    boost_max=1.0,
    top_up=0,
    ladder=((1.0, 1.0, False),),
    settles_itself=False,
)
BY_NAME = {precision.name: precision for precision in (FLOAT64, FLOAT32)}


def of(name: str) -> Precision:
    """The precision called `name` (config validation admits only these names)."""
    return BY_NAME[name]
