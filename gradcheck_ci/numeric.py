"""Finite differences and the error model. Pure numpy: no Theano, no model knowledge.

A derivative is always compared along a direction `v` in one parameter tensor: a single element (full
mode) or a random Gaussian vector (directional mode). `loss_along(t)` returns the loss at p + t*v.

The error model (see docs/numerics.md):
- step: h = eps^(1/3) * max(|p|, 1) per element (optimal for central differences up to a constant);
- round-off of the difference quotient: K * eps * |loss| / h;
- truncation error is not guessed: when the first quotient D(h) does not agree within tolerance, a second
  one at h/2 measures it. If the gradient is right, |D(h/2) - a| is about a quarter of |D(h) - a|, so the
  spread |D(h) - D(h/2)| bounds it; a wrong gradient leaves a gap far larger than that spread;
- plus the relative part rtol * max(|analytic|, |numeric|, scale).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

ROUNDOFF_FACTOR = 16.0  # loss evaluations sum many terms; their round-off is a few dozen ulps, not one
DEFAULT_RTOL = {"float64": 1e-5, "float32": 1e-2}


def machine_eps(precision: str) -> float:
    return float(np.finfo(precision).eps)


def base_step(precision: str, magnitude: float) -> float:
    return machine_eps(precision) ** (1.0 / 3.0) * max(magnitude, 1.0)


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
    spread: float  # |D(h) - D(h/2)|, when measured; 0 otherwise
    smooth: bool  # False when the two step sizes disagree far beyond round-off: a kink or a jump
    refined: bool = False  # whether the second step size was measured
    noise: float = 0.0  # round-off bound of the first difference quotient
    scale: float = 0.0

    @property
    def excess(self) -> float:
        return self.abs_err / self.tolerance if self.tolerance > 0 else math.inf

    @property
    def needs_refining(self) -> bool:
        return not self.passed and not self.refined and math.isfinite(self.numeric)


def compare(analytic: float, loss_along: Callable[[float], float], step: float, precision: str,
            rtol: float, atol: float = 0.0, scale: float = 0.0, refine_failures: bool = True) -> Comparison:
    """Central difference along one direction against the analytic directional derivative.

    With refine_failures=False a disagreement is left unrefined (2 evaluations): the caller refines only
    the comparisons it needs to (see `refine`), e.g. the worst elements of a tensor.
    """
    eps = machine_eps(precision)
    plus, minus = loss_along(step), loss_along(-step)
    d1 = (plus - minus) / (2 * step)
    noise = ROUNDOFF_FACTOR * eps * max(abs(plus), abs(minus), 1e-30) / step
    reference = max(abs(analytic), abs(d1), scale)
    tolerance = atol + noise + rtol * reference
    err = abs(d1 - analytic)
    first = Comparison(analytic, d1, err, _rel(err, reference), tolerance, err <= tolerance, 2, step, 0.0, True,
                       noise=noise, scale=scale)
    if first.needs_refining and refine_failures:
        return refine(first, loss_along, rtol, atol)
    return first


def refine(first: Comparison, loss_along: Callable[[float], float], rtol: float, atol: float = 0.0) -> Comparison:
    """A second step size separates truncation error (shrinks 4x) from a wrong gradient (does not shrink)."""
    analytic, d1, step = first.analytic, first.numeric, first.step
    half = step / 2
    plus2, minus2 = loss_along(half), loss_along(-half)
    d2 = (plus2 - minus2) / (2 * half)
    noise2 = 2 * first.noise
    spread = abs(d1 - d2)
    extrapolated = (4 * d2 - d1) / 3
    reference = max(abs(analytic), abs(d2), first.scale)
    tolerance = atol + noise2 + spread + rtol * reference
    err = abs(extrapolated - analytic)
    # A kink shows as two step sizes that disagree by more than round-off allows, relative to the values
    # themselves; the curvature of a smooth loss makes them agree to O(h^2), far below 1%.
    smooth = spread <= 4 * noise2 + 0.01 * max(abs(d1), abs(d2))
    return Comparison(analytic, extrapolated, err, _rel(err, reference), tolerance, err <= tolerance,
                      first.evaluations + 2, step, spread, smooth, refined=True, noise=first.noise,
                      scale=first.scale)


def _rel(err: float, reference: float) -> float:
    return err / reference if reference > 0 else (0.0 if err == 0 else math.inf)
