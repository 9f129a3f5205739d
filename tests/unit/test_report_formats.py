"""The table of report formats is the one source its users read: the CLI's options, the action's
inputs (action.yml, the entrypoint's defaults and argv, docs/action.md's inputs table) and
write_reports."""

from __future__ import annotations

import re

import pytest
import yaml

from entrypoint import inputs
from gradcheck_ci.commands.cli import build_parser
from gradcheck_ci.report import REPORT_FORMATS, write_reports
from gradcheck_ci.report.formats import report_format
from tests import REPO
from tests.samples import sample_report


def action_inputs() -> dict[str, dict]:
    return yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))["inputs"]


def docs_inputs_table() -> dict[str, str]:
    """docs/action.md's inputs table: input -> its default column."""
    text = (REPO / "docs" / "action.md").read_text(encoding="utf-8")
    table = text.split("### Inputs", 1)[1].split("###", 1)[0]
    return {
        m.group(1): m.group(2).strip()
        for m in re.finditer(r"^\| `([a-z-]+)` \| ([^|]*) \|", table, re.M)
    }


def test_names_options_and_inputs_are_unique_and_follow_one_pattern():
    for field in ("name", "option", "action_input"):
        values = [getattr(fmt, field) for fmt in REPORT_FORMATS]
        assert len(set(values)) == len(values), field
    for fmt in REPORT_FORMATS:
        assert fmt.option == f"--{fmt.name}" and fmt.action_input == f"{fmt.name}-report"
        assert report_format(fmt.name) is fmt
    with pytest.raises(KeyError):
        report_format("pdf")


def test_action_yml_has_an_input_per_format_with_the_same_default():
    declared = action_inputs()
    for fmt in REPORT_FORMATS:
        assert fmt.action_input in declared, fmt.action_input
        assert str(declared[fmt.action_input]["default"]) == fmt.action_default, fmt.action_input
    report_inputs = {name for name in declared if name.endswith("-report")}
    assert report_inputs == {fmt.action_input for fmt in REPORT_FORMATS}


def test_entrypoint_defaults_are_action_yml_defaults():
    declared = action_inputs()
    assert set(inputs.DEFAULTS) == set(declared)
    for name, spec in declared.items():
        assert inputs.DEFAULTS[name] == str(spec["default"]), name
    for fmt in REPORT_FORMATS:
        assert inputs.DEFAULTS[fmt.action_input] == fmt.action_default


def test_docs_list_every_input_with_its_default():
    documented = docs_inputs_table()
    assert set(documented) == set(action_inputs())
    for fmt in REPORT_FORMATS:
        shown = documented[fmt.action_input]
        assert shown == (f"`{fmt.action_default}`" if fmt.action_default else "(none)"), (
            fmt.action_input
        )


def test_every_report_input_reaches_its_cli_option(tmp_path):
    env = {"GITHUB_WORKSPACE": str(tmp_path)}
    env.update({f"INPUT_{fmt.action_input.upper()}": f"out/r.{fmt.name}" for fmt in REPORT_FORMATS})
    plan = inputs.plan(env, str(tmp_path), str(tmp_path / "tmp-report.json"))
    assert plan.errors == []
    for fmt in REPORT_FORMATS:
        at = plan.argv.index(fmt.option)
        assert plan.argv[at + 1] == f"out/r.{fmt.name}"


def test_cli_has_an_option_per_format(tmp_path):
    argv = ["check"]
    for fmt in REPORT_FORMATS:
        argv += [fmt.option, f"r.{fmt.name}"]
    args = build_parser().parse_args(argv)
    assert all(getattr(args, fmt.name) == f"r.{fmt.name}" for fmt in REPORT_FORMATS)


def test_write_reports_takes_a_path_per_format(tmp_path):
    paths = {f"{fmt.name}_path": str(tmp_path / f"r.{fmt.name}") for fmt in REPORT_FORMATS}
    assert write_reports(sample_report(), **paths) == list(paths.values())
    for fmt in REPORT_FORMATS:
        assert (tmp_path / f"r.{fmt.name}").read_text(encoding="utf-8") == fmt.render(
            sample_report(), "0.1.0"
        )
    with pytest.raises(TypeError, match="pdf_path"):
        write_reports(sample_report(), pdf_path=str(tmp_path / "r.pdf"))


def test_every_format_says_what_a_directional_error_is_the_error_of():
    # The table's "max abs err" was an error along a random direction, and replay printed element
    # errors under the same name: each figure is now named for what it measures.
    from xml.etree import ElementTree

    from gradcheck_ci.core.results import RunReport
    from gradcheck_ci.report.github import annotations
    from gradcheck_ci.report.junit import render_junit
    from gradcheck_ci.report.sarif import render_sarif_text
    from gradcheck_ci.report.text import render_model
    from tests.samples import model, param

    directional = param(
        "Dense#0.W", "fail", abs_err=0.25, rel=0.5, tol=1e-9, index=[2, 4], method="directional"
    )
    grouped = param("Dense#0.b", "pass", method="grouped")
    result = model("net", "fail", params=[directional, grouped])
    text = render_model(result)
    assert [row.split()[3] for row in text.splitlines()[2:4]] == ["direction", "band"]
    phrase = (
        "abs err 0.25 along a random direction > tolerance 1e-09 (rel err 0.5; largest at "
        "element [2, 4])"
    )
    report = RunReport(models=[result], config_file="gradcheck.yml")
    failure = ElementTree.fromstring(render_junit(report)).find(".//failure")
    assert failure is not None and phrase in failure.get("message", "")
    assert phrase in render_sarif_text(report, "0.1.0")
    assert phrase in "\n".join(annotations(report)[0])


def test_every_format_renders_a_model_of_every_status():
    # an inconclusive model ended the run in an internal error when --html was given (the page had
    # no word for the status), and the models after it were never checked
    from dataclasses import replace

    from gradcheck_ci.core.results import MODEL_STATUSES
    from gradcheck_ci.report.github import annotations
    from gradcheck_ci.report.summary import render_step_summary
    from gradcheck_ci.report.text import render_model, render_summary

    base = sample_report()
    models = [
        replace(base.models[0], name=f"m-{status}", status=status) for status in MODEL_STATUSES
    ]
    report = replace(base, models=models, config_errors=[])
    for fmt in REPORT_FORMATS:
        assert fmt.render(report, "0.0"), fmt.name
    for model in models:
        assert render_model(model)
    assert "1 inconclusive" in render_summary(report)
    assert render_step_summary(report) and annotations(report)
    page = REPORT_FORMATS[[f.name for f in REPORT_FORMATS].index("html")].render(report, "0.0")
    assert "1 inconclusive" in page and 'class="badge s-inconclusive">inconclusive<' in page
