"""The directional mode's statistics (gradcheck_ci/engine/directional.py and the modules it runs) on
a loss whose gradient is known exactly: a quadratic in numpy, no Theano. Correct gradients never
fail whatever the seed, an error as small as the stated sensitivity is caught as often as
docs/numerics.md promises, and a failing tensor's worst element is the one that is wrong."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from gradcheck_ci.engine import directional, numeric
from gradcheck_ci.engine.evaluation import CompiledCheck, at_point
from gradcheck_ci.engine.precision import FLOAT64
from gradcheck_ci.engine.settings import settings_of
from gradcheck_ci.model.built import ParamInfo
from tests.samples import spec

SHAPES = [(6, 5), (7,), (4, 3)]


@pytest.fixture(autouse=True)
def one_process(monkeypatch):
    """Unit tests start no process: every evaluation here (whatever its time) stays in this one."""
    monkeypatch.setenv("GRADCHECK_CI_FORK_EVALUATIONS", "never")


SEEDS = range(40)


class Quadratic:
    """L(p) = sum_k 1/2 p_k' A_k p_k + c_k' p_k, each A_k symmetric positive definite; its gradient,
    with an optional constant error added to it (what a wrong grad() would return)."""

    def __init__(self, seed: int, errors: dict[int, np.ndarray] | None = None) -> None:
        rng = np.random.RandomState(1000 + seed)
        self.matrices, self.linear, self.values = [], [], []
        for shape in SHAPES:
            n = int(np.prod(shape))
            m = rng.standard_normal((n, n))
            self.matrices.append(m @ m.T / n + np.eye(n))
            self.linear.append(rng.standard_normal(n))
            self.values.append(rng.standard_normal(shape))
        self.errors = errors or {}

    def loss(self, *values: np.ndarray) -> float:
        return float(
            sum(
                0.5 * v.ravel() @ a @ v.ravel() + c @ v.ravel()
                for v, a, c in zip(values, self.matrices, self.linear, strict=True)
            )
        )

    def exact(self, k: int, value: np.ndarray) -> np.ndarray:
        return (self.matrices[k] @ value.ravel() + self.linear[k]).reshape(value.shape)

    def loss_and_grads(self, *values: np.ndarray) -> list:
        grads = [self.exact(k, v) + self.errors.get(k, 0.0) for k, v in enumerate(values)]
        return [self.loss(*values), *grads]


@dataclass
class FakeModel:
    params: list[ParamInfo]


def run(quadratic: Quadratic, seed: int, localise: bool = True) -> dict[int, object]:
    check = CompiledCheck(quadratic.loss_and_grads, quadratic.loss, [], quadratic.values, "float64")
    grads = quadratic.loss_and_grads(*quadratic.values)[1:]
    model = FakeModel(
        [ParamInfo(f"p{k}", None, None, f"Fake#{k}", None) for k in range(len(SHAPES))]
    )
    indices = list(range(len(SHAPES)))
    settings = replace(settings_of(spec(seed=seed)), localise=localise)
    assert (settings.rtol, settings.atol) == (FLOAT64.allowance, 0.0)
    return directional.compare_tensors(
        check, model, grads, indices, settings, lambda _: None, at_point
    )


def test_correct_gradients_pass_with_the_target_sensitivity_whatever_the_seed():
    for seed in SEEDS:
        results = run(Quadratic(seed), seed)
        assert [r.status for r in results.values()] == ["pass"] * len(SHAPES), seed
        for r in results.values():
            assert r.sensitivity is not None and r.sensitivity <= FLOAT64.target, (
                seed,
                r.sensitivity,
            )


@pytest.mark.parametrize("k", range(len(SHAPES)))
def test_a_wrong_element_fails_its_tensor_alone_and_is_the_worst_element(k):
    clean = Quadratic(3)
    wrong = np.zeros(SHAPES[k])
    index = tuple(s - 2 for s in SHAPES[k])
    wrong[index] = 1e-3 * np.linalg.norm(clean.exact(k, clean.values[k]))
    results = run(Quadratic(3, {k: wrong}), 3)
    assert [r.status for r in results.values()] == [
        "pass" if j != k else "fail" for j in range(len(SHAPES))
    ]
    assert tuple(results[k].worst_index) == index
    assert results[k].numeric - results[k].analytic == pytest.approx(-wrong[index], rel=1e-3)


@pytest.mark.parametrize("fraction", [1.0, 0.1, 0.03])
def test_errors_at_and_below_the_stated_sensitivity_are_missed_no_more_often_than_promised(
    fraction,
):
    """docs/numerics.md: an error whose norm is the stated sensitivity times the gradient's is
    caught with probability at least 1 - numeric.MISS_PROBABILITY, for any error vector; a fraction
    f of it (k directions) is missed with probability at most MISS_PROBABILITY / f^k. Counted over
    40 seeds, with three standard deviations of slack: a sensitivity overstated tenfold fails (the
    bound is conservative: threefold passes)."""
    misses, expected, variance = 0, 0.0, 0.0
    for seed in SEEDS:
        clean = Quadratic(seed)
        stated = run(clean, seed)[0]
        gradient = clean.exact(0, clean.values[0])
        error = np.random.RandomState(seed).standard_normal(SHAPES[0])
        error *= fraction * stated.sensitivity * np.linalg.norm(gradient) / np.linalg.norm(error)
        status = run(Quadratic(seed, {0: error}), seed)[0].status
        assert status in ("pass", "fail"), (seed, status)
        misses += status == "pass"
        bound = min(1.0, numeric.MISS_PROBABILITY / fraction**stated.directions)
        expected += bound
        variance += bound * (1.0 - bound)
    assert misses <= expected + 3.0 * variance**0.5, (misses, expected)


def test_an_error_well_below_the_round_off_never_fails():
    """No false alarm from the statistics: an error far below what finite differences can resolve
    passes."""
    for seed in range(10):
        clean = Quadratic(seed)
        tiny = 1e-12 * np.linalg.norm(clean.exact(1, clean.values[1])) * np.ones(SHAPES[1])
        assert all(r.status == "pass" for r in run(Quadratic(seed, {1: tiny}), seed).values())
