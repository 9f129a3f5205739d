"""A band's plan (gradcheck_ci/engine/bands.py) from the base point's numbers alone: no Prober, no
evaluation. One band through every tensor; a tensor whose gradient is small against the loss's
round-off is boosted (at most the precision's boost_max), one whose gradient is zero is not, and a
re-check's boosts are taken as given."""

from __future__ import annotations

import numpy as np

from gradcheck_ci.engine import numeric
from gradcheck_ci.engine.bands import Point, plan
from gradcheck_ci.engine.evaluation import CompiledCheck
from gradcheck_ci.engine.precision import FLOAT64


def point(grads: list[np.ndarray]) -> Point:
    values = [np.ones_like(g) for g in grads]

    def no_evaluation(*_: np.ndarray) -> float:
        raise AssertionError("a plan evaluates nothing")

    check = CompiledCheck(no_evaluation, no_evaluation, [], values, "float64")
    return Point(check, values, grads, loss=1.0)


H = float(numeric.machine_eps("float64") ** (1.0 / 3.0))


def test_small_gradients_are_boosted_and_zero_ones_stay_in_the_band_unboosted():
    base = point([np.full(50, 1.0), np.full(3, 1e-9), np.zeros(4)])
    bands, boosts = plan(base, [0, 1, 2], 1, FLOAT64.target, FLOAT64.allowance, 0.0, H)
    assert [(b.members, b.name) for b in bands] == [([0, 1, 2], "band0:0,1,2")]
    assert 2 not in boosts  # no relative sensitivity to reach
    assert boosts[1] > boosts[0] >= 1.0
    assert boosts[1] == FLOAT64.boost_max
    assert bands[0].directions >= 1


def test_a_recheck_takes_the_boosts_it_is_given():
    base = point([np.full(50, 1.0), np.full(3, 1e-9)])
    given = {0: 1.0, 1: 7.5}
    _, boosts = plan(base, [0, 1], 2, FLOAT64.target, FLOAT64.allowance, 0.0, H, given)
    assert boosts == given
