"""The engine's comparison along a line (line.probe) and its sensitivity, on functions known
exactly (no Theano): correct slopes pass, wrong ones are confirmed, kinks and round-off are never a
failure, and an error at the stated sensitivity is caught in at least 99% of random directions,
cancellation included."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradcheck_ci.engine import line, numeric

H = {p: float(np.finfo(p).eps ** (1 / 3)) for p in ("float64", "float32")}


def probe(f, x0: float, slope: float, precision: str = "float64", step: float | None = None):
    return line.probe(
        slope, lambda t: float(f(x0 + t)), step or H[precision], precision, 0.0, float(f(x0))
    )


@pytest.mark.parametrize("scale", [1e-6, 1e-3, 1.0, 1e3])
def test_correct_slopes_pass_at_every_scale(scale):
    f = lambda x: scale * math.sin(3 * x) + 0.7
    j = probe(f, 0.3, scale * 3 * math.cos(0.9))
    assert j.verdict == line.PASS and j.evaluations == 4, j


def test_a_small_wrong_slope_is_confirmed_with_six_evaluations():
    f = lambda x: math.sin(3 * x) + 0.5
    j = probe(f, 0.3, 3 * math.cos(0.9) * (1 + 1e-7))
    assert j.verdict == line.FAIL and j.evaluations == 6
    assert j.error == pytest.approx(-3 * math.cos(0.9) * 1e-7, rel=1e-2)


def test_strong_curvature_does_not_make_a_failure():
    # exp(30x): D(h) alone is off by far more than round-off; R(1) is not
    f = lambda x: math.exp(30 * x)
    assert probe(f, 0.1, 30 * math.exp(3.0)).verdict == line.PASS


@pytest.mark.parametrize("offset", [0.0] + [float(t) for t in np.linspace(-4.2, 4.2, 85)])
def test_a_kink_anywhere_within_reach_is_never_a_failure(offset):
    # |x| has no derivative at 0; any slope a one-sided convention would give (1, -1, 0) is "right"
    # there
    h = H["float64"]
    x0 = offset * h
    for slope in (1.0, -1.0, 0.0) if offset == 0.0 else (math.copysign(1.0, x0),):
        j = probe(lambda x: abs(x) + 0.3 * x * x, x0, slope + 0.6 * x0)
        assert j.verdict != line.FAIL, (offset, slope, j)


@pytest.mark.parametrize("jump", [1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 1e3])
@pytest.mark.parametrize("fraction", [1.0, 1 / 8, 1 / 64])
def test_a_curvature_jump_at_the_point_is_not_a_failure(jump, fraction):
    # C1 but not C2 at 0 (a rectified unit exactly at 0, seen from its bias): central differences
    # grow linearly with the step, the fourth differences are 0, and R(1), R(2) differ by a factor 2
    f = lambda x: (jump if x > 0 else -0.5 * jump) * x * x + 0.3 * x + 0.7
    j = probe(f, 0.0, 0.3, step=H["float64"] * fraction)
    assert j.verdict != line.FAIL, j


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_round_off_up_to_the_bound_is_never_a_failure(precision):
    eps = float(np.finfo(precision).eps)
    rng = np.random.default_rng(0)
    delta = numeric.ROUNDOFF_FACTOR * eps
    for _ in range(400):
        noise = rng.uniform(-delta, delta, size=7)
        values = iter(noise)
        along = lambda t, values=values: 1.0 + 0.1 * math.sin(0.2 + t) + next(values, 0.0)
        j = line.probe(
            0.1 * math.cos(0.2), along, H[precision], precision, 0.0, 1.0 + 0.1 * math.sin(0.2)
        )
        assert j.verdict != line.FAIL


def test_sensitivity_formula():
    # one direction: P(miss) <= sqrt(2/pi) T / (r |g|) = 1% at r = 79.8 T / |g|
    assert numeric.sensitivity([1.0], 1.0) == pytest.approx(100 * math.sqrt(2 / math.pi))
    two = numeric.sensitivity([1.0, 1.0], 1.0)
    assert two == pytest.approx(10 * math.sqrt(2 / math.pi))
    assert numeric.miss_probability(two, [1.0, 1.0], 1.0) == pytest.approx(0.01)
    # a direction that says nothing (inf) counts as a miss; none at all: no sensitivity
    assert numeric.sensitivity([1.0, math.inf], 1.0) == pytest.approx(100 * math.sqrt(2 / math.pi))
    assert numeric.sensitivity([], 1.0) is None and numeric.sensitivity([1.0], 0.0) is None
    # the min(1, .) per factor: a weak direction beside a strong one is not worth less than nothing
    assert (
        numeric.miss_probability(numeric.sensitivity([1e-3, 10.0], 1.0), [1e-3, 10.0], 1.0)
        <= 0.01 + 1e-12
    )


def test_an_error_at_the_stated_sensitivity_is_caught_in_99_percent_of_directions():
    """The guarantee, measured: a quadratic loss of two 'tensors' whose analytic gradient is wrong
    in both, by errors of opposite sign that cancel in the sum along g (the case that hid a real bug
    before), each of relative size equal to the sensitivity the lines state. Over many random
    directions, at most 1% miss."""
    rng = np.random.default_rng(1)
    n = 40
    A = rng.standard_normal((n, n)) / n
    A = A @ A.T
    b = rng.standard_normal(n)
    x0 = rng.standard_normal(n) * 0.1
    loss = lambda x: 0.5 * x @ A @ x + b @ x + 3.0
    g = A @ x0 + b
    first, second = slice(0, 30), slice(30, 40)
    threshold = numeric.predicted_threshold(loss(x0), H["float64"], "float64", 0.0)
    r = numeric.sensitivity([threshold], float(np.linalg.norm(g[first])))
    # the first tensor's gradient scaled by 1 + r, the second's by a factor that takes back exactly
    # as much along g: the two errors cancel in <e, g>
    e = np.zeros(n)
    e[first] = r * g[first]
    e[second] = -r * g[second] * (g[first] @ g[first]) / (g[second] @ g[second])
    assert abs(e @ g) < 1e-12 * np.linalg.norm(e) * np.linalg.norm(g)
    missed, trials = 0, 3000
    for _ in range(trials):
        w = rng.standard_normal(n)
        j = line.probe(
            float((g + e) @ w),
            lambda t, w=w: loss(x0 + t * w),
            H["float64"],
            "float64",
            0.0,
            loss(x0),
        )
        missed += j.verdict != line.FAIL
    assert missed / trials <= 0.01, missed


def test_a_line_spoilt_by_curvature_says_by_how_much_and_a_kink_or_noise_does_not():
    h = H["float64"]
    # x^4 / h^4 scaled up: the fourth differences are 24 m^4 c, far above round-off, and Q(2) = 16
    # Q(1); the slope given is wrong, so the first pass does not pass and the confirmation sees the
    # curvature
    c = 1e-10
    f = lambda x: c * (x / h) ** 4 + 0.5 * x + 1.0
    j = probe(f, 0.0, 0.6)
    assert j.verdict == line.NONSMOOTH
    excess = j.curvature_excess()
    assert excess == pytest.approx(24 * 16 * c / (line.SMOOTH_LIMIT * j.delta), rel=1e-3)
    # a move r times shorter has Q r^4 times smaller: the rule directional.py skips rungs by. r =
    # 1/8 is predicted not smooth and is not; r = 1/64 is predicted smooth, and judges (confirming
    # the error)
    assert (1 / 8) ** 4 * excess > 1 and probe(f, 0.0, 0.6, step=h / 8).verdict == line.NONSMOOTH
    assert (1 / 64) ** 4 * excess < 1 and probe(f, 0.0, 0.6, step=h / 64).verdict == line.FAIL
    # a kink inside the stencil: Q(2) and Q(1) are of the same order, not 16x apart
    kink = probe(lambda x: 1e-3 * abs(x - 0.5 * h) + 0.5 * x + 1.0, 0.0, 0.5 + 1e-3 * -1.0)
    assert kink.verdict == line.NONSMOOTH and kink.curvature_excess() is None
    # a line that judged is not spoilt
    assert probe(lambda x: math.sin(x), 0.2, math.cos(0.2)).curvature_excess() is None


def _noisy(size: float):
    """sin with a deterministic round-off-like noise of `size` (far above 16 eps |L|)."""
    import zlib

    def f(t: float) -> float:
        u = zlib.crc32(repr(t).encode()) / 2**32 - 0.5
        return math.sin(0.3 + t) + 0.5 + size * u

    return f, lambda ts: [f(t) for t in ts]


def test_a_line_not_smooth_for_round_off_is_judged_against_the_round_off_it_measures():
    f, batch = _noisy(2e-13)
    h, slope = H["float64"], math.cos(0.3)
    unmeasured, floor = line.judge(slope, batch, h, "float64", 0.0, f(0.0))
    assert unmeasured.verdict == line.NONSMOOTH and floor is None
    right, floor = line.judge(slope, batch, h, "float64", 0.0, f(0.0), measure_floor=True)
    assert right.verdict == line.PASS and floor is not None and floor > 16 * unmeasured.delta
    wrong, _ = line.judge(slope * (1 + 1e-4), batch, h, "float64", 0.0, f(0.0), measure_floor=True)
    assert wrong.verdict == line.FAIL


def test_noise_beyond_any_round_off_is_not_used_and_the_line_stays_unjudged():
    f, batch = _noisy(1e-8)
    judgement, floor = line.judge(
        math.cos(0.3), batch, H["float64"], "float64", 0.0, f(0.0), measure_floor=True
    )
    assert judgement.verdict == line.NONSMOOTH and floor == 0.0


def _kinks_near_zero(size: float):
    """sin along the line plus 200 kinks of slope jumps ~`size`, all within 2e-8 of t = 0: units
    within 1e-9 of their kink (tiny initial weights before a rectifier). Their fourth differences
    are far above round-off at the noise measurement's spacing, and shrink with it."""
    rng = np.random.default_rng(0)
    at = rng.uniform(-2e-8, 2e-8, 200)
    jumps = size * rng.standard_normal(200)

    def f(t: float) -> float:
        return math.sin(0.3 + t) + 0.5 + float(np.sum(jumps * np.abs(t - at)))

    return f, lambda ts: [f(t) for t in ts], math.cos(0.3) + float(np.sum(jumps * np.sign(-at)))


@pytest.mark.parametrize("size", [3e-4, 3e-3])
def test_kinks_within_reach_of_the_noise_measurement_are_not_taken_for_round_off(size):
    f, batch, slope = _kinks_near_zero(size)
    judgement, floor = line.judge(
        slope, batch, H["float64"], "float64", 0.0, f(0.0), measure_floor=True
    )
    # measured at 1/1024 of the step, they look like round-off a thousand times the usual bound;
    # at a spacing 64 times finer, they shrink as kinks do, and the floor is not used
    usual = 16 * np.finfo("float64").eps * f(0.0)
    assert line.noise_floor(f, f(0.0), H["float64"]) > line.CONFIRM_ABOVE * usual
    assert floor == 0.0 and judgement.verdict == line.NONSMOOTH


def test_round_off_a_thousand_times_the_usual_bound_is_confirmed_and_used():
    f, batch = _noisy(2e-11)
    h, slope = H["float64"], math.cos(0.3)
    measured = line.noise_floor(f, f(0.0), h)
    assert measured > line.CONFIRM_ABOVE * 16 * np.finfo("float64").eps * f(0.0)
    right, floor = line.judge(slope, batch, h, "float64", 0.0, f(0.0), measure_floor=True)
    assert right.verdict == line.PASS and floor == measured
    wrong, _ = line.judge(slope * (1 + 1e-2), batch, h, "float64", 0.0, f(0.0), measure_floor=True)
    assert wrong.verdict == line.FAIL
