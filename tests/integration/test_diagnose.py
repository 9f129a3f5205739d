"""The diagnosis stage end to end: the real CLI on small user-like repositories with one known cause
each.

Each repository under tests/fixtures/diagnose/<cause>/ is checked once (cached per test session);
the assertions read the JSON report's `diagnoses`: exact code, file, line (found by searching the
model file for the construction call, so the fixtures can be edited freely) and `confirmed`.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests import FIXTURES
from tests.harness import REPORT_ARGS, CliRun, cli_command, cli_env, run_cli

REPOS = FIXTURES / "diagnose"


@functools.cache
def checked(repo: str, *args: str) -> CliRun:
    report = Path(tempfile.mkdtemp(prefix=f"diagnose-{repo}-")) / "report.json"
    config = (FIXTURES / "repos" / repo if repo == "seed-rnn" else REPOS / repo) / "gradcheck.yml"
    return run_cli("check", "--config", str(config), *args, json_path=report)


def line_of(repo: str, file: str, text: str) -> int:
    base = FIXTURES / "repos" / repo if repo == "seed-rnn" else REPOS / repo
    for number, line in enumerate((base / file).read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {file}")


def only_diagnosis(model: dict) -> dict:
    codes = [d["code"] for d in model["diagnoses"]]
    assert len(codes) == 1, (codes, model.get("extra", {}).get("diagnosis_error"))
    return model["diagnoses"][0]


def assert_at(diagnosis: dict, repo: str, file: str, text: str) -> None:
    assert (diagnosis["file"], diagnosis["line"]) == (file, line_of(repo, file, text)), diagnosis


# ---------------------------------------------------------------- feed-forward models (quick
# compiles)


def test_wrong_custom_op_is_blamed_on_the_custom_layer_not_the_dense_layer_before_it():
    model = checked("wrong-backward").model("wrong-square")
    assert model["status"] == "fail"
    failing = {p["id"] for p in model["params"] if p["status"] == "fail"}
    # the error shows on the dense layer's weights...
    assert failing == {"DenseLayer#0.W", "DenseLayer#0.b"}
    d = only_diagnosis(model)
    assert d["code"] == "wrong-backward" and d["layer"] == "SquareLayer#0"  # ...but the bug is here
    assert_at(d, "wrong-backward", "models/net.py", "l_sq = SquareLayer(")
    assert d["confirmed"] is None
    checks = {c["layer"]: c["passed"] for c in d["evidence"]["layer_checks"]}
    assert checks == {"DenseLayer#1": True, "SquareLayer#0": True, "DenseLayer#0": False}
    # and the fix names the op whose grad() is wrong, where it is defined
    grad_line = line_of("wrong-backward", "models/net.py", "def grad(")
    assert d["fix"].startswith(f"check the grad() of Square (models/net.py:{grad_line}), which ")
    assert d["evidence"]["ops"] == [f"Square at models/net.py:{grad_line}"]


def test_wrong_gradient_of_a_layers_own_parameter_is_blamed_on_that_layer():
    d = only_diagnosis(checked("wrong-backward").model("wrong-param-grad"))
    assert d["code"] == "wrong-backward" and d["layer"] == "SquaredGainLayer#0"
    assert_at(d, "wrong-backward", "models/net.py", "l_gain = SquaredGainLayer(")
    assert all(c["passed"] for c in d["evidence"]["layer_checks"])


def test_noise_that_ignores_deterministic_is_confirmed_by_freezing_the_stream():
    model = checked("stochastic-forward").model("mc-dropout")
    d = only_diagnosis(model)
    assert d["code"] == "stochastic-forward" and d["layer"] == "MCDropoutLayer#0"
    assert_at(d, "stochastic-forward", "models/net.py", "l_drop = MCDropoutLayer(")
    assert d["confirmed"] is True
    assert d["evidence"]["forward_repeatable"] is False and d["evidence"]["repeat_difference"] > 0
    assert all(after["status"] == "pass" for after in d["evidence"]["after"].values())
    # the tensors the noise left unjudged say so, not "kinks, or round-off" as the engine guessed
    unjudged = [p for p in model["params"] if p["status"] == "inconclusive"]
    assert unjudged and all("noise in the forward pass" in p["note"] for p in unjudged), unjudged


def test_allowed_noise_passes_the_tensors_it_left_unjudged_or_failing():
    """`allow: [stochastic-forward]`: the cause explains everything in the always-on phase, and the
    tensors it made unjudged (not only failing ones) become `allowed`."""
    plain = checked("stochastic-forward").model("mc-dropout")
    model = checked("stochastic-forward").model("mc-dropout-allowed")
    assert model["status"] == "pass", model
    assert {p["status"] for p in model["params"]} == {"allowed"}
    unjudged = [p["id"] for p in plain["params"] if p["status"] == "inconclusive"]
    notes = {p["id"]: p["note"] for p in model["params"]}
    assert all(
        notes[i].startswith("could not be judged because of an allowed cause") for i in unjudged
    )
    [allowed] = model["allowed"]
    assert allowed["codes"] == ["stochastic-forward"]
    [notice] = [n for n in model["notices"] if n["code"] == "allowed-cause"]
    assert "only because of this cause: rebuilt with random stream frozen" in notice["message"]


def test_a_kink_at_the_checked_point_is_not_a_failure_the_gradient_is_checked_near_it():
    # Every hidden unit sits exactly on its kink (zero-initialised weights): no line through the
    # point is smooth, so the point near it decides; the model used to FAIL as non-differentiable.
    run = checked("non-differentiable")
    model = run.model("relu-at-zero")
    assert model["status"] == "pass" and model["diagnoses"] == [], model
    first = [p for p in model["params"] if p["layer"] == "DenseLayer#0"]
    assert first and all("near the checked one" in p["note"] for p in first)
    assert run.code == 0


def test_a_loss_no_comparison_can_judge_is_inconclusive_and_exits_0_unless_asked():
    run = checked("inconclusive")
    model = run.model("float32-inside-float64")
    assert model["status"] == "inconclusive" and run.code == 0, run.output
    judged = {p["id"]: p["status"] for p in model["params"]}
    assert judged["DenseLayer#0.W"] == "inconclusive" and judged["DenseLayer#1.W"] == "pass"
    assert (
        "INCONCLUSIVE float32-inside-float64" in run.stdout
        and "result: PASS (exit 0)" in run.stdout
    )
    strict = checked("inconclusive", "--fail-on-inconclusive")
    assert strict.code == 1 and strict.report["status"] == "fail", strict.output
    assert strict.model("float32-inside-float64")["status"] == "inconclusive"


def test_a_float32_model_float32_cannot_resolve_passes_with_a_notice():
    # Used to FAIL (low-precision): the float32 comparison cannot resolve it, the same check in
    # float64 at the same point passes, and the float32 gradient is within 1e-2 of the float64 one.
    model = checked("low-precision").model("naive-normalisation-float32")
    assert (
        model["status"] == "pass" and model["precision"] == "float32" and model["diagnoses"] == []
    )
    [notice] = model["notices"]
    assert (
        notice["code"] == "float32-settled-in-float64"
        and "checked again in float64" in notice["message"]
    )
    assert set(model["extra"]["float64"]["tensors"]) == {p["id"] for p in model["params"]}
    assert all(d <= 1e-2 for d in model["extra"]["float64"]["agreement"].values())


def test_float32_round_off_beyond_the_target_is_confirmed_by_a_float64_worker():
    model = checked("low-precision").model("naive-normalisation-float32-offset-400")
    assert model["status"] == "fail" and model["precision"] == "float32"
    d = only_diagnosis(model)
    assert d["code"] == "low-precision" and d["confirmed"] is True
    assert_at(d, "low-precision", "models/net.py", "l_hid = DenseLayer(")
    assert d["evidence"]["ablation"] == "precision=float64"
    failing = [p["id"] for p in model["params"] if p["status"] == "fail"]
    assert failing and set(failing) == set(d["evidence"]["explained"])
    assert all(d["evidence"]["agreement"][k] > 1e-2 for k in failing)


def test_a_float32_custom_op_bug_is_localised_where_float64_settled_it():
    """A 0.1% error in a float32 custom op's grad(): float32 finite differences cannot see it, the
    float64 check confirms it, and its layer-by-layer localisation names the op's layer, not the
    Conv2DLayer one line above (which float32's localisation blamed: every layer output it could
    judge agreed)."""
    model = checked("float32-custom-op").model("smooth-relu-float32")
    assert model["status"] == "fail" and model["precision"] == "float32"
    failing = {p["id"] for p in model["params"] if p["status"] == "fail"}
    assert (
        failing
        == {"Conv2DLayer#0.W", "Conv2DLayer#0.b"}
        == set(model["extra"]["float64"]["confirmed"])
    )
    d = only_diagnosis(model)
    assert d["code"] == "wrong-backward" and d["layer"] == "NonlinearityLayer#0", d
    assert_at(d, "float32-custom-op", "models/net.py", "net = NonlinearityLayer(net, smooth_relu)")
    assert (
        d["evidence"]["precision"] == "float64" and "Localised by the float64 check" in d["message"]
    )
    assert "diagnoses" not in model["extra"]["float64"]  # taken over, not kept twice


def test_nan_gradient_names_the_layer_whose_backward_pass_makes_it():
    model = checked("nan-or-inf").model("sqrt-relu")
    d = only_diagnosis(model)
    assert d["code"] == "nan-or-inf" and d["layer"] == "SqrtReluLayer#0"
    assert_at(d, "nan-or-inf", "models/net.py", "l_sqrt = SqrtReluLayer(")
    assert d["confirmed"] is None
    assert d["evidence"]["tensor"] == "dLoss/d(output of DenseLayer#0)" and d["evidence"]["index"]


def test_nan_loss_names_the_first_non_finite_layer_and_the_input_there():
    model = checked("nan-or-inf").model("log-layer")
    assert model["status"] == "error" and model["error"]["kind"] == "nan-or-inf"
    d = only_diagnosis(model)
    assert d["code"] == "nan-or-inf" and d["layer"] == "LogLayer#0"
    assert_at(d, "nan-or-inf", "models/net.py", "l_log = LogLayer(")
    assert d["evidence"]["input"]["value"] < 0  # log of a negative input


def test_a_float32_softmax_saturated_to_zero_is_checked_with_lasagnes_fused_cross_entropy():
    # it was an error, log(0) of the check's own cross-entropy (the log of the picked probability);
    # in float32 the check takes Lasagne's, fused with the softmax as the user's training is, which
    # stays finite where a probability underflows
    model = checked("nan-or-inf").model("saturated-float32")
    assert model["status"] == "pass", model.get("error")


def test_a_cross_entropy_of_scores_says_the_output_is_not_a_probability_not_log_0():
    model = checked("nan-or-inf").model("crossentropy-of-scores")
    assert model["status"] == "error" and model["error"]["kind"] == "nan-or-inf"
    d = only_diagnosis(model)
    assert d["layer"] == "DenseLayer#1" and d["evidence"]["value"] < 0
    assert_at(d, "nan-or-inf", "models/net.py", "l_out = DenseLayer(")
    assert "takes probabilities, but the output of DenseLayer#1 (linear output)" in d["message"]
    assert "log(0)" not in d["message"] and "end the network in a softmax" in d["fix"]


def test_nan_weights_are_named_as_the_cause_not_an_operation_to_guard():
    model = checked("nan-or-inf").model("nan-weights")
    assert model["status"] == "error" and model["error"]["kind"] == "nan-or-inf"
    d = only_diagnosis(model)
    assert d["layer"] == "DenseLayer#0" and d["evidence"]["parameter"] == "DenseLayer#0.W"
    assert_at(d, "nan-or-inf", "models/net.py", 'W=lasagne.init.Constant(float("nan"))')
    assert "its parameter DenseLayer#0.W holds NaN before any step" in d["message"]
    assert d["fix"].startswith("give DenseLayer#0.W finite values") and "epsilon" not in d["fix"]


def test_a_loss_no_parameter_reaches_is_inconclusive_with_a_notice_not_a_pass():
    # Used to PASS with grad_norm 0 and sensitivity null everywhere, and no word: nothing checked.
    run = checked("all-zero")
    model = run.model("thresholded")
    assert model["status"] == "inconclusive" and run.code == 0, run.output
    assert model["sensitivity"] is None
    assert {(p["status"], p["grad_norm"]) for p in model["params"]} == {("inconclusive", 0.0)}
    [notice] = [n for n in model["notices"] if n["code"] == "gradient-all-zero"]
    line = line_of("all-zero", "models/net.py", "return Thresholded(")
    assert (notice["file"], notice["line"]) == ("models/net.py", line)  # the output layer's
    assert notice["message"].startswith("every gradient is exactly zero at the checked point")
    assert "could not see any error" in notice["message"] and "integer cast" in notice["message"]
    assert "4 of 4 tensors could not be judged" in run.stdout
    strict = checked("all-zero", "--fail-on-inconclusive")
    assert strict.code == 1 and strict.model("thresholded")["status"] == "inconclusive"


def test_unused_parameter_is_disconnected_even_though_the_check_passes():
    model = checked("disconnected").model("unused-scale")
    assert model["status"] == "pass"
    d = only_diagnosis(model)
    assert d["code"] == "disconnected" and d["evidence"]["tensors"] == ["ScaledTanh#0.scale"]
    assert_at(d, "disconnected", "models/net.py", "l_act = ScaledTanh(")
    assert d["confirmed"] is None
    assert "not in the graph of the loss" in d["message"] and d["evidence"]["cut"] == "absent"


# Three different facts used to read "nothing the loss computes depends on it": a parameter not in
# the graph, one whose gradient a disconnected_grad/zero_grad cuts (the loss does depend on it), one
# behind an argmax.


@pytest.mark.parametrize(
    "name, call", [("stop-gradient", "disconnected_grad"), ("zero-gradient", "zero_grad")]
)
def test_a_stopped_gradient_is_named_at_the_line_that_stops_it_and_confirmed_by_removing_the_stop(
    name, call
):
    model = checked("gradient-stopped").model(name)
    assert model["status"] == "fail"
    d = only_diagnosis(model)
    assert (
        d["code"] == "gradient-stopped"
        and d["layer"] == "BaselineCorrection#0"
        and d["confirmed"] is True
    ), d
    assert_at(d, "gradient-stopped", "models/nets.py", "l_base = BaselineCorrection(")
    line = line_of("gradient-stopped", "models/nets.py", f"baseline = theano.gradient.{call}(")
    site = f"models/nets.py:{line}"
    assert f"stops the gradient (theano.gradient.{call} at {site})" in d["message"], d["message"]
    assert "nothing the loss computes" not in d["message"]
    assert f"Rebuilt with no {call}, the gradients agree" in d["message"]
    assert set(d["evidence"]["after"]) == {
        "DenseLayer#0.W",
        "DenseLayer#0.b",
        "BaselineCorrection#0.V",
    }


def test_a_parameter_behind_argmax_is_piecewise_constant_not_absent():
    model = checked("gradient-stopped").model("hard-attention")
    d = only_diagnosis(model)
    assert d["code"] == "disconnected" and d["evidence"] == {
        "tensors": ["HardAttention#0.w"],
        "cut": "piecewise",
        "ops": ["argmax"],
        "sites": [
            f"models/nets.py:{line_of('gradient-stopped', 'models/nets.py', 'best = T.argmax(')}"
        ],
    }
    assert "reaches the loss only through argmax at models/nets.py:" in d["message"]
    assert "piecewise constant" in d["message"] and "nothing the loss computes" not in d["message"]


def test_a_parameter_the_loss_never_uses_is_not_in_the_graph():
    d = only_diagnosis(checked("gradient-stopped").model("unused-param"))
    assert d["code"] == "disconnected" and d["evidence"] == {
        "tensors": ["BaselineCorrection#0.V"],
        "cut": "absent",
    }
    assert "nothing the loss computes uses it (not in the graph of the loss)" in d["message"]


def test_a_sensitivity_far_short_of_the_aim_is_said_in_every_format(tmp_path):
    # A correct model whose hidden layer starts saturated: its check reached 1e-3 where it aims at
    # 1e-5, and the report used to say nothing about it.
    repo = shutil.copytree(REPOS / "correct", tmp_path / "repo")
    run = run_cli(
        "check", "--model", "dense-saturated", *REPORT_ARGS, "--html", "report.html", cwd=repo
    )
    assert run.code == 0, run.output
    [model] = json.loads((repo / "report.json").read_text(encoding="utf-8"))["models"]
    assert model["status"] == "pass" and model["diagnoses"] == []
    short = {p["id"]: p["sensitivity"] for p in model["params"] if p["sensitivity"] >= 1e-4}
    assert set(short) == {"DenseLayer#0.W", "DenseLayer#0.b"}, short
    [notice] = model["notices"]
    assert notice["code"] == "sensitivity-short" and notice["file"] == "models/nets.py"
    assert notice["line"] == line_of(
        "correct", "models/nets.py", "l_hid = DenseLayer(l_in, num_units, b="
    )
    assert "far short of the aim (1e-05 in float64): DenseLayer#0.W" in notice["message"]
    assert "`data:` sizes" in notice["message"]
    assert "notice sensitivity-short at models/nets.py:" in run.stdout
    assert "sensitivity far short of the aim" in (repo / "junit.xml").read_text(encoding="utf-8")
    sarif = json.loads((repo / "report.sarif").read_text(encoding="utf-8"))
    assert any(
        "sensitivity far short of the aim" in r["message"]["text"]
        for r in sarif["runs"][0]["results"]
    )
    assert "sensitivity far short of the aim" in (repo / "report.html").read_text(encoding="utf-8")


# ---------------------------------------------------------------- recurrent models


@pytest.mark.slow
def test_layers_a_helper_built_name_the_call_of_the_helper_they_came_from():
    run = checked("helper-built")
    model = run.model("stacked-blocks")
    layer_line = line_of("helper-built", "models/blocks.py", "return RecurrentLayer(")
    low = f"models/stacked.py:{line_of('helper-built', 'models/stacked.py', 'l_low = ')}"
    high = f"models/stacked.py:{line_of('helper-built', 'models/stacked.py', 'l_high = ')}"
    where = {p["id"]: (p["file"], p["line"], p.get("via")) for p in model["params"]}
    # both layers are built on the helper's line; the calls of the helper tell them apart
    assert where["RecurrentLayer#0.W_hid_to_hid"] == ("models/blocks.py", layer_line, [low])
    assert where["RecurrentLayer#1.W_hid_to_hid"] == ("models/blocks.py", layer_line, [high])
    # a layer the factory built itself has no `via` (its JSON reads as before)
    assert where["DenseLayer#0.W"][2] is None
    d = only_diagnosis(model)
    assert (d["code"], d["layer"], d["via"]) == ("truncated-bptt", "RecurrentLayer#1", [high])
    assert_at(d, "helper-built", "models/blocks.py", "return RecurrentLayer(")
    assert f"truncated-bptt (confirmed) at models/blocks.py:{layer_line} (via {high})" in run.output
    # a comprehension runs in a frame of its own on its caller's line: named once, not twice
    branches = run.model("branches")
    comprehension = line_of("helper-built", "models/stacked.py", "branches = [dense_block(")
    assert {
        tuple(p.get("via", [])) for p in branches["params"] if p["id"].startswith("DenseLayer#0")
    } == {(f"models/stacked.py:{comprehension}",)}


@pytest.mark.slow
def test_truncated_bptt_is_named_located_confirmed_and_profiled():
    model = checked("truncated-bptt").model("tagger-truncated")
    d = only_diagnosis(model)
    assert d["code"] == "truncated-bptt" and d["layer"] == "RecurrentLayer#0"
    assert_at(d, "truncated-bptt", "models/tagger.py", "l_rnn = RecurrentLayer(")
    assert d["confirmed"] is True
    assert "gradient_steps=2" in d["message"] and "gradient_steps=-1" in d["fix"]
    assert d["evidence"]["compiled_graph"]["scan_truncate_gradient"] == [2]
    profile = model["extra"]["profiles"][0]
    assert profile["layer"] == "RecurrentLayer#0" and profile["steps_total"] == 12
    assert profile["summary"].startswith(
        "RecurrentLayer#0: analytic gradient is zero before the last 2 of 12 steps"
    )
    assert profile["analytic"][:10] == [0.0] * 10 and all(n != 0 for n in profile["numeric"])


SHORT_OF_TIME = """\
version: 1
models:
  - name: tagger-truncated
    factory: models/tagger.py:build
    kwargs: {gradient_steps: 2}
    seed: 1
    data: {sequences: 4, steps: 12, features: 2, classes: 2}
    timeout: 900
"""


@pytest.mark.slow
def test_an_ablation_the_timeout_cannot_afford_is_skipped_and_every_output_says_why(tmp_path):
    """The diagnosis with no time left (the budget seam set to 0 s, as when a cold compile used the
    model's timeout): the cause is still named at its line, not confirmed, its message says the
    ablation was skipped and why, and a notice at the `timeout` line lists what was skipped."""
    repo = tmp_path / "repo"
    shutil.copytree(REPOS / "truncated-bptt" / "models", repo / "models")
    (repo / "gradcheck.yml").write_text(SHORT_OF_TIME, encoding="utf-8")
    run = run_cli(
        "check",
        "--config",
        str(repo / "gradcheck.yml"),
        env={"GRADCHECK_CI_TEST_DIAGNOSIS_BUDGET": "0"},  # CONTRIBUTING.md, "Test seams"
        json_path=tmp_path / "report.json",
    )
    assert run.code == 1, run.output
    model = run.model("tagger-truncated")
    d = only_diagnosis(model)
    assert (d["code"], d["confirmed"]) == ("truncated-bptt", None)
    assert_at(d, "truncated-bptt", "models/tagger.py", "l_rnn = RecurrentLayer(")
    skipped = (
        "Not confirmed: the ablation (gradient_steps=-1) was skipped because not enough of the "
        "model's timeout left"
    )
    assert skipped in d["message"] and d["evidence"]["ablation_not_run"].startswith("TimeoutError")
    assert "profiles" not in model["extra"] and "profile" not in d["evidence"]
    timeout_line = SHORT_OF_TIME.splitlines().index("    timeout: 900") + 1
    [notice] = [n for n in model["notices"] if n["code"] == "diagnosis-skipped"]
    assert (notice["file"], notice["line"]) == ("gradcheck.yml", timeout_line)
    assert notice["message"].startswith("the diagnosis skipped ablation gradient_steps=-1 (needs ~")
    assert "the gradient-through-time profile" in notice["message"]
    # the text report: the same, and no "(confirmed)" that the run cannot back
    text = " ".join(run.stdout.split())
    line = line_of("truncated-bptt", "models/tagger.py", "l_rnn = RecurrentLayer(")
    assert f"diagnosis truncated-bptt at models/tagger.py:{line}" in text, run.stdout
    assert "(confirmed)" not in text and skipped in text
    assert f"notice diagnosis-skipped at gradcheck.yml:{timeout_line}:" in text
    assert "profile:" not in text


@pytest.mark.slow
def test_the_profile_computed_beside_the_ablations_is_the_one_computed_after_them(tmp_path):
    """With two cores the profile runs in a forked child while the ablations run; on one core it
    runs after them in the worker. Same arrays, same directions: the same profile, and the same
    diagnosis around it."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one core: the profile never runs beside the ablations here")
    parallel = checked("truncated-bptt")
    config = REPOS / "truncated-bptt" / "gradcheck.yml"
    report = tmp_path / "report.json"
    proc = subprocess.run(
        cli_command("check", "--config", str(config), "--json", str(report)),
        env=cli_env(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=1800,
        preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),
    )
    assert (
        "in parallel with the ablations" in parallel.stdout
        and "gave no answer" not in parallel.stdout
    )
    assert (
        "in parallel with the ablations" not in proc.stdout
        and "gradient-through-time profile" in proc.stdout
    )
    serial = {m["name"]: m for m in json.loads(report.read_text(encoding="utf-8"))["models"]}
    for name in ("tagger-truncated", "own-scan-truncated"):
        assert parallel.model(name)["extra"].get("profiles") == serial[name]["extra"].get(
            "profiles"
        )
        assert [d["message"] for d in parallel.model(name)["diagnoses"]] == [
            d["message"] for d in serial[name]["diagnoses"]
        ]
        assert "diagnosis_error" not in serial[name]["extra"]


@pytest.mark.slow
def test_tight_gradient_clipping_is_confirmed_by_switching_it_off():
    d = only_diagnosis(checked("gradient-clipping").model("tagger-clip-tight"))
    assert d["code"] == "gradient-clipping" and d["confirmed"] is True
    assert_at(d, "gradient-clipping", "models/tagger.py", "l_rnn = RecurrentLayer(")
    assert d["evidence"]["clip_bounds"] == [[-0.001, 0.001]]


@pytest.mark.slow
def test_grad_clipping_zero_is_explained_as_lasagne_0_1s_trap():
    d = only_diagnosis(checked("gradient-clipping").model("tagger-clip-zero"))
    assert d["code"] == "gradient-clipping" and d["confirmed"] is True
    assert "[0, 0]" in d["message"] and "grad_clipping=False" in d["fix"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, layer, file, built, called, through",
    [
        (
            "head-clip-layer",
            "ClipGradient#0",
            "models/heads.py",
            "l_clip = ClipGradient(",
            "return grad_clip(input",
            "through it",
        ),
        (
            "head-clip-inline",
            "GatedDenseLayer#0",
            "models/heads.py",
            "l_gate = GatedDenseLayer(",
            "gate = T.nnet.sigmoid(theano.gradient.grad_clip(",
            "through it",
        ),
        (
            "elman-clip-in-scan",
            "ElmanLayer#0",
            "models/elman.py",
            "l_rnn = ElmanLayer(",
            "pre = theano.gradient.grad_clip(",
            "through each step",
        ),
    ],
)
def test_a_users_own_grad_clip_is_named_where_it_is_called_and_confirmed_by_removing_it(
    name, layer, file, built, called, through
):
    # Used to say "through each step ... (a grad_clip in its scan) ... set grad_clipping=False",
    # unconfirmed, for a clip outside any scan: these layers have no grad_clipping to set.
    d = only_diagnosis(checked("gradient-clipping").model(name))
    assert d["code"] == "gradient-clipping" and d["layer"] == layer and d["confirmed"] is True, d
    assert_at(d, "gradient-clipping", file, built)
    site = f"{file}:{line_of('gradient-clipping', file, called)}"
    assert (
        f"(theano.gradient.grad_clip at {site})" in d["message"]
        and f"flowing back {through} to" in d["message"]
    )
    assert "Rebuilt with no grad_clip, the gradients agree" in d["message"]
    assert "grad_clipping" not in d["message"] and "grad_clipping" not in d["fix"]
    assert d["evidence"]["clip_sites"] == [site] and d["evidence"]["ablation"] == "no grad_clip"


@pytest.mark.slow
def test_loose_clipping_is_not_a_diagnosis():
    model = checked("gradient-clipping").model("tagger-clip-loose")
    assert model["status"] == "pass" and model["diagnoses"] == []


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["dense", "dense-dropout", "dense-float32", "tagger", "tagger-harmless-settings"]
)
def test_correct_models_get_no_diagnosis(name):
    model = checked("correct").model(name)
    assert model["status"] == "pass" and model["diagnoses"] == [], model["diagnoses"]
    assert "diagnosis_error" not in model["extra"]


@pytest.mark.slow
def test_the_reported_network_names_gradient_steps_and_the_recurrent_layer_line():
    run = checked("seed-rnn", "--model", "seed-rnn-truncated")
    model = run.model("seed-rnn-truncated")
    d = only_diagnosis(model)
    assert d["code"] == "truncated-bptt" and d["confirmed"] is True
    assert_at(d, "seed-rnn", "models/rnn.py", "RecurrentLayer(l_in")
    assert d["message"].startswith(
        "RecurrentLayer#0 truncates backpropagation through time to 1 "
        "step (gradient_steps=1), so Theano differentiates only the "
        "last step"
    )
    assert d["fix"] == (
        "set gradient_steps=-1, or mark the model `expect: fail` if truncation is intended"
    )
    summary = model["extra"]["profiles"][0]["summary"]
    assert summary.startswith(
        "RecurrentLayer#0: analytic gradient is zero before the last 1 of 1000 steps"
    )
    # The ablation changes only the backward pass: its re-check probes the check's band line again
    # and reads that line's loss values (4 new evaluations for the next line, not 8).
    assert d["evidence"]["ablation_evaluations"] <= 4
    assert "diagnosis truncated-bptt (confirmed) at models/rnn.py:" in run.stdout


@pytest.mark.slow
def test_truncation_in_a_users_own_scan_is_confirmed_by_rewriting_the_graph():
    d = only_diagnosis(checked("truncated-bptt").model("own-scan-truncated"))
    assert d["code"] == "truncated-bptt" and d["layer"] == "LeakyTanhRecurrence#0"
    assert_at(d, "truncated-bptt", "models/tagger.py", "l_rec = LeakyTanhRecurrence(")
    assert d["confirmed"] is True and d["evidence"]["ablation"] == "truncate_gradient=-1"
    # the scan call itself, a few lines from the layer's construction: where the fix goes
    assert "its theano.scan at models/tagger.py:25 has truncate_gradient=2" in d["message"]
    assert "pass truncate_gradient=-1 to theano.scan at models/tagger.py:25" in d["fix"]


def test_a_max_over_tied_copies_of_a_parameter_is_not_blamed_on_the_embedding_alone():
    # Theano's max gives the whole gradient to each tied copy of an embedding row (a repeated
    # token): a real disagreement, but the embedding's own backward pass is Lasagne's; the layer
    # check of its output cannot judge (the max is not smooth there), so the diagnosis says so
    model = checked("max-ties").model("max-over-repeated-tokens")
    assert model["status"] == "fail"
    d = only_diagnosis(model)
    assert d["code"] == "wrong-backward" and d["layer"] == "EmbeddingLayer#0"
    assert "EmbeddingLayer#0's could not: the loss is not smooth along it" in d["message"]
    assert "a max (T.max, max-pooling) above it over tied values" in d["fix"]


def test_a_float32_softmax_that_underflows_is_no_nan_gradient_of_our_making():
    # the check's own cross-entropy (log of the picked probability) had a NaN float32 gradient where
    # the label's probability is 1e-40: every tensor failed "nan" on a correct model
    model = checked("float32-saturated").model("saturated-softmax")
    assert model["status"] == "pass", [(p["id"], p["status"], p["note"]) for p in model["params"]]
