"""The report files `gradcheck-ci check` can write: one row per format.

A row is the one place that names the format's `check` option (commands/cli.py builds the options
from the table), its input of the GitHub Action with that input's default (entrypoint/inputs.py
reads them from here; tests/unit/test_report_formats.py holds action.yml and docs/action.md to them)
and its renderer. Adding a format is its renderer module plus one row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..core.results import RunReport
from .atomic import write_atomic
from .html import render_html
from .jsonreport import render_json
from .junit import render_junit
from .overwrite import Output, head_matches
from .sarif import render_sarif_text

Renderer = Callable[[RunReport, str], str]  # (report, gradcheck-ci version) -> the file's text


@dataclass(frozen=True)
class ReportFormat:
    # also the option's argparse dest (args.<name>) and write_reports' `<name>_path` keyword
    name: str
    option: str  # the `gradcheck-ci check` option that asks for the file
    help: str  # that option's help text
    action_input: str  # the GitHub Action's input that names the file's path
    action_default: str  # that input's default ("" writes no file unless asked)
    render: Renderer
    kind: str  # what the file is called in a message: "JSON report"
    # A regular expression that the first few KB of every file `render` writes match, and another
    # program's file does not: a file at the path that fails it is not replaced (overwrite.py).
    marker: str

    def write(self, report: RunReport, path: str, tool_version: str) -> None:
        """Render and write atomically: a later CI step never reads half a file."""
        write_atomic(path, self.render(report, tool_version))

    def output(self, path: str) -> Output:
        """`path` as a file this format's option asks to write (overwrite.output_clash)."""
        return Output(self.option, path, self.kind, head_matches(self.marker))


REPORT_FORMATS: tuple[ReportFormat, ...] = (
    ReportFormat(
        name="json",
        option="--json",
        help="write the JSON report here",
        action_input="json-report",
        action_default="gradcheck-report.json",
        render=lambda report, _version: render_json(report),
        kind="JSON report",
        marker=r'\A\s*\{.*?"schema"\s*:\s*"gradcheck-ci/report/',
    ),
    ReportFormat(
        name="junit",
        option="--junit",
        help="write a JUnit XML report here",
        action_input="junit-report",
        action_default="",
        render=lambda report, _version: render_junit(report),
        kind="JUnit XML report",
        marker=r'<testsuites\s[^>]*?name="gradcheck-ci"',
    ),
    ReportFormat(
        name="sarif",
        option="--sarif",
        help="write a SARIF 2.1.0 report here",
        action_input="sarif-report",
        action_default="",
        render=render_sarif_text,
        kind="SARIF report",
        marker=r'\A\s*\{.*?"driver"\s*:\s*\{\s*"name"\s*:\s*"gradcheck-ci"',
    ),
    ReportFormat(
        name="html",
        option="--html",
        help="write a self-contained HTML report (with charts) here",
        action_input="html-report",
        action_default="",
        render=render_html,
        kind="HTML report",
        marker=r"<title>gradcheck-ci: ",
    ),
)


def report_format(name: str) -> ReportFormat:
    """The row called `name` (KeyError for a format that does not exist)."""
    for fmt in REPORT_FORMATS:
        if fmt.name == name:
            return fmt
    raise KeyError(name)


def write_reports(
    report: RunReport, *, tool_version: str = "0.1.0", **paths: str | None
) -> list[str]:
    """Write each format given a path (`json_path=...`, `junit_path=...`, `sarif_path=...`)
    atomically.

    Returns the paths written, in the table's order; a missing or empty path writes nothing.
    """
    known = {f"{fmt.name}_path" for fmt in REPORT_FORMATS}
    unknown = sorted(set(paths) - known)
    if unknown:
        raise TypeError(f"write_reports() got unknown report paths: {', '.join(unknown)}")
    written = []
    for fmt in REPORT_FORMATS:
        path = paths.get(f"{fmt.name}_path")
        if path:
            fmt.write(report, path, tool_version)
            written.append(path)
    return written
