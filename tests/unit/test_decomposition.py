"""A band's confirmed disagreement decomposed into its members' parts (engine/band_lines.py): the
last part is judged as what is left of the band's line once the others were measured and confirmed
along it (line.remainder), which saves its own line. On a quadratic whose gradient is known exactly
(numpy, no Theano): the same verdicts, worst elements and errors as measuring the last part on its
own line, 6 evaluations fewer, and a correct last tensor beside wrong ones never fails."""

from __future__ import annotations

import numpy as np
import pytest

from gradcheck_ci.engine import band_lines, line
from tests.unit.test_directional_statistics import SHAPES, Quadratic, run


@pytest.fixture(autouse=True)
def one_process(monkeypatch):
    monkeypatch.setenv("GRADCHECK_CI_FORK_EVALUATIONS", "never")


def scaled(seed: int, factors: dict[int, float]) -> Quadratic:
    """The gradient of tensor k times factors[k] (a truncation shrinks the whole gradient)."""
    clean = Quadratic(seed)
    return Quadratic(
        seed, {k: (f - 1.0) * clean.exact(k, clean.values[k]) for k, f in factors.items()}
    )


def spent(results: dict) -> int:
    return sum(r.evaluations for r in results.values())


@pytest.mark.parametrize("seed", range(8))
def test_the_last_part_is_what_is_left_of_the_band_and_says_what_its_own_line_says(
    seed, monkeypatch
):
    every_tensor_wrong = {k: 0.01 for k in range(len(SHAPES))}
    left = run(scaled(seed, every_tensor_wrong), seed)
    monkeypatch.setattr(band_lines, "remainder", lambda band, others: None)
    own = run(scaled(seed, every_tensor_wrong), seed)
    assert [r.status for r in left.values()] == ["fail"] * len(SHAPES)
    assert [(r.status, r.worst_index) for r in left.values()] == [
        (r.status, r.worst_index) for r in own.values()
    ]
    last = len(SHAPES) - 1
    assert left[last].max_rel_err == pytest.approx(own[last].max_rel_err, rel=1e-6)
    assert spent(left) == spent(own) - 6


@pytest.mark.parametrize("seed", range(20))
def test_a_correct_last_tensor_beside_wrong_ones_never_fails(seed):
    results = run(scaled(seed, {0: 0.5, 1: 1.0 + 1e-3}), seed)
    assert [r.status for r in results.values()] == ["fail", "fail", "pass"], seed


@pytest.mark.parametrize("seed", range(4))
def test_verdicts_only_leave_the_worst_element_out_and_say_the_same(seed):
    """A re-check asked only which tensors fail (CheckSettings.localise off: the diagnosis'
    per-layer re-checks) says the same of every tensor, with no worst element and fewer
    evaluations."""
    wrong = scaled(seed, {0: 0.5, 1: 1.0 + 1e-3})
    located, verdicts = run(wrong, seed), run(wrong, seed, localise=False)
    assert [r.status for r in verdicts.values()] == [r.status for r in located.values()]
    assert [r.max_abs_err for r in verdicts.values()] == [r.max_abs_err for r in located.values()]
    failed = [k for k, r in located.items() if r.status == "fail"]
    assert failed and all(located[k].worst_index is not None for k in failed)
    assert all(verdicts[k].worst_index is None for k in failed)


def test_the_remainder_needs_confirmed_lines_along_the_same_step():
    band = line.Judgement(line.FAIL, 1.0, 2.0, 0.1, 0.2, 1e-3, 6, 1e-12, 0.0, {}, 0.1)
    first_pass_only = line.Judgement(
        line.PASS, 0.5, 0.5, 0.1, 0.2, 1e-3, 4, 1e-12, 0.0, {1.0: 0.0, -1.0: 0.0}
    )
    assert line.remainder(band, [first_pass_only]) is None
    assert np.isinf(first_pass_only.second)
