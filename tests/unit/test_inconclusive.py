"""The `inconclusive` outcome: a model no tensor of which fails but some could not be judged. Every
format shows it as a warning (JUnit: skipped), the run exits 0, and --fail-on-inconclusive (action
input fail-on-inconclusive) makes it a failure."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from entrypoint import inputs
from entrypoint.main import failed_models
from gradcheck_ci.commands.cli import build_parser
from gradcheck_ci.core.results import EXIT_MISMATCH, EXIT_OK, ParamResult, RunReport
from gradcheck_ci.report.github import annotations
from gradcheck_ci.report.jsonreport import merge_reports, render_json
from gradcheck_ci.report.junit import render_junit
from gradcheck_ci.report.sarif import render_sarif
from gradcheck_ci.report.summary import render_step_summary
from gradcheck_ci.report.text import render_model, render_summary
from tests.samples import model, param


def kinked() -> ParamResult:
    return ParamResult(
        id="DenseLayer#0.W",
        shape=[3, 4],
        status="inconclusive",
        max_abs_err=None,
        max_rel_err=None,
        tolerance=None,
        worst_index=None,
        method="directional",
        layer="DenseLayer#0",
        file="models/net.py",
        line=11,
        note="no smooth line could judge it (5 tried, the last at a point near the checked one)",
    )


def report(fail_on_inconclusive: bool = False) -> RunReport:
    relu = model(
        "relu-at-zero",
        "inconclusive",
        params=[kinked(), param("DenseLayer#1.W", method="grouped")],
        line=5,
    )
    good = model("good", "pass", params=[param("Dense#0.W")], line=9)
    return RunReport(
        config_file="gradcheck.yml", models=[relu, good], fail_on_inconclusive=fail_on_inconclusive
    )


def test_the_run_passes_unless_asked_to_fail_on_it():
    assert (report().status, report().exit_code) == ("pass", EXIT_OK)
    strict = report(fail_on_inconclusive=True)
    assert (strict.status, strict.exit_code) == ("fail", EXIT_MISMATCH)


def test_json_keeps_the_status_and_the_flag_only_when_set():
    assert "fail_on_inconclusive" not in json.loads(render_json(report()))
    data = json.loads(render_json(report(fail_on_inconclusive=True)))
    assert data["status"] == "fail" and data["fail_on_inconclusive"] is True
    assert data["models"][0]["status"] == "inconclusive"
    assert data["models"][0]["params"][0]["max_abs_err"] is None
    assert merge_reports([RunReport.from_json(data)]).fail_on_inconclusive is True


def test_text_says_which_tensors_and_why_it_is_not_a_failure():
    block = render_model(report().models[0])
    assert block.startswith("INCONCLUSIVE relu-at-zero")
    assert "1 of 2 tensors could not be judged (DenseLayer#0.W)" in block
    assert "note DenseLayer#0.W: no smooth line could judge it" in block
    summary = render_summary(report())
    assert (
        "1 inconclusive" in summary
        and "could not be judged (inconclusive: not a failure): relu-at-zero" in summary
    )
    assert "result: PASS (exit 0)" in summary
    assert "result: FAIL (exit 1)" in render_summary(report(fail_on_inconclusive=True))


@pytest.mark.parametrize("strict, kind", [(False, "warning"), (True, "error")])
def test_github_annotation_points_at_the_layer(strict, kind):
    lines, _ = annotations(report(fail_on_inconclusive=strict))
    [line] = [x for x in lines if "inconclusive" in x]
    assert line.startswith(
        f"::{kind} file=models/net.py,line=11,title=gradcheck-ci%3A relu-at-zero inconclusive::"
    )


@pytest.mark.parametrize("strict, tag", [(False, "skipped"), (True, "failure")])
def test_junit_skipped_or_failure(strict, tag):
    root = ET.fromstring(render_junit(report(fail_on_inconclusive=strict)))
    case = next(c for c in root.iter("testcase") if c.get("name") == "relu-at-zero")
    element = case.find(tag)
    assert element is not None and element.get("message", "").startswith(
        "inconclusive: 1 of 2 tensors"
    )
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("skipped"), suite.get("failures")) == (
        ("1", "0") if not strict else ("0", "1")
    )


@pytest.mark.parametrize("strict, level", [(False, "warning"), (True, "error")])
def test_sarif_result_is_a_warning(strict, level):
    run = render_sarif(report(fail_on_inconclusive=strict), "0")["runs"][0]
    [result] = [r for r in run["results"] if r["ruleId"] == "inconclusive-check"]
    assert result["level"] == level
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 11
    assert any(rule["id"] == "inconclusive-check" for rule in run["tool"]["driver"]["rules"])


def test_summary_has_a_badge_and_the_details():
    text = render_step_summary(report())
    assert "❔ 1 inconclusive" in text and "could not be judged" in text
    assert "(1 inconclusive)" in text.splitlines()[0]


def test_failed_models_output_lists_it_only_when_it_fails_the_run():
    assert failed_models(json.loads(render_json(report()))) == []
    assert failed_models(json.loads(render_json(report(fail_on_inconclusive=True)))) == [
        "relu-at-zero"
    ]


def test_cli_flag_and_action_input(tmp_path):
    args = build_parser().parse_args(["check", "--fail-on-inconclusive"])
    assert args.fail_on_inconclusive is True
    assert build_parser().parse_args(["check"]).fail_on_inconclusive is False
    env = {"GITHUB_WORKSPACE": str(tmp_path), "INPUT_FAIL-ON-INCONCLUSIVE": "true"}
    assert (
        "--fail-on-inconclusive" in inputs.plan(env, str(tmp_path), str(tmp_path / "r.json")).argv
    )
    env["INPUT_FAIL-ON-INCONCLUSIVE"] = "maybe"
    plan = inputs.plan(env, str(tmp_path), str(tmp_path / "r.json"))
    assert plan.errors == ["Input 'fail-on-inconclusive' must be true or false, not 'maybe'"]
    assert inputs.DEFAULTS["fail-on-inconclusive"] == "false"


def test_the_sensitivity_of_a_model_with_unjudged_tensors_says_which_it_holds_for():
    judged = param("Dense#1.W", method="grouped")
    judged.sensitivity, judged.max_abs_err, judged.max_rel_err = 5.5e-7, 1e-11, 3e-11
    unjudged = param("Dense#0.W", status="inconclusive")
    unjudged.note = "no smooth line could judge it"
    partly = model("partly", "inconclusive", params=[unjudged, judged, judged])
    partly.sensitivity, partly.mode = 5.5e-7, "directional"
    block = render_model(partly)
    assert (
        "sensitivity: a relative gradient error of 5.5e-07 or more in any of the 2 judged tensors "
        "is caught with probability >= 99%"
    ) in block
    assert "no disagreement was confirmed" in block and "no tensor disagrees" not in block


def test_an_inconclusive_model_with_a_confirmed_noisy_forward_pass_is_not_told_of_kinks():
    from gradcheck_ci.core.results import Diagnosis
    from gradcheck_ci.diagnose.ablation import agree_text

    noisy = model("noisy", "inconclusive", params=[param("Dense#0.W", status="inconclusive")])
    noisy.diagnoses = [Diagnosis("stochastic-forward", "MCDropout#0 draws ...", confirmed=True)]
    block = render_model(noisy)
    assert "the loss differs between evaluations at the same point" in block
    assert "kinks" not in block.split("diagnosis")[0] and "another `seed`" not in block
    assert agree_text(0.0, 0.0) == (
        "(no comparison could judge them before, every comparison within tolerance after)"
    )
    assert agree_text(0.0317, 0.0) == (
        "(max error 0.0317 before, every comparison within tolerance after)"
    )


def test_a_passing_model_states_its_sensitivity_per_tensor_and_overall():
    p = param("Dense#0.W", method="grouped")
    p.sensitivity, p.max_abs_err, p.max_rel_err, p.tolerance = 3.4e-6, None, None, None
    good = model("good", "pass", params=[p])
    good.sensitivity, good.mode = 3.4e-6, "directional"
    block = render_model(good)
    row = block.splitlines()[2].split()
    assert row[:8] == ["Dense#0.W", "2x10", "pass", "band", "-", "-", "-", "3.4e-06"]
    assert (
        "sensitivity: a relative gradient error of 3.4e-06 or more in any tensor is caught with "
        "probability >= 99%"
    ) in block
