"""SARIF 2.1.0, validated against the official schema."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from gradcheck_ci.core.results import Diagnosis, ErrorInfo, RunReport
from gradcheck_ci.report.sarif import render_sarif
from tests.samples import hostile_report, model, param, sample_report, truncated_diagnosis

# The official SARIF 2.1.0 schema, kept in the repository (its source: the README beside it), so
# that this slice passes from a clone with nothing beside it.
SCHEMA_PATH = (
    Path(__file__).resolve().parents[1] / "fixtures" / "schemas" / "sarif-schema-2.1.0.json"
)
SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


@pytest.fixture(scope="module")
def validator():
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        schema = json.load(handle)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_schema_is_the_published_one():
    """The vendored file is OASIS's, unedited: its digest is the one
    tests/fixtures/schemas/README.md records."""
    assert hashlib.sha256(SCHEMA_PATH.read_bytes()).hexdigest() == SCHEMA_SHA256
    readme = (SCHEMA_PATH.parent / "README.md").read_text(encoding="utf-8")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert SCHEMA_SHA256 in readme and schema["id"] in readme
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")


def results_of(sarif):
    return sarif["runs"][0]["results"]


def loc(result):
    physical = result["locations"][0]["physicalLocation"]
    return physical["artifactLocation"]["uri"], physical.get("region", {}).get("startLine")


def test_sample_is_valid_sarif(validator):
    sarif = render_sarif(sample_report(), "0.1.0")
    validator.validate(sarif)
    json.dumps(sarif, allow_nan=False)  # strict JSON
    assert (
        sarif["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
        and sarif["version"] == "2.1.0"
    )
    driver = sarif["runs"][0]["tool"]["driver"]
    assert (
        driver["name"] == "gradcheck-ci"
        and driver["version"] == "0.1.0"
        and driver["informationUri"]
    )


def test_hostile_is_valid_sarif(validator):
    sarif = render_sarif(hostile_report(), "0.1.0")
    validator.validate(sarif)
    json.dumps(sarif, allow_nan=False)
    for result in results_of(sarif):
        assert result["message"]["text"].strip()
        assert "\x00" not in result["message"]["text"]


def test_rules_and_indexes():
    sarif = render_sarif(sample_report(), "0.1.0")
    rules = sarif["runs"][0]["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert ids == [
        "gradient-mismatch",
        "expected-gradient-mismatch",
        "expected-failure-passes",
        "model-error",
        "config-error",
        "truncated-bptt",
    ]
    for rule in rules:
        assert (
            rule["shortDescription"]["text"]
            and rule["fullDescription"]["text"]
            and rule["help"]["text"]
        )
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    for result in results_of(sarif):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_results_per_model():
    found = [
        (r["ruleId"], r["level"], loc(r), r["message"]["text"].split(":")[0])
        for r in results_of(render_sarif(sample_report(), "0.1.0"))
    ]
    assert found == [
        ("config-error", "error", ("gradcheck.yml", 3), "unknown key 'presicion'"),
        # the diagnosis explains the failing tensor of its layer: no separate gradient-mismatch
        # result
        ("truncated-bptt", "error", ("models/rnn.py", 21), "seed-rnn-truncated"),
        # no diagnosis: one result per failing tensor, at its layer
        ("gradient-mismatch", "error", ("models/custom.py", 40), "no-cause"),
        ("gradient-mismatch", "error", ("models/custom.py", 41), "no-cause"),
        # a known mismatch keeps its own rule whatever the cause (the message names the cause)
        ("expected-gradient-mismatch", "note", ("models/rnn.py", 21), "known-bad"),
        (
            "expected-failure-passes",
            "warning",
            ("gradcheck.yml", 21),
            "fixed-now is marked `expect",
        ),
        ("model-error", "error", ("models/broken.py", 3), "broken-import"),
        ("model-error", "error", ("gradcheck.yml", 29), "timeout"),
        # cancelled models are not a finding about the code
    ]
    for r in results_of(render_sarif(sample_report(), "0.1.0")):
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"


def test_expected_fail_without_diagnosis_uses_its_own_rule():
    m = model("known", "expected-fail", expect="fail", params=[param("L.W", "fail", abs_err=1.0)])
    (result,) = results_of(render_sarif(RunReport(config_file="g.yml", models=[m]), "1"))
    assert (result["ruleId"], result["level"]) == ("expected-gradient-mismatch", "note")


def test_diagnosis_of_another_layer_leaves_tensor_unexplained():
    d = Diagnosis(code="grad-clip-zero", message="grad_clipping=0", layer="Other#1")
    m = model("m", "fail", diagnoses=[d], params=[param("L.W", "fail", abs_err=1.0, layer="L")])
    rules = [
        r["ruleId"]
        for r in results_of(render_sarif(RunReport(config_file="g.yml", models=[m]), "1"))
    ]
    assert rules == ["grad-clip-zero", "gradient-mismatch"]


def test_region_omitted_when_line_unknown_and_uri_encoded():
    m = model(
        "m",
        "fail",
        params=[param("L.W", "fail", abs_err=1.0, file="my models/net é.py", line=None)],
    )
    (result,) = results_of(render_sarif(RunReport(config_file="g.yml", models=[m]), "1"))
    physical = result["locations"][0]["physicalLocation"]
    assert "region" not in physical
    assert physical["artifactLocation"]["uri"] == "my%20models/net%20%C3%A9.py"


def fingerprints(report):
    return [
        r["partialFingerprints"]["gradcheckFingerprint/v1"]
        for r in results_of(render_sarif(report, "1"))
    ]


def test_fingerprints_ignore_lines_but_not_identity():
    before = sample_report()
    moved = sample_report()
    for m in moved.models:
        m.config_line = (m.config_line or 0) + 7
        for p in m.params:
            p.line = (p.line or 0) + 3
        for d in m.diagnoses:
            d.line = (d.line or 0) + 3
    assert fingerprints(before) == fingerprints(moved)
    prints = fingerprints(before)
    assert all(len(f) == 64 for f in prints)
    assert len(set(prints)) == len(prints)  # distinct findings, distinct fingerprints
    renamed = sample_report()
    renamed.models[2].name = "other"
    assert fingerprints(renamed) != prints


def test_an_invalid_model_entry_is_a_config_error():
    m = model(
        "bad",
        "error",
        error=ErrorInfo("seed must be an integer >= 0", "gradcheck.yml", 5, "config"),
    )
    (result,) = results_of(render_sarif(RunReport(config_file="gradcheck.yml", models=[m]), "1"))
    assert result["ruleId"] == "config-error" and loc(result) == ("gradcheck.yml", 5)


def test_expected_failure_with_a_cause_names_it_under_its_own_rule():
    d = truncated_diagnosis()
    m = model(
        "known",
        "expected-fail",
        expect="fail",
        diagnoses=[d],
        params=[
            param("RecurrentLayer#0.W_in_to_hid", "fail", abs_err=1.0, layer="RecurrentLayer#0")
        ],
    )
    results = results_of(render_sarif(RunReport(config_file="g.yml", models=[m]), "1"))
    assert [(r["ruleId"], r["level"]) for r in results] == [("expected-gradient-mismatch", "note")]
    assert "truncated-bptt" in results[0]["message"]["text"]


def test_srcroot_is_declared_with_the_root_when_known(tmp_path):
    report = sample_report()
    run = render_sarif(report, "1")["runs"][0]
    assert run["originalUriBaseIds"]["%SRCROOT%"] == {
        "description": run["originalUriBaseIds"]["%SRCROOT%"]["description"]
    }  # unknown root: declared, no uri
    report.root = str(tmp_path)
    uri = render_sarif(report, "1")["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert uri == tmp_path.as_uri() + "/"
    assert "root" not in json.loads(json.dumps(report.to_json()))  # never in the JSON report


def test_information_uri_comes_from_the_package_metadata(monkeypatch):
    from importlib import metadata

    from gradcheck_ci.report import sarif

    class Meta:
        def get_all(self, name):
            assert name == "Project-URL"
            return [
                "Changelog, https://example.org/changes",
                "Homepage, https://example.org/gradcheck-ci",
            ]

    monkeypatch.setattr(metadata, "metadata", lambda name: Meta())
    assert sarif.information_uri() == "https://example.org/gradcheck-ci"
    assert render_sarif(sample_report(), "1")["runs"][0]["tool"]["driver"]["informationUri"] == (
        "https://example.org/gradcheck-ci"
    )

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "metadata", missing)
    assert sarif.information_uri() == sarif.FALLBACK_INFORMATION_URI
