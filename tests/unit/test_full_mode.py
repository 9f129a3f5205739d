"""The full mode (gradcheck_ci/engine/full.py, its results in results.py) on losses whose gradient
is known exactly: numpy, no Theano. Each element's lines are tried in turn (the checked point, the
ladder's shorter steps, then the point near it), and the nearby point is made only when an element
reaches it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from gradcheck_ci.engine import line
from gradcheck_ci.engine.evaluation import CompiledCheck, at_point
from gradcheck_ci.engine.full import FullCheck, compare_tensors
from gradcheck_ci.engine.precision import FLOAT64
from gradcheck_ci.engine.settings import CheckSettings
from gradcheck_ci.model.built import ParamInfo

VALUES = [np.array([[0.7, -1.3, 0.2], [2.1, -0.4, 1.6]]), np.array([0.5, -0.9])]


@pytest.fixture(autouse=True)
def one_process(monkeypatch):
    """Unit tests start no process: every evaluation here (whatever its time) stays in this one."""
    monkeypatch.setenv("GRADCHECK_CI_FORK_EVALUATIONS", "never")


@dataclass
class FakeModel:
    params: list[ParamInfo]


def smooth(*values: np.ndarray) -> float:
    return float(sum(np.sum(np.cos(v) + 0.5 * v**2) for v in values))


def smooth_grads(*values: np.ndarray) -> list:
    return [smooth(*values), *(-np.sin(v) + v for v in values)]


def kinked(*values: np.ndarray) -> float:
    """A ReLU summed: a kink where an element is exactly 0 (its gradient there taken as 0)."""
    return float(sum(np.sum(np.maximum(v, 0.0)) for v in values))


def kinked_grads(*values: np.ndarray) -> list:
    return [kinked(*values), *((v > 0).astype("float64") for v in values)]


def check_of(loss, loss_and_grads, values, precision="float64"):
    values = [v.astype(precision) for v in values]
    check = CompiledCheck(loss_and_grads, loss, [], values, precision)
    grads = [np.asarray(g, dtype="float64") for g in loss_and_grads(*values)[1:]]
    return check, grads


def run(check: CompiledCheck, grads: list[np.ndarray]) -> dict:
    model = FakeModel([ParamInfo(f"p{k}", None, None, f"Fake#{k}", None) for k in range(2)])
    check.loss_at_base()
    check.evaluations = 0
    settings = CheckSettings("float64", "full", FLOAT64.allowance, 0.0, seed=0, directions=1)
    return compare_tensors(check, model, grads, [0, 1], settings, lambda _: None, at_point)


def test_a_smooth_loss_judges_every_element_at_the_checked_point_alone():
    check, grads = check_of(smooth, smooth_grads, VALUES)
    results = run(check, grads)
    assert [r.status for r in results.values()] == ["pass", "pass"]
    assert all(r.note is None and r.directions == r.evaluations // 4 for r in results.values())
    # the first pass of each element's line, and no nearby point: none was needed
    assert check.evaluations == 4 * sum(v.size for v in VALUES)


def test_an_element_at_a_kink_is_judged_at_the_nearby_point_after_the_shorter_steps():
    at_kink = [VALUES[0].copy(), VALUES[1]]
    at_kink[0][1, 2] = 0.0
    check, grads = check_of(kinked, kinked_grads, at_kink)
    full = FullCheck(check, grads, FLOAT64.allowance, 0.0, at_point)
    attempts = full.attempts()
    tried = [next(attempts)[2:] for _ in range(3)]
    # the checked point, then the ladder's shorter steps; the nearby point is not made yet
    assert tried == [(1.0, False), (1.0 / 8.0, False), (1.0 / 64.0, False)]
    assert full._nearby is None
    view, _, factor, near = next(attempts)
    assert (factor, near) == (1.0, True) and view is not check and full._nearby is not None
    assert next(attempts, None) is None

    results = run(*check_of(kinked, kinked_grads, at_kink))
    assert [r.status for r in results.values()] == ["pass", "pass"]
    assert "near the checked one" in (results[0].note or "")
    assert results[1].note is None


def test_float32_leaves_the_nearby_point_to_its_float64_check():
    check, grads = check_of(smooth, smooth_grads, VALUES, precision="float32")
    full = FullCheck(check, grads, FLOAT64.allowance, 0.0, at_point)
    assert [(factor, near) for _, _, factor, near in full.attempts()] == [(1.0, False)]
    assert full._nearby is None


class Scripted(FullCheck):
    """A FullCheck whose element lines say what a script says, attempt by attempt: (verdict, error,
    tolerance, max |Q| in round-off bounds). What is tested is the decision between attempts;
    test_lines.py tests the lines themselves."""

    def __init__(self, script: list[tuple[str, float, float, float]]) -> None:
        check, grads = check_of(smooth, smooth_grads, VALUES)
        super().__init__(check, grads, FLOAT64.allowance, 0.0, at_point)
        self.script = list(script)
        self.tried: list[bool] = []  # at the nearby point, per attempt

    def element(self, view, grads, index, i, factor):
        self.tried.append(view is not self.check)
        verdict, error, tolerance, fourth = self.script.pop(0)
        return line.Judgement(
            verdict, 1.0, 1.0 + error, tolerance, 2 * tolerance, factor, 4, 1.0, fourth, {}
        )


CLEAN_FAIL = ("fail", 5e-8, 1e-8, 0.5)  # fourth differences of round-off alone
KINKED_FAIL = ("fail", 5e-8, 1e-8, 6.0)  # below the smooth limit, above round-off
NONSMOOTH = ("nonsmooth", 0.0, float("inf"), 40.0)
PASS_THAT_SEES_IT = ("pass", 1e-9, 1e-8, 0.5)
PASS_TOO_COARSE = ("pass", 1e-9, 1e-7, 0.5)


@pytest.mark.parametrize(
    ("script", "verdict", "tried"),
    [
        # a disagreement on a line of round-off alone stands as it is
        ([CLEAN_FAIL], "fail", [False]),
        # with kinks within reach: measured again at the nearby point, whose pass refutes it
        ([KINKED_FAIL, PASS_THAT_SEES_IT], "pass", [False, True]),
        ([NONSMOOTH, CLEAN_FAIL, PASS_THAT_SEES_IT], "pass", [False, False, True]),
        # ... and whose disagreement confirms it
        ([KINKED_FAIL, CLEAN_FAIL], "fail", [False, True]),
        # a nearby line that could not have seen it, or could not judge: no verdict either way
        ([KINKED_FAIL, PASS_TOO_COARSE], "unresolved", [False, True]),
        ([NONSMOOTH, CLEAN_FAIL, NONSMOOTH], "unresolved", [False, False, True]),
        # a pass needs nothing more
        ([NONSMOOTH, PASS_THAT_SEES_IT], "pass", [False, False]),
    ],
)
def test_a_disagreement_where_kinks_are_within_reach_is_measured_again_near_the_point(
    script, verdict, tried
):
    full = Scripted(script)
    nearby: set[int] = set()
    judgement = full.judged(0, 0, nearby)
    assert judgement.verdict == verdict and full.tried == tried
    # the element counts as judged near the point only where that judgement is the one kept
    assert nearby == ({0} if verdict != "unresolved" and tried[-1] else set())
