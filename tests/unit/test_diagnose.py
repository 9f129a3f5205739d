"""The diagnosis stage's pure parts: no Theano, no model (fast)."""

import fnmatch
import math

import numpy as np
import pytest

from gradcheck_ci import diagnose
from gradcheck_ci.core import causes
from gradcheck_ci.core.extra import Profile
from gradcheck_ci.core.results import Diagnosis, ModelResult, ParamResult, RunReport
from gradcheck_ci.diagnose import low_precision, nan_or_inf, profile
from gradcheck_ci.diagnose.ablation import Outcome, attributes
from gradcheck_ci.diagnose.localise import kink_at_point, kinked
from gradcheck_ci.report.sarif import render_sarif
from tests import REPO

DOCS = REPO / "docs"


def test_codes_are_the_issue_codes_one_module_each():
    modules = [diagnose.finder(cause.code) for cause in causes.CAUSES]
    assert tuple(m.CODE for m in modules) == diagnose.CODES == causes.CODES
    assert set(diagnose.CODES) == {
        "truncated-bptt",
        "gradient-clipping",
        "gradient-stopped",
        "stochastic-forward",
        "non-differentiable",
        "low-precision",
        "nan-or-inf",
        "disconnected",
        "wrong-backward",
    }
    assert [m.__name__ for m in modules] == [
        f"gradcheck_ci.diagnose.{c.module}" for c in causes.CAUSES
    ]
    # the docstring is the documentation
    assert all(m.__doc__ and len(m.__doc__) > 200 for m in modules)


def test_causes_are_listed_in_run_order_and_each_module_has_its_phases_interface():
    assert list(diagnose.PHASES) == list(causes.PHASES)
    order = [list(causes.PHASES).index(cause.phase) for cause in causes.CAUSES]
    assert order == sorted(order)
    for cause in causes.CAUSES:
        module = diagnose.finder(cause.code)
        assert all(
            callable(getattr(module, name, None)) for name in diagnose.PHASES[cause.phase].interface
        ), cause


def test_the_docs_table_of_causes_is_the_registry():
    table = causes.markdown_table()
    assert table in (DOCS / "diagnosis.md").read_text(encoding="utf-8"), (
        "docs/diagnosis.md's table of causes differs from gradcheck_ci/core/causes.py: "
        "paste the output of `python -m gradcheck_ci.core.causes`"
    )


def test_sarif_rules_of_known_causes_come_from_the_registry():
    diagnoses = [Diagnosis(code=cause.code, message="m", fix="f") for cause in causes.CAUSES]
    model = ModelResult(
        name="m",
        factory="net:build",
        status="fail",
        seed=0,
        precision="float64",
        mode="full",
        diagnoses=diagnoses,
    )
    rules = {
        r["id"]: r
        for r in render_sarif(RunReport("g.yml", [model]), "1")["runs"][0]["tool"]["driver"][
            "rules"
        ]
    }
    for cause in causes.CAUSES:
        rule = rules[cause.code]
        assert rule["shortDescription"]["text"] == cause.title
        assert rule["fullDescription"]["text"].lower().startswith(cause.means.lower())
        assert rule["help"]["text"].lower().startswith(cause.fix.lower())


def test_diagnosis_can_be_switched_off_for_child_workers(monkeypatch):
    monkeypatch.setenv(low_precision.NO_DIAGNOSIS_ENV, "1")
    assert diagnose.diagnose(object()) == []


# ---------------------------------------------------------------- gradient-through-time profile


def test_short_sequences_are_profiled_at_every_step():
    assert profile.sample_steps(12) == list(range(12))


def test_long_sequences_are_sampled_at_both_ends_and_log_spaced_between():
    steps = profile.sample_steps(10000)
    assert steps == sorted(set(steps))
    edge = profile.EDGE
    assert set(range(edge)) <= set(steps) and set(range(10000 - edge, 10000)) <= set(steps)
    assert len(steps) <= 2 * edge + profile.LOG_POINTS
    middle = [10000 - s for s in steps if edge <= s < 10000 - edge]
    assert len(middle) >= 8 and max(middle) > 1000  # reaches far back, log-spaced


def _profile(steps, analytic, numeric_values, agree, span, length):
    p = Profile(
        layer="RecurrentLayer#0",
        file=None,
        line=None,
        input="InputLayer#0",
        steps_total=length,
        steps=steps,
        analytic=analytic,
        numeric=numeric_values,
        agree=agree,
        analytic_nonzero_steps=span,
        summary="",
    )
    return profile.summarise(p)


def test_summary_of_truncated_bptt_names_the_kept_steps():
    steps = profile.sample_steps(10000)
    analytic = [0.0] * (len(steps) - 1) + [0.3]
    numeric_values = [0.2] * (len(steps) - 1) + [0.3]
    agree = [False] * (len(steps) - 1) + [True]
    text = _profile(steps, analytic, numeric_values, agree, [9999, 9999], 10000)
    assert text.startswith(
        "RecurrentLayer#0: analytic gradient is zero before the last 1 of 10000 steps"
    )


def test_summary_of_an_agreeing_profile():
    text = _profile([0, 1, 2], [0.1, 0.2, 0.3], [0.1, 0.2, 0.3], [True] * 3, [0, 2], 3)
    assert text == (
        "RecurrentLayer#0: analytic and numeric sensitivities agree at all 3 sampled steps"
    )


def test_summary_of_a_disagreeing_profile_names_the_first_step():
    text = _profile([0, 1, 2], [0.1, 0.2, 0.3], [0.5, 0.2, 0.3], [False, True, True], [0, 2], 3)
    assert "disagree at 1 of 3 sampled steps, first at step 0" in text


# ---------------------------------------------------------------- low precision: the child's params


@pytest.mark.parametrize(
    "ident", ["RecurrentLayer#0.W_in_to_hid", "odd[name]*?.W", "DenseLayer#1.b~2"]
)
def test_escaped_ids_match_only_themselves(ident):
    pattern = low_precision._escape(ident)
    assert fnmatch.fnmatchcase(ident, pattern)
    assert not fnmatch.fnmatchcase(ident + "x", pattern)
    assert not fnmatch.fnmatchcase("x" + ident, pattern)


# ---------------------------------------------------------------- kink detection by step sizes


def _probe(fn, h=6e-6):
    values = [(np.asarray(fn(h * s)), np.asarray(fn(-h * s))) for s in (1, 0.5, 0.25, 0.125)]
    return values, np.asarray(fn(0.0))


@pytest.mark.parametrize("distance", [0.0, 1e-6, 3e-6, 5e-6])
def test_a_kink_at_or_within_one_step_is_seen(distance):
    values, centre = _probe(lambda t: np.maximum(t - distance, 0) + 0.3 * t * t + 1)
    assert kinked(values, centre, 2.2e-16)


def test_a_smooth_function_and_a_far_kink_are_not_kinks():
    for fn in (lambda t: np.sin(t) + 1, lambda t: np.maximum(t - 1e-5, 0) + 0.3 * t * t + 1):
        values, centre = _probe(fn)
        assert not kinked(values, centre, 2.2e-16)


def test_a_kink_at_the_point_scales_linearly_but_noise_does_not():
    fn = lambda t: abs(t) + 1.0
    h = 6e-6
    pairs = [(fn(h * s), fn(-h * s)) for s in (1, 0.5, 0.25, 0.125)]
    assert kink_at_point(pairs, fn(0.0), 2.2e-16)
    rng = np.random.RandomState(0)
    noisy = [(1 + 1e-9 * rng.randn(), 1 + 1e-9 * rng.randn()) for _ in range(4)]
    assert not kink_at_point(noisy, 1.0, 2.2e-16)
    hits = sum(
        kink_at_point(
            [(1 + 1e-9 * rng.randn(), 1 + 1e-9 * rng.randn()) for _ in range(4)], 1.0, 2.2e-16
        )
        for _ in range(500)
    )
    assert hits < 25  # round-off noise looks like a kink in under 5% of draws


def test_per_element_detection_marks_only_the_kinked_elements():
    def fn(t):
        return np.array([np.maximum(t, 0), np.sin(t), t * t]) + 1

    values, centre = _probe(fn)
    assert kinked(values, centre, 2.2e-16).tolist() == [True, False, False]


# ---------------------------------------------------------------- ablation bookkeeping


def _param(status, err=1.0):
    return ParamResult(
        id="x",
        shape=[1],
        status=status,
        max_abs_err=err,
        max_rel_err=err,
        tolerance=1e-6,
        worst_index=[0],
    )


def test_an_ablation_confirms_only_when_every_tested_tensor_passes():
    both = Outcome(
        "gradient_steps=-1", [0, 1], {0: _param("pass", 1e-9), 1: _param("pass", 1e-9)}, 1.0
    )
    assert both.confirmed and both.explained == [0, 1] and both.still_failing == []
    partial = Outcome(
        "gradient_steps=-1", [0, 1], {0: _param("pass", 1e-9), 1: _param("fail")}, 1.0
    )
    assert not partial.confirmed and partial.explained == [0] and partial.still_failing == [1]
    # the re-check produced nothing: not confirmed
    missing = Outcome("precision=float64", [0], {}, 1.0)
    assert not missing.confirmed and missing.still_failing == [0]


def test_attribute_changes_are_restored_even_when_the_rebuild_fails():
    class Layer:
        gradient_steps = 3

    layer = Layer()
    with pytest.raises(RuntimeError), attributes([(layer, "gradient_steps", -1)]):
        assert layer.gradient_steps == -1
        raise RuntimeError("compile failed")
    assert layer.gradient_steps == 3


def test_non_finite_values_are_named():
    assert nan_or_inf._kind(np.array([1.0, math.nan])) == "NaN"
    assert nan_or_inf._kind(np.array([1.0, math.inf])) == "infinite"
    index, where = nan_or_inf._position(np.array([[[0.0, 1.0], [math.nan, 2.0]]]))
    assert index == [0, 1, 0] and "sequence 0, step 1" in where


# ---------------------------------------------------------------- what a diagnosis says when time
# ran out


def test_an_ablation_names_its_layers_where_the_progress_must_tell_them_apart():
    from gradcheck_ci.diagnose.ablation import Suspect
    from gradcheck_ci.diagnose.suspects import change_of

    first, second = (
        Suspect("gradient-clipping", None, f"LSTMLayer#{i}", "grad_clipping=False", None)
        for i in (0, 1)
    )
    assert change_of([first, second]) == "grad_clipping=False in LSTMLayer#0 and LSTMLayer#1"
    # the diagnosis at the layer says the change alone; the per-layer re-checks name it
    assert change_of([second]) == "grad_clipping=False"
    assert change_of([second], named=True) == "grad_clipping=False in LSTMLayer#1"


def test_a_skipped_ablation_says_so_and_why_in_the_diagnosis():
    from gradcheck_ci.diagnose.suspects import not_run_sentence

    skipped = not_run_sentence(
        "grad_clipping=False", TimeoutError("not enough of the model's timeout left")
    )
    assert skipped == (
        "Not confirmed: the ablation (grad_clipping=False) was skipped because not "
        "enough of the model's timeout left (compiling used the time; see the "
        "diagnosis-skipped notice)."
    )
    failed = not_run_sentence("no grad_clip", ValueError("the layer cannot be rebuilt"))
    assert failed == (
        "Not confirmed: the ablation (no grad_clip) could not run (ValueError: the "
        "layer cannot be rebuilt)."
    )


def test_what_the_diagnosis_skipped_is_a_notice_at_the_timeout_line():
    from gradcheck_ci.diagnose.session import NOTICE_SKIPPED, skipped_notice

    notice = skipped_notice(
        [
            "ablation grad_clipping=False (needs ~40 s, 3 s of the model's timeout left)",
            "the gradient-through-time profile (the model's timeout came first)",
        ],
        120.0,
        "gradcheck.yml",
        9,
    )
    assert (notice.code, notice.file, notice.line) == (NOTICE_SKIPPED, "gradcheck.yml", 9)
    assert notice.message.startswith(
        "the diagnosis skipped ablation grad_clipping=False (needs "
        "~40 s, 3 s of the model's timeout left); the "
        "gradient-through-time profile"
    )
    assert "timeout (120 s) ran short" in notice.message and "--cache-dir" in notice.message


def test_the_budget_seam_only_ever_shortens_what_the_timeout_leaves(monkeypatch):
    from gradcheck_ci.diagnose.session import BUDGET_ENV, diagnosis_budget

    monkeypatch.delenv(BUDGET_ENV, raising=False)
    assert diagnosis_budget(42.0) == 42.0
    monkeypatch.setenv(BUDGET_ENV, "0")
    assert diagnosis_budget(42.0) == 0.0
    monkeypatch.setenv(BUDGET_ENV, "100")
    assert diagnosis_budget(42.0) == 42.0  # a cap, never more time than the timeout leaves
    monkeypatch.setenv(BUDGET_ENV, "soon")
    assert diagnosis_budget(42.0) == 42.0


def test_a_diagnosis_of_a_custom_loss_points_where_the_objective_found_its_definition():
    from types import SimpleNamespace

    from gradcheck_ci.diagnose.session import Session
    from gradcheck_ci.model.objective import Objective
    from tests.samples import spec

    session = Session.__new__(Session)  # loss_fields reads only the spec and the context
    session.spec = spec(loss="models/losses.py:xent", key_lines={"loss": 7})
    objective = Objective(
        None, None, None, "labels", "models/losses.py:xent", len, ("models/losses.py", 4)
    )
    session.context = SimpleNamespace(objective=objective, config_file="gradcheck.yml")
    assert session.loss_fields() == {"layer": None, "file": "models/losses.py", "line": 4}
    # no objective (the build failed before it): the config's `loss` line still serves
    session.context = SimpleNamespace(objective=None, config_file="gradcheck.yml")
    assert session.loss_fields() == {"layer": None, "file": "gradcheck.yml", "line": 7}


def test_a_float32_value_for_a_gradient_below_round_off_is_settled_as_round_off():
    # a bias that a normalisation cancels: float64's gradient -6.5e-19 (below round-off), float32's
    # 3.9e-10, round-off of the model's gradients (1e-2); relative to ~0 it was "5e8 off": a fail
    from dataclasses import replace

    import numpy as np

    from tests.samples import param

    p32 = param("Attention#0.c", "fail", abs_err=3.9e-10, tol=1e-21)
    p64 = replace(param("Attention#0.c", "pass"), sensitivity=6.8e5)
    g64 = {0: np.array([-6.5e-19])}
    params, summary = low_precision.settle(
        [p32], {0: p64}, {0: np.array([3.9e-10])}, g64, 1e-2, 1e-2
    )
    assert params[0].status == "pass" and summary["roundoff"] == [0]
    assert "below round-off in float64 too" in params[0].note
    # an error far beyond round-off still fails, even on a tensor float64 cannot resolve
    params, summary = low_precision.settle([p32], {0: p64}, {0: np.array([1e-4])}, g64, 1e-2, 1e-2)
    assert params[0].status == "fail" and summary["float32_off"] == [0]
