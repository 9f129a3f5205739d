"""A layer a helper built (`conv_block(...)` called twice) is located at the helper's line and the
calls of the helper that led there (`via`): every format names them, and a report whose layers the
factory built itself reads as before."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gradcheck_ci.core.results import RunReport
from gradcheck_ci.report.common import located
from gradcheck_ci.report.github import annotations
from gradcheck_ci.report.html import render_html
from gradcheck_ci.report.jsonreport import render_json
from gradcheck_ci.report.junit import render_junit
from gradcheck_ci.report.sarif import render_sarif_text
from gradcheck_ci.report.summary import render_step_summary
from gradcheck_ci.report.text import render_model
from gradcheck_ci.report.validity import check_report
from tests.samples import model, param, truncated_diagnosis

VIA = ["models/net.py:40", "models/stages.py:22"]
SHOWN = "models/blocks.py:5 (via models/net.py:40 > models/stages.py:22)"


def helper_report() -> RunReport:
    failing = dataclasses.replace(
        param("Conv2DLayer#3.W", "fail", abs_err=0.1, rel=0.9, file="models/blocks.py", line=5),
        via=list(VIA),
    )
    diagnosis = dataclasses.replace(
        truncated_diagnosis(), file="models/blocks.py", line=5, via=list(VIA)
    )
    built_here = param("DenseLayer#0.W", file="models/net.py", line=44)
    result = model("blocks", "fail", params=[failing, built_here], diagnoses=[diagnosis])
    return RunReport(config_file="gradcheck.yml", models=[result], seconds=1.0)


def test_located_names_the_calls_outermost_first_and_only_when_there_are_some():
    report = helper_report()
    failing, built_here = report.models[0].params
    assert located(failing) == SHOWN
    assert located(built_here) == "models/net.py:44"
    # a report read back may hold anything: what is not a list of strings is left out
    odd = dataclasses.replace(built_here, via="models/net.py:1")  # type: ignore[arg-type]
    assert located(odd) == "models/net.py:44"


def test_every_format_names_the_helper_calls():
    report = helper_report()
    rendered = {
        "text": render_model(report.models[0]),
        "summary": render_step_summary(report),
        "junit": render_junit(report),
        "html": render_html(report, "0.0"),
    }
    for name, text in rendered.items():
        assert "models/net.py:40 &gt; models/stages.py:22" in text or SHOWN in text, name
    assert f"diagnosis truncated-bptt (confirmed) at {SHOWN}" in rendered["text"]
    # the annotation and the code-scanning alert sit on the helper's line and say which call
    lines, _ = annotations(report)
    assert any(f"Built at {SHOWN}." in line.replace("%0A", "\n") for line in lines)
    assert f"Built at {SHOWN}." in render_sarif_text(report, "0.0")


def test_json_has_via_only_where_a_helper_built_the_layer_and_reads_back():
    data = json.loads(render_json(helper_report()))
    failing, built_here = data["models"][0]["params"]
    assert failing["via"] == VIA and "via" not in built_here
    assert data["models"][0]["diagnoses"][0]["via"] == VIA
    check_report(data)
    failing["via"] = "models/net.py:40"
    with pytest.raises(ValueError, match="via"):
        check_report(data)
