"""JUnit XML, read back with junitparser as other CI systems would."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from junitparser import Error, Failure, JUnitXml, Skipped

from gradcheck_ci.core.results import RunReport
from gradcheck_ci.report.junit import render_junit
from tests.samples import hostile_report, model, param, sample_report


def parse(report):
    xml = JUnitXml.fromstring(render_junit(report))
    (suite,) = list(xml)
    return xml, suite, {case.name: case for case in suite}


def test_counts_and_names():
    xml, suite, cases = parse(sample_report())
    assert suite.name == "gradcheck-ci: gradcheck.yml"
    # 8 models + one testcase for the configuration errors
    assert (suite.tests, suite.failures, suite.errors, suite.skipped) == (9, 2, 4, 1)
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (9, 2, 4, 1)
    assert suite.time == 12.5
    assert list(cases) == [
        "configuration",
        "good",
        "seed-rnn-truncated",
        "no-cause",
        "known-bad",
        "fixed-now",
        "broken-import",
        "timeout",
        "not-reached",
    ]
    assert {c.classname for c in cases.values()} == {"gradcheck-ci.gradcheck"}


def test_testcase_location_and_time():
    _, _, cases = parse(sample_report())
    case = cases["seed-rnn-truncated"]
    assert case._elem.get("file") == "gradcheck.yml" and case._elem.get("line") == "9"
    assert case.time == 1.5


def test_failure_text_has_tensor_table_and_diagnosis():
    _, _, cases = parse(sample_report())
    (failure,) = cases["seed-rnn-truncated"].result
    assert isinstance(failure, Failure) and failure.type == "gradient-mismatch"
    assert failure.message.startswith(
        "RecurrentLayer#0.W_in_to_hid: abs err 0.16 at element [0, 3] > tolerance "
        "1e-06 (rel err 0.99)"
    )
    assert "seed=7" in failure.text
    assert "RecurrentLayer#0.W_in_to_hid  2x10   fail" in failure.text
    assert "cause truncated-bptt (confirmed) at models/rnn.py:21" in failure.text
    assert "fix: use gradient_steps=-1" in failure.text
    (failure,) = cases["no-cause"].result
    assert "cause" not in failure.text and "Custom#1.b" in failure.text


def test_other_outcomes():
    _, _, cases = parse(sample_report())
    assert cases["good"].is_passed and cases["fixed-now"].is_passed
    (skipped,) = cases["known-bad"].result
    assert isinstance(skipped, Skipped) and skipped.message.startswith("expected failure: ")
    (error,) = cases["broken-import"].result
    assert isinstance(error, Error) and error.type == "load"
    assert error.text.startswith("models/broken.py:3: ModuleNotFoundError")
    (error,) = cases["not-reached"].result
    assert isinstance(error, Error) and error.type == "cancelled"
    (error,) = cases["configuration"].result
    assert error.text == "gradcheck.yml:3: unknown key 'presicion'"


def test_expected_fail_that_passes_under_fail_on_expected():
    m = model("fixed", "fail", expect="fail", params=[param("L.W")])
    _, suite, cases = parse(RunReport(config_file="ci/checks.yaml", models=[m]))
    (failure,) = cases["fixed"].result
    assert failure.type == "unexpected-pass" and suite.failures == 1
    assert cases["fixed"].classname == "gradcheck-ci.checks"


def test_hostile_text_is_well_formed_xml():
    text = render_junit(hostile_report())
    ET.fromstring(text.encode("utf-8"))  # would raise on an illegal character
    assert "\x00" not in text and "\x07" not in text and "\x1b" not in text
    _, suite, _ = parse(hostile_report())
    names = [case.name for case in suite]
    assert names[0] == "configuration"
    assert all("é漢字🙂" in n for n in names[1:])
    assert "<b>" in names[1]  # escaped by the XML writer, not mangled
    (failure,) = list(suite)[1].result
    assert "::error::pwn" in failure.text


def test_empty_report():
    _, suite, cases = parse(RunReport(config_file="gradcheck.yml"))
    assert suite.tests == 0 and cases == {}
