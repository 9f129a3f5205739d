"""The run lifecycle of `check` (gradcheck_ci/commands/run.py): which models a run selects, and the
interim reports written while it runs."""

from __future__ import annotations

import io
import json
import os
import shutil
import types

import pytest

from gradcheck_ci.commands import cli, run
from gradcheck_ci.core.results import ModelResult, RunReport
from tests.samples import spec


def test_select_models_by_glob_and_shard_and_names_of_invalid_entries():
    specs = [spec(name=n) for n in ("a-1", "a-2", "b-1", "b-2", "c")]
    assert [s.name for s in run.select_models(specs, ["a-*", "c"], None)] == ["a-1", "a-2", "c"]
    assert [s.name for s in run.select_models(specs, [], (2, 2))] == ["a-2", "b-2"]
    assert run.select_models(specs, ["broken"], None, other_names=["broken"]) == []
    with pytest.raises(
        cli.UsageError, match=r"--model zzz: no such model in the config \(models: a-1, a-2"
    ):
        run.select_models(specs, ["zzz"], None)


def test_interim_reports_mark_pending_models_cancelled(tmp_path):
    args = types.SimpleNamespace(
        json=str(tmp_path / "r.json"), junit=str(tmp_path / "j.xml"), sarif=None
    )
    report = RunReport(config_file="gradcheck.yml")
    report.models.append(
        ModelResult(
            name="done", factory="f.py:f", status="pass", seed=0, precision="float64", mode="full"
        )
    )
    run.ReportFiles(args).interim(report, [spec(name="later")], "gradcheck.yml")
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["status"] == "error"
    assert [(m["name"], m["status"]) for m in written["models"]] == [
        ("done", "pass"),
        ("later", "cancelled"),
    ]
    assert "the run ended before this model" in written["models"][1]["error"]["message"]
    assert [m.name for m in report.models] == ["done"]  # the run's own report is untouched
    assert (tmp_path / "j.xml").read_text().startswith("<?xml")


def test_the_start_line_counts_invalid_and_unchanged_models_as_the_final_count_does():
    import io

    from gradcheck_ci.commands.console import Console

    stream = io.StringIO()
    Console(stream).start(2, "gradcheck.yml", not_run=1, skipped=3)
    assert stream.getvalue() == (
        "gradcheck-ci: checking 2 of 6 model(s) from gradcheck.yml (1 not run: problems "
        "in their entries; 3 skipped: unchanged)\n"
    )
    stream = io.StringIO()
    Console(stream).start(2, "gradcheck.yml")
    assert stream.getvalue() == "gradcheck-ci: checking 2 model(s) from gradcheck.yml\n"


def _passing_report() -> RunReport:
    report = RunReport(config_file="gradcheck.yml")
    report.models.append(
        ModelResult(
            name="done", factory="f.py:f", status="pass", seed=0, precision="float64", mode="full"
        )
    )
    return report


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_report_on_a_full_device_ends_in_the_verdict_line_and_exit_2(tmp_path, capsys):
    from gradcheck_ci.commands.console import Console

    args = types.SimpleNamespace(json=str(tmp_path / "r.json"), junit="/dev/full", sarif=None)
    stream = io.StringIO()
    code = run._finish(
        _passing_report(), run.ReportFiles(args), Console(stream, ticking=False), 0.0
    )
    assert code == 2
    assert (
        json.loads((tmp_path / "r.json").read_text())["models"][0]["status"] == "pass"
    )  # the others are written
    lines = stream.getvalue().splitlines()
    assert "  report not written: --junit /dev/full: No space left on device" in lines
    assert lines[-1] == "result: ERROR (exit 2)"
    assert (
        capsys.readouterr().err
        == "gradcheck-ci: error: cannot write the report --junit /dev/full: No space left "
        "on device\n"
    )


def test_interim_reports_leave_streams_for_the_end(tmp_path, capfd):
    args = types.SimpleNamespace(json="-", junit=str(tmp_path / "j.xml"), sarif=None)
    run.ReportFiles(args).interim(_passing_report(), [], "gradcheck.yml")
    assert capfd.readouterr().out == "" and (tmp_path / "j.xml").exists()


def test_a_path_that_cannot_be_a_report_still_stops_the_run_before_the_first_model(tmp_path):
    args = types.SimpleNamespace(json=str(tmp_path), junit=None, sarif=None)
    with pytest.raises(cli.UsageError, match="it is a directory"):
        run.ReportFiles(args).interim(_passing_report(), [], "gradcheck.yml", first=True)


def test_an_unusable_cache_directory_is_replaced_by_a_temporary_one_as_the_run_says(
    tmp_path, monkeypatch
):
    from gradcheck_ci.commands.console import Console
    from gradcheck_ci.platform import cachedir

    monkeypatch.setitem(cachedir._COMPILERS, "g++", "g++ (Debian 12.2.0-14) 12.2.0")
    monkeypatch.delenv(cachedir.CACHE_ENV, raising=False)
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv(cachedir.CACHE_DIR_ENV, str(tmp_path / "file"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))  # where the default cache would be
    stream = io.StringIO()
    temporary = run._prepare_cache(Console(stream, ticking=False))
    try:
        assert (
            temporary and os.environ[cachedir.CACHE_DIR_ENV] == temporary
        )  # what the workers inherit
        assert cachedir.theano_cache_dir().startswith(temporary) and os.path.isdir(
            cachedir.theano_cache_dir()
        )
        assert not (tmp_path / "xdg").exists()
        assert cachedir.is_temporary()  # the workers say that nothing is kept for the next run
        assert (
            "checking with a temporary cache directory, deleted at the end (nothing compiled now "
            "is kept)" in stream.getvalue()
        )
    finally:
        if temporary:
            shutil.rmtree(temporary)


def test_c_is_compiled_after_the_run_only_where_it_can_outlive_it(monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: name)
    assert run._no_compile_later(None) == ""
    assert "temporary" in run._no_compile_later("gradcheck-ci-cache-x")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert "under GitHub Actions" in run._no_compile_later(None)
    monkeypatch.delenv("GITHUB_ACTIONS")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert run._no_compile_later(None).endswith("there is no g++ on this machine")


def test_a_renderer_that_raises_costs_its_report_not_the_run(tmp_path, monkeypatch):
    # a renderer's bug (the HTML page's KeyError on an inconclusive model) ended the whole run
    from gradcheck_ci.report import formats

    def broken(report, version):
        raise KeyError("inconclusive")

    html = next(f for f in formats.REPORT_FORMATS if f.name == "html")
    monkeypatch.setattr(
        formats,
        "REPORT_FORMATS",
        tuple(
            type(f)(**{**f.__dict__, "render": broken}) if f is html else f
            for f in formats.REPORT_FORMATS
        ),
    )
    monkeypatch.setattr(run, "REPORT_FORMATS", formats.REPORT_FORMATS)
    args = types.SimpleNamespace(json=str(tmp_path / "r.json"), html=str(tmp_path / "r.html"))
    files = run.ReportFiles(args)
    files.interim(RunReport(config_file="gradcheck.yml"), [], "gradcheck.yml", first=True)
    assert (tmp_path / "r.json").exists() and not (tmp_path / "r.html").exists()
    written, failures = files.write_each(RunReport(config_file="gradcheck.yml"))
    assert written == [str(tmp_path / "r.json")]
    assert failures[0].message.startswith(
        f"cannot write the report --html {tmp_path / 'r.html'}: internal error in gradcheck-ci"
    )
