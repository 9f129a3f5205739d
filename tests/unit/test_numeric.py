"""The error model on functions whose derivatives are known exactly (no Theano)."""

import math

import numpy as np
import pytest

from gradcheck_ci.engine import numeric
from gradcheck_ci.engine.precision import of


def along(f, x0, direction):
    return lambda t: f(x0 + t * direction)


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_correct_derivative_passes_across_scales(precision):
    # Gradients from 1e-6 to 1e3: a bare relative threshold would fail the small ones in float32.
    for scale in (1e-6, 1e-3, 1.0, 1e3):
        f = lambda x, scale=scale: np.float64(np.asarray(scale * np.sin(x) + 0.7, dtype=precision))
        x0 = 0.3
        exact = scale * math.cos(x0)
        step = numeric.base_step(precision, abs(x0))
        c = numeric.compare(exact, along(f, x0, 1.0), step, precision, of(precision).default_rtol)
        assert c.passed, (scale, c)


def test_wrong_derivative_fails_even_when_tiny():
    f = lambda x: 1e-5 * x**2
    c = numeric.compare(
        1e-5 * 2 * 0.5 * 1.5, along(f, 0.5, 1.0), numeric.base_step("float64", 0.5), "float64", 1e-5
    )
    assert not c.passed
    assert c.rel_err > 0.1


def test_truncation_error_is_measured_not_guessed():
    # exp(30 x): huge curvature, so D(h) is off by more than the first tolerance; D(h/2) shows it
    # shrinking.
    f = lambda x: math.exp(30 * x)
    exact = 30 * math.exp(30 * 0.1)
    c = numeric.compare(exact, along(f, 0.1, 1.0), 1e-3, "float64", 1e-5)
    assert c.evaluations == 4
    assert c.passed, c


def test_kink_is_reported_as_not_smooth():
    f = lambda x: abs(x)
    c = numeric.compare(1.0, along(f, 1e-7, 1.0), 1e-3, "float64", 1e-5)
    assert c.evaluations == 4
    assert not c.smooth


def test_step_scales_with_parameter_and_precision():
    assert numeric.base_step("float64", 0.0) == pytest.approx(np.finfo("float64").eps ** (1 / 3))
    assert numeric.base_step("float64", 100.0) == pytest.approx(
        100 * np.finfo("float64").eps ** (1 / 3)
    )
    assert numeric.base_step("float32", 1.0) > 500 * numeric.base_step("float64", 1.0)
