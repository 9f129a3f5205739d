"""The verdict's checks that need no model (gradcheck_ci/engine/verdict.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradcheck_ci.core.errors import ModelLoadError
from gradcheck_ci.engine import verdict
from tests.samples import spec


def test_a_non_finite_loss_without_a_model_points_at_the_config():
    verdict.require_finite_loss(1.5, spec(), "gradcheck.yml")
    with pytest.raises(ModelLoadError) as caught:
        verdict.require_finite_loss(float("nan"), spec(key_lines={"loss": 9}), "gradcheck.yml")
    assert caught.value.kind == "nan-or-inf" and (caught.value.file, caught.value.line) == (
        "gradcheck.yml",
        9,
    )
    assert "the loss of 'net' is nan on the synthetic data (seed 0)" in caught.value.message


def test_one_locator_names_the_first_non_finite_array_and_its_first_bad_element():
    # the error message (locate_non_finite) and the nan-or-inf diagnosis both read it
    arrays = [np.ones(3), np.arange(4), np.array([[1.0, -math.inf], [math.nan, 0.0]]), [math.nan]]
    assert verdict.first_non_finite(arrays) == (2, [0, 1])
    assert verdict.first_non_finite(reversed(arrays)) == (0, [0])
    assert verdict.first_non_finite([np.ones(2), np.arange(3)]) is None
    assert verdict.first_non_finite([np.float64(math.inf)]) == (0, [])
    assert [
        verdict.non_finite_kind(np.array(v))
        for v in ([1, math.nan, math.inf], [-math.inf, math.inf], [-math.inf])
    ] == ["NaN", "Inf", "-Inf"]


def _with_sensitivities(precision: str, **sensitivities: float | None):
    from dataclasses import replace

    from tests.samples import model, param

    params = [
        replace(param(name, file="models/net.py", line=10 + k), sensitivity=value)
        for k, (name, value) in enumerate(sensitivities.items())
    ]
    result = model("net", "pass", params=params)
    result.precision = precision
    return result


def test_a_sensitivity_far_short_of_the_aim_is_a_notice_at_the_worst_tensor_with_what_would_help():
    # Used to carry no note at all: 6.99e-3 against the aim of 1e-5 read like any other number in
    # the table.
    result = _with_sensitivities(
        "float64",
        **{
            "DenseLayer#0.W": 2e-6,
            "Embed#0.W": 6.99e-3,
            "Embed#1.W": 0.5,
            "DenseLayer#1.W": 2.55e6,
            "DenseLayer#1.b": None,
        },
    )
    notice = verdict.sensitivity_notice(result)
    assert notice is not None and notice.code == "sensitivity-short"
    assert (notice.file, notice.line) == ("models/net.py", 12)  # Embed#1.W: the furthest
    assert notice.message.startswith(
        "sensitivity far short of the aim (1e-05 in float64): Embed#1.W 0.5, Embed#0.W 0.00699; "
        "a relative gradient error smaller than that"
    )
    assert "DenseLayer#0.W" not in notice.message  # within the aim
    assert "DenseLayer#1.W" not in notice.message  # no relative statement at all: below
    assert "`data:` sizes" in notice.message and "another `seed`" in notice.message


def test_a_gradient_below_round_off_is_named_and_left_out_of_the_models_sensitivity():
    # A conv bias before an instance normalisation: its gradient is round-off (|g| 1e-16), its
    # sensitivity 3e3; the model stated "3.03e+03 or more in any tensor" and advised more data.
    result = _with_sensitivities(
        "float64", **{"Conv#0.W": 1e-9, "Conv#0.b": 3.03e3, "Dense#0.W": 1.7e-8, "Dense#0.b": None}
    )
    result.params[1].grad_norm = 1.25e-16
    assert verdict.model_sensitivity(result) == 1.7e-8
    assert verdict.sensitivity_notice(result) is None
    [notice] = verdict.sensitivity_notices(result)
    assert notice.code == "gradient-below-roundoff"
    assert (notice.file, notice.line) == ("models/net.py", 11)
    assert notice.message.startswith(
        "the loss hardly depends on Conv#0.b (|g| 1.3e-16) at this point: its gradient is below "
        "what the loss's round-off lets finite differences resolve"
    )
    assert "`b=None`" in notice.message


def test_a_sensitivity_near_the_aim_or_a_failing_tensor_gets_no_notice():
    assert (
        verdict.sensitivity_notice(_with_sensitivities("float64", **{"A#0.W": 9e-5, "B#0.W": 1e-5}))
        is None
    )
    assert (
        verdict.sensitivity_notice(_with_sensitivities("float32", **{"A#0.W": 5e-2})) is None
    )  # aim 1e-2
    failing = _with_sensitivities("float64", **{"A#0.W": 1.0})
    failing.params[0].status = "fail"
    assert verdict.sensitivity_notice(failing) is None


def test_the_progress_line_names_the_same_worst_tensor_as_every_report():
    # Used to rank by relative error while the table, HTML, JUnit and annotations rank by error /
    # tolerance.
    from gradcheck_ci.report.common import worst_param
    from tests.samples import model, param

    far_over = param(
        "Dense#0.W", "fail", abs_err=1e-3, rel=0.02, tol=1e-9, file="models/net.py", line=4
    )
    large_rel = param(
        "Dense#1.b", "fail", abs_err=1e-7, rel=0.9, tol=1e-8, file="models/net.py", line=5
    )
    result = model("net", "fail", params=[large_rel, far_over])
    assert worst_param(result) is far_over
    assert verdict.checked_line(result) == (
        "checked: FAIL, 2 of 2 tensors disagree (worst: Dense#0.W at "
        "models/net.py:4); diagnosing why"
    )


def _all_zero(*norms: float | None, status: str = "pass", custom_site=None):
    from dataclasses import replace
    from types import SimpleNamespace

    from gradcheck_ci.usercode.sites import CallSite
    from tests.samples import model, param

    params = [
        replace(param(f"Dense#{k}.W", status, file="models/net.py", line=10 + k), grad_norm=norm)
        for k, norm in enumerate(norms)
    ]
    result = model("net", "pass", params=params)
    built = SimpleNamespace(output=object(), site=lambda layer: CallSite("models/net.py", 20))
    return result, built, SimpleNamespace(custom_site=custom_site)


def test_every_gradient_exactly_zero_is_inconclusive_with_a_notice_at_the_output_layer():
    # An output cast to int: it passed with grad_norm 0 and no word, though nothing was checked.
    result, built, objective = _all_zero(0.0, 0.0)
    notice = verdict.all_zero_notice(result, built, objective)
    assert notice is not None and notice.code == "gradient-all-zero"
    assert (notice.file, notice.line) == ("models/net.py", 20)
    assert notice.message.startswith(
        "every gradient is exactly zero at the checked point (all 2 tensors): the loss does not "
        "depend on any parameter here, so the comparison could not see any error"
    )
    assert "integer cast" in notice.message and "stop-gradient" in notice.message
    assert "dead at this seed" in notice.message
    assert [p.status for p in result.params] == ["inconclusive", "inconclusive"]
    assert verdict.model_status(result, spec()) == "inconclusive"
    # a custom loss is where the loss is made
    result, built, objective = _all_zero(0.0, custom_site=("losses.py", 3))
    notice = verdict.all_zero_notice(result, built, objective)
    assert notice is not None and (notice.file, notice.line) == ("losses.py", 3)


@pytest.mark.parametrize(
    "norms, status", [((0.0, 1e-3), "pass"), ((0.0, None), "pass"), ((0.0, 0.0), "fail"), ((), "")]
)
def test_a_gradient_that_is_not_zero_everywhere_or_a_failure_leaves_the_verdict_alone(
    norms, status
):
    # some tensors zero: the disconnected diagnosis names them, or the sensitivity line leaves
    # them out; a failure is a failure
    result, built, objective = _all_zero(*norms, status=status)
    assert verdict.all_zero_notice(result, built, objective) is None
    assert [p.status for p in result.params] == [status] * len(norms)
