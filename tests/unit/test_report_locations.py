"""Where each format points for a model: the same place the text report names."""

from __future__ import annotations

import dataclasses
import json

from gradcheck_ci.core.results import RunReport
from gradcheck_ci.report.github import annotations
from gradcheck_ci.report.sarif import render_sarif_text
from tests.samples import model, param, truncated_diagnosis


def validate_sarif(sarif: dict) -> None:
    """Against the SARIF 2.1.0 schema the project keeps (tests/fixtures/schemas)."""
    import jsonschema

    from tests.unit.test_report_sarif import SCHEMA_PATH

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema)(schema).validate(sarif)


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


def test_a_pass_that_a_diagnosis_qualifies_is_annotated_and_scanned_at_its_line():
    # `disconnected` on a passing model was in the text, JSON and summary, but no annotation and no
    # SARIF result said it
    cause = dataclasses.replace(
        truncated_diagnosis(),
        code="disconnected",
        message="VAE#0.logvar.W is not in the graph of the loss",
        file="vae/model.py",
        line=12,
    )
    result = model("vae", "pass", params=[param("Dense#0.W")], diagnoses=[cause])
    report = RunReport(config_file="gradcheck.yml", models=[result], seconds=1.0)
    lines, _ = annotations(report)
    assert any(
        line.startswith("::warning file=vae/model.py,line=12,title=gradcheck-ci%3A vae passes")
        for line in lines
    ), lines
    sarif = json.loads(render_sarif_text(report, "0.0"))
    validate_sarif(sarif)
    [found] = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "disconnected"]
    assert found["level"] == "warning"
    assert found["locations"][0]["physicalLocation"]["region"]["startLine"] == 12


def test_a_cause_the_model_allows_is_no_warning_on_its_pass():
    # the `allowed-cause` notice says it (a note); a warning would flag what the user accepted
    allowed = dataclasses.replace(
        truncated_diagnosis(), code="gradient-stopped", evidence={"allowed": True}
    )
    result = model("weightnorm", "pass", params=[param("Dense#0.W")], diagnoses=[allowed])
    report = RunReport(config_file="gradcheck.yml", models=[result], seconds=1.0)
    lines, _ = annotations(report)
    assert not any(line.startswith("::warning") for line in lines), lines
    sarif = json.loads(render_sarif_text(report, "0.0"))
    assert [r for r in sarif["runs"][0]["results"] if r["level"] != "note"] == []
