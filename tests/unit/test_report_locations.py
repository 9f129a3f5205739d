"""Where each format points for a model: the same place the text report names."""

from __future__ import annotations

import dataclasses
import json

from gradcheck_ci.core.results import RunReport
from gradcheck_ci.report.github import annotations
from gradcheck_ci.report.sarif import render_sarif_text
from tests.samples import model, param, truncated_diagnosis


def test_an_inconclusive_model_is_annotated_where_its_diagnosis_is():
    # the text said stochastic-forward at model.py:14; the annotation and SARIF sat on line 10, the
    # layer of the first tensor the noise left unjudged
    noisy = dataclasses.replace(param("Dense#0.W", "inconclusive"), file="vae/model.py", line=10)
    cause = dataclasses.replace(
        truncated_diagnosis(), code="stochastic-forward", file="vae/model.py", line=14
    )
    result = model("vae-leaky", "inconclusive", params=[noisy], diagnoses=[cause])
    report = RunReport(config_file="gradcheck.yml", models=[result], seconds=1.0)
    lines, _ = annotations(report)
    assert any(line.startswith("::warning file=vae/model.py,line=14,") for line in lines), lines
    sarif = json.loads(render_sarif_text(report, "0.0"))
    [location] = sarif["runs"][0]["results"][0]["locations"]
    assert location["physicalLocation"]["region"]["startLine"] == 14
