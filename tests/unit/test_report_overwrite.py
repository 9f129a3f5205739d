"""A report flag never replaces a file the user has that is not one of gradcheck-ci's own reports of
that format (report/overwrite.py): a model's source, the config, a foreign file; re-running with
last run's report paths keeps working."""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path

import pytest

from gradcheck_ci.commands import cli
from gradcheck_ci.commands.replay import output_refusal
from gradcheck_ci.core.results import RunReport
from gradcheck_ci.report import REPORT_FORMATS
from gradcheck_ci.report.overwrite import HEAD_BYTES, output_clash
from tests.samples import hostile_report, many_models, sample_report

SOURCE = "def build_mlp():\n    return None\n"
REPORTS = {
    "sample": sample_report,
    "hostile": hostile_report,
    "many": lambda: many_models(300),
    "empty": lambda: RunReport(config_file="gradcheck.yml", models=[], version="0.1.0"),
}


def write_repo(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "models").mkdir()
    source = tmp_path / "models" / "mlp.py"
    source.write_text(SOURCE)
    config = tmp_path / "gradcheck.yml"
    config.write_text("version: 1\nmodels:\n  - name: mlp\n    factory: models/mlp.py:build_mlp\n")
    return config, source


@pytest.mark.parametrize("fmt", REPORT_FORMATS, ids=lambda fmt: fmt.name)
def test_check_refuses_to_write_any_report_over_a_models_source(fmt, tmp_path, capsys):
    config, source = write_repo(tmp_path)
    assert cli.main(["check", "--config", str(config), fmt.option, str(source)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"gradcheck-ci: error: {fmt.option} {source}: it is a Python source file, which "
        "gradcheck-ci never writes over\n"
    )
    assert source.read_text() == SOURCE


def test_an_empty_python_file_is_refused_too(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    output = REPORT_FORMATS[0].output(str(tmp_path / "__init__.py"))
    assert "Python source file" in (output_clash([output], []) or "")


@pytest.mark.parametrize("fmt", REPORT_FORMATS, ids=lambda fmt: fmt.name)
def test_a_file_that_is_not_our_report_of_that_format_is_refused(fmt, tmp_path, capsys):
    config, _ = write_repo(tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    assert cli.main(["check", "--config", str(config), fmt.option, str(notes)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"gradcheck-ci: error: {fmt.option} {notes}: the file exists and is not gradcheck-ci's "
        f"own {fmt.kind}; writing there would replace it (choose another path, or delete the "
        "file if it can go)\n"
    )
    assert notes.read_text() == "my notes\n"


@pytest.mark.parametrize("name", sorted(REPORTS))
@pytest.mark.parametrize("fmt", REPORT_FORMATS, ids=lambda fmt: fmt.name)
def test_our_own_report_of_a_format_is_replaced_and_no_other_format_is(fmt, name, tmp_path):
    path = tmp_path / f"report.{fmt.name}"
    fmt.write(REPORTS[name](), str(path), "0.1.0")
    assert output_clash([fmt.output(str(path))], []) is None  # the next run's rewrite
    for other in REPORT_FORMATS:
        if (
            other is not fmt
        ):  # another format's file is someone's report: not this flag's to replace
            assert "is not gradcheck-ci's own" in (
                output_clash([other.output(str(path))], []) or ""
            )


@pytest.mark.parametrize("fmt", REPORT_FORMATS, ids=lambda fmt: fmt.name)
def test_the_marker_is_in_the_head_even_when_user_text_is_long(fmt, tmp_path):
    report = hostile_report("x" * (3 * HEAD_BYTES))
    report.config_file = "y" * (3 * HEAD_BYTES) + "/gradcheck.yml"
    path = tmp_path / "report"
    fmt.write(report, str(path), "0.1.0")
    assert output_clash([fmt.output(str(path))], []) is None


def test_new_empty_and_stream_paths_are_written(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("")
    for path in (str(tmp_path / "new.json"), str(empty), "-", "/dev/null"):
        assert output_clash([REPORT_FORMATS[0].output(path)], []) is None


def test_merge_refuses_a_foreign_file_too(tmp_path, capsys):
    part = tmp_path / "part.json"
    whole = REPORTS["empty"]()
    whole.plan = {"config_sha256": "0" * 64, "models": []}  # a whole run: it merges
    REPORT_FORMATS[0].write(whole, str(part), "0.1.0")
    page = tmp_path / "index.html"
    page.write_text("<!DOCTYPE html><title>Our project</title>\n")
    assert cli.main(["merge", str(part), "--html", str(page)]) == 2
    assert "--html" in capsys.readouterr().err
    assert page.read_text() == "<!DOCTYPE html><title>Our project</title>\n"


def replay_args(tmp_path: Path, **kwargs) -> argparse.Namespace:
    report = tmp_path / "report.json"
    REPORT_FORMATS[0].write(sample_report(), str(report), "0.1.0")
    return argparse.Namespace(report=str(report), json=kwargs.get("json"))


def test_replay_refuses_its_npz_or_json_over_a_users_file_before_it_runs(tmp_path):
    config, source = write_repo(tmp_path)
    args = replay_args(tmp_path)
    assert "--npz" in (output_refusal(args, str(source), str(config)) or "")
    data = tmp_path / "data.npz"
    with zipfile.ZipFile(data, "w") as archive:  # someone's arrays: no replay `meta`
        archive.writestr("x.npy", b"\x93NUMPY")
    assert "not gradcheck-ci's own replay .npz" in (
        output_refusal(args, str(data), str(config)) or ""
    )
    # the report replayed: one model's report would replace the whole run's
    refused = output_refusal(replay_args(tmp_path, json=args.report), "new.npz", str(config))
    assert refused == f"--json {args.report}: this run reads that file; the report would replace it"


def test_replay_rewrites_its_own_npz(tmp_path):
    config, _ = write_repo(tmp_path)
    npz = tmp_path / "gradcheck-replay-mlp.npz"
    with zipfile.ZipFile(npz, "w") as archive:
        archive.writestr("meta.npy", b"\x93NUMPY")
        archive.writestr("targets.npy", b"\x93NUMPY")
    rerun = replay_args(tmp_path, json=str(tmp_path / "report.json.1"))
    assert output_refusal(rerun, str(npz), str(config)) is None
