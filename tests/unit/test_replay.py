"""`replay`'s reading of a report: which entry it replays, what it says differs, how it compares
numbers. The replay itself (a real check, the .npz) is tests/integration/test_replay.py."""

from __future__ import annotations

import hashlib
import json

import pytest

from gradcheck_ci import __version__
from gradcheck_ci.commands.cli import main
from gradcheck_ci.commands.replay import (
    comparison_lines,
    data_text,
    digits_agreeing,
    directions_text,
    locate_config,
    recorded_entry,
    what_differs,
)
from gradcheck_ci.core.errors import UsageError
from gradcheck_ci.core.results import RunReport
from tests.samples import model, param, spec


def test_digits_agreeing():
    assert digits_agreeing(0.00230400528943742, 0.00230400528943742) == 17
    assert digits_agreeing(0.0023040052, 0.0023040053) == 7  # 2304005 agree, then 2 against 3
    assert digits_agreeing(1.0, 2.0) == 0
    assert digits_agreeing(None, 1.0) is None
    assert digits_agreeing(float("nan"), float("nan")) == 17


def test_comparison_says_reproduced_or_how_it_differs():
    recorded = [
        param("R.W", "fail", abs_err=0.00230400528943742),
        param("R.b", "fail", abs_err=3.7e-4),
        param("R.h", "pass", abs_err=1e-10),
        param("gone", "fail"),
    ]
    replayed = [
        param("R.W", "fail", abs_err=0.00230400528943742),
        param("R.b", "fail", abs_err=3.71e-4),
        param("R.h", "fail", abs_err=1e-3),
    ]
    lines = comparison_lines(recorded, replayed)
    assert lines[0] == (
        "  R.W: fail, abs err (element) 0.00230400528943742 in the report, 0.00230400528943742 "
        "now: reproduced exactly"
    )
    assert lines[1].endswith("differs after 2 significant digit(s)")
    assert lines[2].endswith("differs (pass in the report, fail now)")
    assert lines[3] == "  gone: not in the replay (its parameters changed)"


def test_what_differs_names_version_entry_and_files(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "rnn.py").write_text("edited\n", encoding="utf-8")
    entry = spec().as_checked()
    recorded = model("net", "fail")
    recorded.files = {
        "models/rnn.py": hashlib.sha256(b"original\n").hexdigest(),
        "models/gone.py": hashlib.sha256(b"x").hexdigest(),
    }
    report = RunReport("gradcheck.yml", models=[recorded], version="0.0.9")
    lines = what_differs(report, recorded, entry, dict(entry, seed=3), str(tmp_path))
    assert lines == [
        f"the report was written by gradcheck-ci 0.0.9; this is {__version__}: the error model or "
        f"the "
        "directions may differ",
        "gradcheck.yml now says seed: 3 (the report: 0); replaying the report's",
        "models/gone.py is gone since the report: the replay runs today's code",
        "models/rnn.py changed since the report: the replay runs today's code",
    ]
    report.version = __version__
    (tmp_path / "models" / "rnn.py").write_text("original\n", encoding="utf-8")
    recorded.files.pop("models/gone.py")
    assert what_differs(report, recorded, entry, entry, str(tmp_path)) == []
    assert what_differs(report, recorded, entry, None, str(tmp_path)) == [
        "gradcheck.yml has no model 'net' now: replaying the report's entry"
    ]


def test_an_older_report_takes_the_entry_from_gradcheck_yml():
    recorded = model("net", "fail", seed=7)
    notes: list[str] = []
    entry = recorded_entry(recorded, spec().as_checked(), notes)
    assert (
        entry["seed"] == 7
        and entry["factory"] == "models/net.py:build"
        and "older gradcheck-ci" in notes[0]
    )
    with pytest.raises(UsageError, match="does not record the entry"):
        recorded_entry(recorded, None, [])
    recorded.spec = dict(spec().as_checked(), seed=11)
    assert recorded_entry(recorded, spec().as_checked(), []) == recorded.spec


def test_bad_reports_and_names_are_one_line_errors(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "missing.json"), "--model", "x"]) == 2
    assert "cannot read report" in capsys.readouterr().err
    (tmp_path / "r.json").write_text(
        json.dumps(
            {
                "schema": "gradcheck-ci/report/v1",
                "models": [
                    {
                        "name": "a",
                        "factory": "m.py:f",
                        "status": "pass",
                        "seed": 0,
                        "precision": "float64",
                        "mode": "full",
                    }
                ],
            }
        )
    )
    assert main(["replay", str(tmp_path / "r.json"), "--model", "b"]) == 2
    err = capsys.readouterr().err
    assert "--model b: no such model in" in err and "(models: a)" in err and "Traceback" not in err
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert main(["replay", str(tmp_path / "bad.json"), "--model", "a"]) == 2
    assert "not a gradcheck-ci report" in capsys.readouterr().err


def test_timeouts_must_be_positive(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "r.json"), "--model", "a", "--timeout", "0"]) == 2
    assert "--timeout must be a positive number of seconds, not 0" in capsys.readouterr().err
    assert main(["init", "--root", str(tmp_path), "--timeout", "-1", "--stdout"]) == 2
    assert "--timeout must be a positive number of seconds, not -1" in capsys.readouterr().err


def test_grouped_passing_tensors_are_not_printed_as_none():
    grouped = param("D.b", "pass", method="grouped")
    grouped.max_abs_err = None
    [line] = comparison_lines([grouped], [grouped])
    assert "None" not in line
    assert (
        line
        == "  D.b: pass, abs err none of its own (passed with its band) in the report and now: "
        "reproduced"
    )


def test_a_tensor_measured_on_one_side_only_is_not_said_to_differ_after_none_digits():
    # The op's gradient fixed after the report: the tensor now passes with its band, with no error
    # of its own, where the report measured one along its own direction.
    measured_then = param("D.W", "pass", abs_err=1.51e-11, method="direction")
    banded_now = param("D.W", "pass", abs_err=None, method="grouped")
    [line] = comparison_lines([measured_then], [banded_now])
    assert "None" not in line
    assert line == (
        "  D.W: pass, abs err (direction) 1.51e-11 in the report, none of its own (passed with its "
        "band) now: the same verdict (no error of its own to compare)"
    )
    [line] = comparison_lines([param("D.W", "fail", abs_err=0.2)], [banded_now])
    assert line.endswith("differs (fail in the report, pass now)")


def test_the_header_gives_the_recorded_shapes_and_comparisons():
    recorded = model("tagger", "fail", params=[param("R.W"), param("R.b")])
    recorded.params[0].directions, recorded.params[1].directions = 4, 6
    recorded.data = {"shapes": {"sequences": [4, 20, 3], "mask": [4, 20]}, "dtypes": {}}
    assert data_text(recorded, spec().data) == "sequences 4x20x3, mask 4x20"
    assert directions_text(recorded, 1) == "directions: 1, 4-6 comparison(s) judged each tensor"


def test_the_config_is_found_where_the_report_was_checked_from(tmp_path, monkeypatch):
    """`make example` writes reports/seed-rnn.json from examples/seed-rnn/gradcheck.yml: the report
    says 'gradcheck.yml' (relative to the root it checked), and replay from the repository root must
    find it."""
    example = tmp_path / "examples" / "seed-rnn"
    decoy = tmp_path / "examples" / "other"
    for where in (example, decoy):
        (where / "models").mkdir(parents=True)
        (where / "models" / "rnn.py").write_text(f"# {where.name}\n", encoding="utf-8")
        (where / "gradcheck.yml").write_text(
            "version: 1\nmodels:\n  - name: seed-rnn\n    factory: models/rnn.py:build\n",
            encoding="utf-8",
        )
    (tmp_path / "reports").mkdir()
    recorded = model("seed-rnn", "fail")
    recorded.files = {"models/rnn.py": hashlib.sha256(b"# seed-rnn\n").hexdigest()}
    report = RunReport("gradcheck.yml", models=[recorded])
    monkeypatch.chdir(tmp_path)
    assert (
        locate_config(report, recorded, "reports/seed-rnn.json")
        == "examples/seed-rnn/gradcheck.yml"
    )
    (tmp_path / "reports" / "gradcheck.yml").write_text(
        "version: 1\nmodels: []\n", encoding="utf-8"
    )
    assert locate_config(report, recorded, "reports/seed-rnn.json").endswith(
        "reports/gradcheck.yml"
    )  # beside it


def test_a_report_whose_config_is_nowhere_here_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "r.json").write_text(
        json.dumps(
            {
                "schema": "gradcheck-ci/report/v1",
                "config_file": "gradcheck.yml",
                "models": [
                    {
                        "name": "a",
                        "factory": "m.py:f",
                        "status": "fail",
                        "seed": 0,
                        "precision": "float64",
                        "mode": "full",
                    }
                ],
            }
        )
    )
    monkeypatch.chdir(tmp_path)
    assert main(["replay", "r.json", "--model", "a"]) == 2
    err = capsys.readouterr().err
    assert "cannot find the report's gradcheck.yml with model 'a'" in err and "--config PATH" in err
    assert "changed since the report" not in err and "Traceback" not in err


def test_replay_evaluates_as_the_report_did_and_with_c_for_older_reports():
    from gradcheck_ci.commands.replay import recorded_evaluation
    from gradcheck_ci.core.extra import Evaluation, ModelExtra
    from gradcheck_ci.core.results import ModelResult

    model = ModelResult("net", "net.py:build", "fail", 0, "float64", "auto")
    assert recorded_evaluation(model) == "c"
    model.extra.evaluation = Evaluation("python", "no C code was compiled yet")
    assert recorded_evaluation(model) == "python"
    model.extra = ModelExtra.from_json({"evaluation": "damaged"})
    assert recorded_evaluation(model) == "c"
