"""Step summary Markdown: readable, escaped, and always under its byte budget."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

from gradcheck_ci.core.results import RunReport
from gradcheck_ci.report.summary import md, render_step_summary
from tests.samples import hostile_report, many_models, model, param, sample_report


def size(text):
    return len(text.encode("utf-8"))


def table_rows(text):
    return [
        line
        for line in text.splitlines()
        if line.startswith("| ")
        and not line.startswith("| Status")
        and not line.startswith("| Tensor")
    ]


def unescaped_pipes(line):
    return len(re.findall(r"(?<!\\)\|", line))


def calls_made(function: Callable[[], object]) -> int:
    """How many functions (Python and C) `function()` runs: its work, counted instead of timed."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        function()
    finally:
        sys.setprofile(previous)
    return count


def test_headline_and_table():
    text = render_step_summary(sample_report())
    lines = text.splitlines()
    assert lines[0].startswith("### 💥 gradcheck-ci: 2 model(s) could not be checked")
    assert "1 configuration error(s)" in lines[0]
    assert "✅ 2 pass" in lines[2] and "❌ 2 fail" in lines[2] and "exit 2" in lines[2]
    assert "- 💥 gradcheck.yml:3: unknown key 'presicion'" in text
    assert "| Status | Model | Worst tensor | Rel err (×tol) | Cause | s |" in text
    rows = [r for r in table_rows(text) if "\\[0, 3\\]" not in r]
    # most important first: errors, failures (worst first), xpass, cancelled, xfail, pass
    assert [r.split(" | ")[1] for r in rows] == [
        "broken-import",
        "timeout",
        "seed-rnn-truncated",
        "no-cause",
        "fixed-now",
        "not-reached",
        "known-bad",
        "good",
    ]
    truncated = next(r for r in rows if "seed-rnn-truncated" in r)
    assert truncated == (
        "| ❌ fail | seed-rnn-truncated | RecurrentLayer#0.W\\_in\\_to\\_hid | 0.99 (1.6e+05×) | "
        "truncated-bptt | 1.5 |"
    )


def test_details_for_failing_and_error_models_only():
    text = render_step_summary(sample_report())
    summaries = re.findall(r"<summary>(.*?)</summary>", text)
    assert [s.split(":")[0] for s in summaries] == [
        "💥 error broken-import",
        "💥 error timeout",
        "❌ fail seed-rnn-truncated",
        "❌ fail no-cause",
    ]
    assert text.count("<details>") == text.count("</details>") == 4
    assert "Replay: seed=7" in text
    assert "**truncated-bptt** (confirmed) at models/rnn.py:21" in text
    assert (
        "```\nModuleNotFoundError: No module named 'lasagne.layers.dnn'\n  at line 3\n```" in text
    )


def test_passing_run():
    report = RunReport(
        config_file="gradcheck.yml", models=[model("a", "pass"), model("b", "pass")], seconds=3
    )
    text = render_step_summary(report)
    assert text.startswith(
        "### ✅ gradcheck-ci: 2 model(s) checked, no unexpected gradient mismatch"
    )
    assert "<details>" not in text and "left out" not in text


def test_a_pass_names_no_tensor_it_did_not_measure_alone():
    # A directional band's members pass together: no tensor has an error of its own to rank, so the
    # row names none (it showed the first tensor with "- (0×)").
    banded = [param("dense.W", abs_err=None, rel=None), param("dense.b", abs_err=None, rel=None)]
    alone = [param("dense.W", abs_err=1e-9, tol=1e-6), param("dense.b", abs_err=4e-7, tol=1e-6)]
    report = RunReport(
        config_file="gradcheck.yml",
        models=[model("banded", "pass", params=banded), model("alone", "pass", params=alone)],
    )
    rows = {r.split(" | ")[1]: r for r in table_rows(render_step_summary(report))}
    assert rows["banded"] == "| ✅ pass | banded |  |  |  | 1.5 |"
    assert rows["alone"].startswith("| ✅ pass | alone | dense.b | 1e-08 (0.4×) |")


def test_failing_run_headline():
    report = RunReport(config_file="gradcheck.yml", models=[model("a", "fail")])
    assert render_step_summary(report).startswith(
        "### ❌ gradcheck-ci: gradient mismatch in 1 model(s)"
    )


def test_omitted_annotations_are_mentioned():
    assert "3 annotation(s) not shown" in render_step_summary(
        sample_report(), omitted_annotations=3
    )
    assert "annotation(s) not shown" not in render_step_summary(sample_report())


def test_five_thousand_models_stay_under_budget():
    report = many_models(5000)
    text = render_step_summary(report, omitted_annotations=90)
    # the work grows no faster than the number of models (five times the models, under twice five
    # times the calls); a renderer that walks every model once per model would make some 25 times
    # the calls
    smaller = many_models(1000)
    work = calls_made(lambda: render_step_summary(report, omitted_annotations=90))
    assert (
        0 < work < 2 * 5 * calls_made(lambda: render_step_summary(smaller, omitted_annotations=90))
    )
    assert size(text) <= 200_000
    rows = table_rows(text)
    shown = {r.split(" | ")[1] for r in rows if r.startswith(("| ✅", "| ❌", "| 💥"))}
    failing = {m.name for m in report.models if m.status in ("fail", "error")}
    assert failing <= shown  # the cut drops passing rows first
    left = re.search(r"_(\d+) of 5000 rows left out", text)
    assert left and int(left.group(1)) == 5000 - len(shown)
    assert "Details left out for" in text and "90 annotation(s) not shown" in text


def test_small_budgets_drop_details_then_rows():
    report = many_models(300)
    full = render_step_summary(report, max_bytes=10_000_000)
    assert "left out" not in full
    for budget in (30_000, 20_000, 5_000, 3_000):
        text = render_step_summary(report, max_bytes=budget)
        assert size(text) <= budget
        assert text.startswith("### 💥 gradcheck-ci")
    rows_only = render_step_summary(
        report, max_bytes=25_000
    )  # the table is ~18 kB, the details ~15 kB
    assert "Details left out" in rows_only and "rows left out" not in rows_only
    assert "<details>" in rows_only  # as many details as fit
    assert "rows left out" in render_step_summary(report, max_bytes=10_000)
    assert size(render_step_summary(report, max_bytes=100)) <= 100  # absurd, but never over


def test_hostile_text_is_escaped():
    text = render_step_summary(hostile_report())
    tables = re.findall(r"(?:^\|.*\n)+", text, re.M)
    assert len(tables) == 2  # the main table, and the tensor table of the failing model
    for table in tables:
        head, *rows = table.splitlines()
        assert rows and all(unescaped_pipes(r) == unescaped_pipes(head) for r in rows), table
    outside_code = re.sub(r"^(`{3,})\n.*?\n\1$", "", text, flags=re.S | re.M)
    assert "<b>" not in outside_code and "&lt;b&gt;" in outside_code
    assert text.count("<details>") == text.count("</details>")
    assert "\r" not in text and "\x00" not in text and "\x1b" not in text
    summaries = re.findall(r"<summary>(.*?)</summary>", text)
    assert summaries and all("<" not in s.replace("<summary>", "") for s in summaries)


def test_code_fence_survives_backticks():
    m = model("m", "error")
    from gradcheck_ci.core.results import ErrorInfo

    m.error = ErrorInfo("before\n````\n</details>\nafter", kind="crash")
    text = render_step_summary(RunReport(config_file="g.yml", models=[m]))
    assert "`````\nbefore\n````\n</details>\nafter\n`````" in text


def test_md_cell():
    assert md("a|b\nc*d_e`f<g>&[h](i)") == "a\\|b c\\*d\\_e\\`f&lt;g&gt;&amp;\\[h\\](i)"
    assert md("x" * 100, 10) == "x" * 9 + "…"
