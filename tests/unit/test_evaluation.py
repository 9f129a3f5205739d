"""The compiled check as the comparison sees it (gradcheck_ci/engine/evaluation.py), on numpy
functions: a batch of points given as data (Moved), each evaluated once and counted."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck_ci.engine.evaluation import CompiledCheck, Moved, with_tensor


@pytest.fixture(autouse=True)
def one_process(monkeypatch):
    """Unit tests start no process: every evaluation here (whatever its time) stays in this one."""
    monkeypatch.setenv("GRADCHECK_CI_FORK_EVALUATIONS", "never")


def test_moved_points_are_the_values_moved_along_their_parts_in_their_own_dtype():
    seen: list[list[np.ndarray]] = []

    def loss(*values: np.ndarray) -> float:
        seen.append(list(values))
        return float(sum(np.sum(v.astype("float64") ** 2) for v in values))

    base = [np.array([1.0, 2.0], dtype="float32"), np.array([[3.0]])]
    check = CompiledCheck(None, loss, [], base, "float32")
    part = np.array([1e-9, 0.5])
    losses = check.losses([Moved(base, {0: part}, t) for t in (1.0, -2.0)])
    assert check.evaluations == 2 and len(seen) == 2
    for t, values, value in zip((1.0, -2.0), list(seen), losses, strict=True):
        # rounded to float32 as the parameter is; the tensor not moved is the same array
        assert values[0].dtype == np.float32
        assert np.array_equal(values[0], (base[0] + t * part).astype("float32"))
        assert values[1] is base[1]
        assert value == loss(*values)


def test_a_point_without_parts_is_its_values_and_with_tensor_replaces_one():
    base = [np.zeros(2), np.ones(3)]
    replaced = with_tensor(base, 1, np.full(3, 2.0))
    assert replaced[0] is base[0] and np.array_equal(replaced[1], np.full(3, 2.0))
    assert np.array_equal(base[1], np.ones(3))  # the check's own values are left alone
    assert Moved(replaced).values_at() == replaced
