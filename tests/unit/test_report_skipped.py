"""`skipped` (a model `check --changed-since` left out): shown by every format, never changing the
verdict.

JSON keeps it and its reason, text and the job summary list it, JUnit marks the test case skipped,
SARIF and the annotations say nothing (nothing about the code changed), and the exit code is that of
the models checked.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from gradcheck_ci.core.extra import ModelExtra, Profile
from gradcheck_ci.core.results import EXIT_MISMATCH, EXIT_OK, MODEL_STATUSES, RunReport, SkipInfo
from gradcheck_ci.report import github
from gradcheck_ci.report.jsonreport import read_json, render_json, write_json
from gradcheck_ci.report.junit import render_junit
from gradcheck_ci.report.sarif import render_sarif
from gradcheck_ci.report.summary import profile_chart, render_step_summary
from gradcheck_ci.report.text import render_model, render_summary
from tests.samples import model, param


def skipped(name: str = "unchanged-net", previous: str | None = "fail"):
    result = model(name, "skipped", seconds=0.0)
    result.skipped = SkipInfo(
        "unchanged", "none of its files nor its gradcheck.yml entry changed since main", previous
    )
    result.files = {"models/net.py": "0" * 64}
    return result


def report(*models) -> RunReport:
    return RunReport(config_file="gradcheck.yml", models=list(models), version="0.1.0")


def test_skipped_is_a_status_and_never_changes_the_exit_code():
    assert "skipped" in MODEL_STATUSES
    assert report(skipped()).exit_code == EXIT_OK
    assert report(skipped(), model("good", "pass", params=[param("D.W")])).status == "pass"
    failing = model("bad", "fail", params=[param("D.W", "fail", abs_err=1.0)])
    assert report(skipped(previous="pass"), failing).exit_code == EXIT_MISMATCH


def test_json_keeps_the_reason_and_the_record(tmp_path):
    data = json.loads(render_json(report(skipped())))
    entry = data["models"][0]
    assert entry["status"] == "skipped"
    assert entry["skipped"] == {
        "reason": "unchanged",
        "previous_status": "fail",
        "message": "none of its files nor its gradcheck.yml entry changed since main",
    }
    assert entry["files"] == {"models/net.py": "0" * 64}
    write_json(report(skipped()), str(tmp_path / "r.json"))
    back = read_json(str(tmp_path / "r.json"))
    assert back.models[0].skipped == skipped().skipped and back.version == "0.1.0"


def test_text_names_it_and_counts_it():
    text = render_model(skipped())
    assert text.startswith("SKIPPED unchanged-net")
    assert (
        "skipped: none of its files nor its gradcheck.yml entry changed since main (last checked: "
        "fail)" in text
    )
    summary = render_summary(report(skipped(), model("good", "pass")))
    assert (
        "1 pass" in summary
        and "1 skipped (unchanged)" in summary
        and "result: PASS (exit 0)" in summary
    )
    assert "skipped" not in render_summary(
        report(model("good", "pass"))
    )  # runs without it read as before


def test_junit_marks_the_case_skipped():
    root = ET.fromstring(render_junit(report(skipped(), model("good", "pass"))))
    case = root.find(".//testcase[@name='unchanged-net']")
    assert case is not None and case.find("skipped") is not None
    assert "changed since main" in case.find("skipped").get("message")
    assert root.get("skipped") == "1" and root.get("failures") == "0" and root.get("errors") == "0"


def test_sarif_and_annotations_say_nothing():
    sarif = render_sarif(report(skipped()), "0.1.0")
    assert sarif["runs"][0]["results"] == []
    lines, omitted = github.annotations(report(skipped()))
    assert lines == [] and omitted == 0


def test_job_summary_lists_it_last_and_counts_it():
    text = render_step_summary(report(skipped(), model("good", "pass")))
    assert "1 model(s) checked, 1 skipped (unchanged)" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "Status" not in line]
    assert rows[-1].startswith("| ⏭️ skipped | unchanged-net |") and "| unchanged |" in rows[-1]


def test_job_summary_links_the_html_report_and_draws_profiles_as_mermaid():
    failing = model("rnn", "fail", params=[param("R.W", "fail", abs_err=1.0)])
    failing.extra.profiles = [
        rnn_profile(
            layer='Rec"urrent]\nLayer',
            analytic=[0.0, 0.0, 2e-3],
            numeric=[1e-4, -3e-4, 2e-3],
            summary="analytic gradient is zero before the last 1 of 3 steps",
        )
    ]
    text = render_step_summary(
        report(failing),
        html_report="out/report.html",
        run_url="https://github.com/o/r/actions/runs/7",
    )
    link = "[this run's artifacts](https://github.com/o/r/actions/runs/7#artifacts)"
    assert f"the HTML report `out/report.html` ({link}" in text
    block = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert (
        "xychart-beta" in block and 'title "RecurrentLayer: log10 |dL/dh_t| by time step"' in block
    )
    assert 'x-axis "t" [0, 1, 2]' in block and 'y-axis "log10 |dL/dh_t|" -6 --> -2' in block
    assert "    line [-6, -6, -2.7]\n" in block  # the analytic zeros drawn on the floor
    assert "    line [-4.0, -3.52, -2.7]\n" in block
    assert "html" not in render_step_summary(report(failing)).lower()


def rnn_profile(
    layer="RecurrentLayer#0", steps=(0, 1, 2), analytic=(), numeric=(), summary=""
) -> Profile:
    return Profile(
        layer=layer,
        file=None,
        line=None,
        input="InputLayer#0",
        steps_total=len(steps),
        steps=list(steps),
        analytic=list(analytic),
        numeric=list(numeric),
        agree=[False] * len(steps),
        analytic_nonzero_steps=None,
        summary=summary,
    )


def test_profile_charts_need_usable_numbers():
    assert profile_chart(rnn_profile(steps=[0, 1], analytic=[0.0], numeric=[1.0, 2.0])) == ""
    assert profile_chart(rnn_profile(steps=[0, 1], analytic=[0.0, 0.0], numeric=[0.0, 0.0])) == ""
    # not numbers: read from a report, it is kept as written, and no chart is drawn from it
    unusable = {"profiles": [{"steps": [0], "analytic": ["x"], "numeric": [1.0]}]}
    assert ModelExtra.from_json(unusable).layer_profiles() == []
