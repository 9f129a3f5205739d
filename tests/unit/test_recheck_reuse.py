"""A re-check by the check's own probe function at its point (the diagnosis' ablation of a backward
pass: diagnose/ablation.py) probes the check's lines and reads their loss values instead of
evaluating them again (CompiledCheck.reused_values, reused_plan). Reading them must change nothing
but the evaluations: on a quadratic whose gradient is known exactly (numpy, no Theano), the re-check
says exactly what the same re-check says when it evaluates every point itself."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck_ci.engine import directional
from gradcheck_ci.engine.evaluation import CompiledCheck, at_point
from gradcheck_ci.engine.precision import FLOAT64
from gradcheck_ci.engine.settings import settings_of
from tests.samples import spec
from tests.unit.test_directional_statistics import SHAPES, FakeModel, ParamInfo, Quadratic


@pytest.fixture(autouse=True)
def one_process(monkeypatch):
    monkeypatch.setenv("GRADCHECK_CI_FORK_EVALUATIONS", "never")


class Recorded:
    """The loss, with every point it was evaluated at."""

    def __init__(self, quadratic: Quadratic) -> None:
        self.quadratic = quadratic
        self.points: list[bytes] = []

    def __call__(self, *values: np.ndarray) -> float:
        self.points.append(b"".join(np.ascontiguousarray(v).tobytes() for v in values))
        return self.quadratic.loss(*values)


MODEL = FakeModel([ParamInfo(f"p{k}", None, None, f"Fake#{k}", None) for k in range(len(SHAPES))])
INDICES = list(range(len(SHAPES)))


def check_with(gradients: Quadratic, loss: Recorded, seed: int, **reuse) -> tuple:
    check = CompiledCheck(gradients.loss_and_grads, loss, [], loss.quadratic.values, "float64")
    for name, value in reuse.items():
        setattr(check, name, value)
    grads = gradients.loss_and_grads(*loss.quadratic.values)[1:]
    settings = settings_of(spec(seed=seed))
    assert (settings.rtol, settings.atol) == (FLOAT64.allowance, 0.0)
    results = directional.compare_tensors(
        check, MODEL, grads, INDICES, settings, lambda _: None, at_point
    )
    return check, results


def summary(results: dict) -> list[tuple]:
    return [
        (r.status, r.sensitivity, r.directions, r.max_abs_err, r.band) for r in results.values()
    ]


@pytest.mark.parametrize("seed", range(6))
def test_a_recheck_reads_the_checks_lines_and_says_what_evaluating_them_says(seed):
    clean = Quadratic(seed)
    # every tensor's gradient half what it should be: the whole band fails, as a truncation does
    wrong = Quadratic(seed, {k: -0.5 * clean.exact(k, v) for k, v in enumerate(clean.values)})
    loss = Recorded(clean)
    check, failed = check_with(wrong, loss, seed)
    assert [r.status for r in failed.values()] == ["fail"] * len(SHAPES)
    assert check.line_values and check.plan.members == tuple(INDICES)

    # the ablation: the same loss at the same point, the gradient right now
    reading, evaluating = Recorded(clean), Recorded(clean)
    reuse = {"reused_plan": check.plan, "base_loss": check.base_loss}
    read, read_results = check_with(clean, reading, seed, reused_values=check.line_values, **reuse)
    _, all_results = check_with(clean, evaluating, seed, **reuse)

    assert summary(read_results) == summary(all_results)
    assert [r.status for r in read_results.values()] == ["pass"] * len(SHAPES)
    # the points the check evaluated are read, not evaluated again; every other point is
    assert not set(reading.points) & set(loss.points)
    assert set(evaluating.points) - set(loss.points) == set(reading.points)
    assert len(reading.points) + 4 <= len(evaluating.points)


def test_a_passing_check_keeps_no_values():
    clean = Quadratic(1)
    check, results = check_with(clean, Recorded(clean), 1)
    assert [r.status for r in results.values()] == ["pass"] * len(SHAPES)
    assert check.line_values == {}


@pytest.mark.parametrize(
    "gradient_seconds, timings, with_gradient", [(1e9, 1, False), (0.0, 2, True)]
)
def test_the_loss_is_timed_again_only_when_the_gradient_function_may_be_faster(
    gradient_seconds, timings, with_gradient
):
    """CompiledCheck.choose_probe_function: a first timing that favours the loss function is final
    (a second one could only be faster), so that evaluation is saved; one that favours the gradient
    function is taken again, as one timing on a shared machine can be off by 2x."""
    clean = Quadratic(0)
    check = CompiledCheck(clean.loss_and_grads, clean.loss, [], clean.values, "float64")
    loss = check.choose_probe_function(gradient_seconds)
    assert check.evaluations == timings and check.probe_with_gradient is with_gradient
    assert loss == check.base_loss == clean.loss(*clean.values)
