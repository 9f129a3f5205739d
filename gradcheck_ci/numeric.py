"""Finite differences and the error model. Pure numpy: no Theano, no model knowledge.

A derivative is always compared along a direction `v` in one parameter tensor: a single element (full
mode) or a random Gaussian vector (directional mode). `loss_along(t)` returns the loss at p + t*v.

The error model (see docs/numerics.md):
- step: h = eps^(1/3) * max(|p|, 1) per element (optimal for central differences up to a constant);
- round-off of the difference quotient: K * eps * |loss| / h;
- truncation error is not guessed: when the first quotient D(h) does not agree within tolerance, one more
  point, L(p + 2h*v), with the loss at p itself (known from the analytic pass) makes four points, and the
  cubic through them gives the derivative to O(h^3). D(h)'s own error is O(h^2), so the gap between the
  two (the spread) measures it; a wrong gradient leaves a gap to the analytic value far larger than that;
- plus the relative part rtol * max(|analytic|, |numeric|, scale).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

ROUNDOFF_FACTOR = 16.0  # loss evaluations sum many terms; their round-off is a few dozen ulps, not one
DEFAULT_RTOL = {"float64": 1e-5, "float32": 1e-2}


def machine_eps(precision: str) -> float:
    return float(np.finfo(precision).eps)


def rms(value: npt.NDArray[Any]) -> float:
    """Root mean square of an array (0 for an empty one): the magnitude a directional step scales with."""
    return float(np.sqrt(np.mean(np.square(value, dtype="float64")))) if value.size else 0.0


def base_step(precision: str, magnitude: float) -> float:
    return float(machine_eps(precision) ** (1.0 / 3.0)) * max(magnitude, 1.0)


@dataclass
class Comparison:
    analytic: float
    numeric: float
    abs_err: float
    rel_err: float
    tolerance: float
    passed: bool
    evaluations: int
    step: float
    spread: float  # |D(h) - D3| (see refine), when measured; 0 otherwise
    smooth: bool  # False when the two step sizes disagree far beyond round-off: a kink or a jump
    refined: bool = False  # whether the refinement was measured
    noise: float = 0.0  # round-off bound of the first difference quotient
    scale: float = 0.0
    plus: float = 0.0  # L(p + h v) and L(p - h v), for the refinement
    minus: float = 0.0

    @property
    def excess(self) -> float:
        return self.abs_err / self.tolerance if self.tolerance > 0 else math.inf

    @property
    def needs_refining(self) -> bool:
        return not self.passed and not self.refined and math.isfinite(self.numeric)


def compare(analytic: float, loss_along: Callable[[float], float], step: float, precision: str,
            rtol: float, atol: float = 0.0, scale: float = 0.0, refine_failures: bool = True,
            base_loss: float | None = None) -> Comparison:
    """Central difference along one direction against the analytic directional derivative.

    With refine_failures=False a disagreement is left unrefined (2 evaluations): the caller refines only
    the comparisons it needs to (see `refine`), e.g. the worst elements of a tensor. `base_loss` is
    loss_along(0), when the caller knows it.
    """
    eps = machine_eps(precision)
    plus, minus = loss_along(step), loss_along(-step)
    d1 = (plus - minus) / (2 * step)
    noise = ROUNDOFF_FACTOR * eps * max(abs(plus), abs(minus), 1e-30) / step
    reference = max(abs(analytic), abs(d1), scale)
    tolerance = atol + noise + rtol * reference
    err = abs(d1 - analytic)
    first = Comparison(analytic, d1, err, _rel(err, reference), tolerance, err <= tolerance, 2, step, 0.0, True,
                       noise=noise, scale=scale, plus=plus, minus=minus)
    if first.needs_refining and refine_failures:
        return refine(first, loss_along, rtol, atol, base_loss)
    return first


def refine(first: Comparison, loss_along: Callable[[float], float], rtol: float, atol: float = 0.0,
           base_loss: float | None = None) -> Comparison:
    """Separate truncation error (measured) from a wrong gradient (what remains).

    The points -h, 0, h, 2h determine a cubic; its slope at 0, (-2L(-h) - 3L(0) + 6L(h) - L(2h)) / 6h, is
    the derivative to O(h^3) where the central quotient D(h) is only O(h^2), so |D(h) - D3| is D(h)'s
    truncation error. One evaluation when `base_loss` (L(0)) is known, two otherwise. Its round-off is at
    most twice D(h)'s (the coefficients sum to 12/6 against 2/2).
    """
    analytic, d1, step = first.analytic, first.numeric, first.step
    at_zero = loss_along(0.0) if base_loss is None else base_loss
    at_2h = loss_along(2 * step)
    d3 = (-2 * first.minus - 3 * at_zero + 6 * first.plus - at_2h) / (6 * step)
    noise2 = 2 * first.noise
    spread = abs(d1 - d3)
    # A kink shows as two estimates that disagree by more than round-off allows, relative to the values
    # themselves; the curvature of a smooth loss makes them agree to O(h^2), far below 1%.
    smooth = spread <= 4 * noise2 + 0.01 * max(abs(d1), abs(d3))
    # The spread is D(h)'s truncation error only where the loss is smooth; across a kink it measures the
    # kink, and allowing it would pass any gradient there.
    reference = max(abs(analytic), abs(d3), first.scale)
    tolerance = atol + noise2 + (spread if smooth else 0.0) + rtol * reference
    err = abs(d3 - analytic)
    return Comparison(analytic, d3, err, _rel(err, reference), tolerance, err <= tolerance,
                      first.evaluations + (1 if base_loss is not None else 2), step, spread, smooth, refined=True,
                      noise=first.noise, scale=first.scale, plus=first.plus, minus=first.minus)


def _rel(err: float, reference: float) -> float:
    return err / reference if reference > 0 else (0.0 if err == 0 else math.inf)
