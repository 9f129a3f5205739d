"""A report written while `extra` was a plain dict (tests/fixtures/old-report) loads into the typed
fields of core/extra.py, is written back byte for byte, and renders in every format exactly as the
dict-based code rendered it: replay, merge and --changed-since read such reports."""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields

import pytest

from gradcheck_ci.commands.replay import element_lines
from gradcheck_ci.core.extra import (
    WORKER_TO_RUNNER,
    CompileSummary,
    Float64Outcome,
    ModelExtra,
    Profile,
    ProfileError,
)
from gradcheck_ci.core.results import ModelResult
from gradcheck_ci.report.github import annotations
from gradcheck_ci.report.html import render_html
from gradcheck_ci.report.jsonreport import merge_reports, read_json, render_json, write_json
from gradcheck_ci.report.junit import render_junit
from gradcheck_ci.report.sarif import render_sarif_text
from gradcheck_ci.report.summary import render_step_summary
from gradcheck_ci.report.text import render_model, render_summary
from tests import REPO
from tests.samples import param

OLD = REPO / "tests" / "fixtures" / "old-report" / "gradcheck-report.json"
W = "RecurrentLayer#0.W_in_to_hid"

BADGE_RULE_BEFORE = ".s-expected-fail, .s-xpass, .s-cancelled { background: var(--warn); }"
BADGE_RULE_NOW = (
    ".s-expected-fail, .s-xpass, .s-cancelled, .s-inconclusive { background: var(--warn); }"
)
# sha256 of each rendering of the old report by the code that wrote it (extra a dict); summary and
# html since a passing row names no tensor it did not compare on its own
RENDERED_BEFORE = {
    "text": "d615dbcb67d28e639c6a065b70fee8e3d9e1279fdd41d1999b35efbb7d91f632",
    "summary": "8be906c07eb6087c676b7ead5daef9612ce03a7e5d06020d443c652e22773362",
    "html": "7aabd20498fb71b44c5c10f59f9cb12342bdbf292ca92d54653b51919884e87c",
    "junit": "eec3631212dad878e044da628964aa735a972319f23371319ab574ff4e26045e",
    "sarif": "006f19456fe405cff8442d0f29435b31787de0bd344f5e4876aa83247ea43fda",
    "annotations": "e75d9584cf0c0a66936f0448c87a1c4897fc9bc3e217e2b1b3ace87512924be0",
    "replay": "6a8e188092877e6874183cd30f2d5504d7c6f75a771085e9f6ef3bcddb6ccda7",
}


def renderings(path: str) -> dict[str, str]:
    report = read_json(path)
    return {
        "text": "\n".join(render_model(m) for m in report.models) + "\n" + render_summary(report),
        "summary": render_step_summary(
            report, html_report="report.html", run_url="https://github.com/o/r/actions/runs/7"
        ),
        "html": render_html(report, "0.1.0"),
        "junit": render_junit(report),
        "sarif": render_sarif_text(report, "0.1.0"),
        "annotations": "\n".join(annotations(report)[0]),
        "replay": "\n".join(line for m in report.models for line in element_lines(m)),
    }


def test_every_key_of_the_old_extra_lands_in_its_typed_field():
    truncated, float32, _, fixed = read_json(str(OLD)).models
    assert isinstance(truncated.extra.compile, CompileSummary)
    assert truncated.extra.compile.cache == "hit" and truncated.extra.compile.functions == 2
    assert truncated.extra.diagnosis_compile is not None
    assert truncated.extra.forward_repeatable is True
    (profile,) = truncated.extra.profiles or []
    assert isinstance(profile, Profile) and profile.steps_total == 10000 and profile.line == 15
    assert truncated.extra.other == {}

    extra = float32.extra
    assert isinstance(extra.float64, Float64Outcome) and extra.float64.confirmed == [W]
    assert extra.float64.float32 is not None and extra.float64.float32[W]["status"] == "fail"
    assert [d["code"] for d in extra.float64.diagnoses or []] == ["truncated-bptt"]
    assert extra.replay is not None and extra.replay.tensors[0].disagree == 4
    assert extra.allow_error and extra.diagnosis_error and extra.diagnosis_skipped
    nan_profile, failed = extra.profiles or []
    assert isinstance(failed, ProfileError) and failed.error == "MemoryError: "
    assert isinstance(nan_profile, Profile) and nan_profile.numeric[3] != nan_profile.numeric[3]
    # a key an earlier version wrote: kept, read by nothing
    assert extra.other == {"float64_seconds": 12.25}

    assert fixed.extra.unexpected_pass is True
    assert fixed.extra.float64 == Float64Outcome(error="it ran out of time (54 s)", seconds=54.0)


def test_the_old_report_is_written_back_byte_for_byte(tmp_path):
    text = OLD.read_text(encoding="utf-8")
    assert render_json(read_json(str(OLD))) == text
    # and again from what was written
    path = tmp_path / "again.json"
    write_json(read_json(str(OLD)), str(path))
    assert path.read_text(encoding="utf-8") == text


def test_merge_keeps_the_old_extra_as_it_was():
    old = json.loads(OLD.read_text(encoding="utf-8"))
    merged = json.loads(render_json(merge_reports([read_json(str(OLD))])))
    by_name = {m["name"]: m["extra"] for m in merged["models"]}
    assert by_name == {m["name"]: m["extra"] for m in old["models"]}


def test_the_old_report_renders_in_every_format_as_before():
    rendered = renderings(str(OLD))
    # what the typed fields feed, legibly, before the digests
    assert (
        "  compile 1.4s: loaded from the function cache; the diagnosis compiled 2 more in 2.7s "
        "(loaded from the function cache)"
    ) in rendered["text"]
    assert (
        "  profile: RecurrentLayer#0: analytic gradient is zero before the last 1"
        in (rendered["text"])
    )
    assert "XPASS seed-rnn-fixed" in rendered["text"]
    assert "compiled; the function cache cannot hold it (an op holds a lambda)" in rendered["text"]
    assert rendered["replay"].startswith(f"  {W} (2x2): 4 of 4 element(s) disagree")
    # the profile with a NaN draws no Mermaid chart, as before
    assert (
        rendered["summary"].count("```mermaid") == 1
        and "Gradient through time" in (rendered["html"])
    )
    # the page's style has since gained a badge for inconclusive models; the rule is put back as it
    # was, so that anything else that renders differently still shows
    assert BADGE_RULE_NOW in rendered["html"]
    rendered["html"] = rendered["html"].replace(BADGE_RULE_NOW, BADGE_RULE_BEFORE)
    digests = {k: hashlib.sha256(v.encode("utf-8")).hexdigest() for k, v in rendered.items()}
    changed = {k: v for k, v in digests.items() if v != RENDERED_BEFORE[k]}
    assert not changed, f"renders differently from the dict-based code: {changed}"


def test_what_this_version_cannot_read_is_kept_as_written_and_read_by_nothing():
    written = {
        "compile": "compiled",  # not a summary
        "forward_repeatable": None,
        "profiles": [{"layer": "LSTMLayer#0"}],  # not a profile
        "diagnosis_compile": {"functions": 1, "seconds": 0.5, "cache": "hit", "hits": 1},
        "unexpected_pass": "yes",
        "from_a_later_version": {"x": [1, 2]},
    }
    extra = ModelExtra.from_json(written)
    assert extra == ModelExtra(other=written)
    assert extra.to_json() == written and list(extra.to_json()) == list(written)
    model = ModelResult.from_json(
        {
            "name": "m",
            "factory": "m.py:f",
            "status": "fail",
            "seed": 0,
            "precision": "float64",
            "mode": "full",
            "expect": "fail",
            "extra": written,
        }
    )
    model.params = [param("L.W", "fail")]  # still failing: only a true flag makes it an XPASS
    text = render_model(model)
    assert "compile" not in text and "profile:" not in text and "now agree" not in text
    assert model.to_json()["extra"] == written


def test_a_known_key_read_well_comes_first_then_what_was_kept():
    extra = ModelExtra.from_json({"float64_seconds": 3.0, "unexpected_pass": True})
    assert list(extra.to_json()) == ["unexpected_pass", "float64_seconds"]


def test_readme_names_every_key_a_report_may_hold_in_extra():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### JSON report") :]
    section = section[: section.index("\n#")]
    # some go from the worker to the runner only; other is what was kept, not a key
    keys = [f.name for f in fields(ModelExtra) if f.name not in (*WORKER_TO_RUNNER, "other")]
    assert [k for k in keys if f'"{k}"' not in section] == []


def test_the_evaluation_record_keeps_its_shape():
    # as the runner writes it: compile_later only for a check evaluated with Python
    for written in (
        {
            "evaluation": {
                "code": "python",
                "why": "no C code was compiled yet",
                "compile_later": False,
            }
        },
        {"evaluation": {"code": "c", "why": "the check without C ended in an error (x)"}},
    ):
        extra = ModelExtra.from_json(written)
        assert extra.evaluation is not None and extra.other == {}
        assert extra.to_json() == written


def test_every_field_of_the_extra_is_read_back_into_its_field():
    """A field without its reader would come back from the worker's result in `other` (and so into
    the report), not in the field the runner reads."""
    from gradcheck_ci.core import extra

    written = {f.name for f in fields(ModelExtra) if f.name != "other"}
    assert written == set(extra._READERS)
    assert ModelExtra.from_json({"same_with_c": True}).same_with_c is True


def test_every_field_of_every_record_has_a_reader():
    """Records are read from their fields' annotations (extra.JsonRecord): a field annotated with a
    type the reader does not know would fail every report that holds it, so it fails here first."""
    from gradcheck_ci.core import extra

    records = [c for c in vars(extra).values() if isinstance(c, type) and c is not extra.JsonRecord]
    records = [c for c in records if issubclass(c, extra.JsonRecord)]
    assert len(records) >= 7
    for record in records:
        for f in fields(record):
            assert callable(extra._reader(str(f.type))), (record.__name__, f.name)
    with pytest.raises(TypeError):
        extra._reader("set[int]")
