"""Notices (results.Notice) reach every format, point where they say, and never change the
verdict."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from gradcheck_ci.core.results import ModelResult, Notice, RunReport
from gradcheck_ci.report.github import annotations
from gradcheck_ci.report.jsonreport import render_json
from gradcheck_ci.report.junit import render_junit
from gradcheck_ci.report.sarif import render_sarif
from gradcheck_ci.report.summary import render_step_summary
from gradcheck_ci.report.text import render_model
from tests.samples import model, param

OVERRIDE = Notice(
    "data.steps is 20 but the InputLayer's fixed shape (100, 55, 2) wins: checked at 55 steps",
    code="data-override",
    file="models/eeg.py",
    line=14,
)
UNLOCATED = Notice(
    "checked in float64: float32 cannot resolve this model's gradients", code="float32-resolution"
)


def report() -> RunReport:
    m = model("eeg", "pass", params=[param("Dense#0.W")], line=7)
    m.notices = [OVERRIDE, UNLOCATED]
    return RunReport(config_file="gradcheck.yml", models=[m])


def test_json_round_trip_keeps_notices():
    data = json.loads(render_json(report()))
    assert data["status"] == "pass"
    assert data["models"][0]["notices"][0] == {
        "message": OVERRIDE.message,
        "code": "data-override",
        "file": "models/eeg.py",
        "line": 14,
    }
    again = ModelResult.from_json(data["models"][0])
    assert again.notices == [OVERRIDE, UNLOCATED]


def test_text_shows_each_notice_with_its_place():
    text = render_model(report().models[0])
    assert "notice data-override at models/eeg.py:14:" in text
    assert "    checked in float64" in text and "notice float32-resolution:" in text


def test_github_notice_annotations_point_at_the_code_or_the_config_entry():
    lines, omitted = annotations(report())
    assert omitted == 0
    notices = [line for line in lines if line.startswith("::notice ")]
    assert len(notices) == 2
    assert notices[0].startswith("::notice file=models/eeg.py,line=14,")
    assert notices[1].startswith(
        "::notice file=gradcheck.yml,line=7,"
    )  # no place of its own: the model's entry
    assert not any(line.startswith(("::error", "::warning")) for line in lines)


def test_junit_sarif_and_summary_carry_them_without_failing_anything():
    junit = ET.fromstring(render_junit(report()))
    case = junit.find(".//testcase")
    assert case is not None and case.find("failure") is None and case.find("error") is None
    assert "notice data-override at models/eeg.py:14:" in (case.findtext("system-out") or "")
    sarif = render_sarif(report(), "0")
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"model-notice"} and {r["level"] for r in results} == {
        "note"
    }
    assert sarif["runs"][0]["invocations"][0]["exitCode"] == 0
    assert "eeg" in render_step_summary(report())


def test_a_failing_models_summary_lists_its_notices():
    r = report()
    r.models[0].status = "fail"
    r.models[0].params = [param("Dense#0.W", "fail", abs_err=1.0, tol=1e-6)]
    summary = render_step_summary(r)
    assert "notice **data-override** at models/eeg.py:14" in summary
