"""Inputs that used to end in "internal error (please report it)": a config that is a FIFO or a
device, a report read by `replay` or by `check --changed-since` with a field of the wrong type or
nested beyond any parser. Each is now one sentence naming the file, exit 2 (or, for --changed-since,
a warning and every model checked)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gradcheck_ci.commands import changes, cli
from gradcheck_ci.core.results import ModelResult, RunReport


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error" not in err[0] and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("command", ["validate", "check"])
def test_a_fifo_config_is_refused_not_waited_on(tmp_path, capsys, command):
    os.mkfifo(tmp_path / "gradcheck.yml")  # nobody writes to it: reading it would block for ever
    code = cli.main([command, "--config", str(tmp_path / "gradcheck.yml")])
    assert code == 2
    out = capsys.readouterr()
    assert "is not a regular file (a pipe, a device or a socket)" in out.err + out.out


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_an_endless_device_config_is_refused(capsys):
    assert cli.main(["validate", "--config", "/dev/zero"]) == 2
    assert one_line(capsys) == (
        "/dev/zero: is not a regular file (a pipe, a device or a socket); give the path of a file"
    )


@pytest.mark.parametrize("command", ["replay", "merge"])
def test_a_report_path_that_is_a_directory_is_said_to_be_one(tmp_path, capsys, command):
    args = [str(tmp_path), "--model", "rnn"] if command == "replay" else [str(tmp_path)]
    args += ["--json", str(tmp_path / "merged.json")] if command == "merge" else []
    assert cli.main([command, *args]) == 2
    line = one_line(capsys)
    assert "is a directory, not a report file" in line and "a pipe" not in line, line


def _report(tmp_path: Path, edit) -> Path:
    model = ModelResult(
        name="rnn",
        factory="models/rnn.py:build",
        status="fail",
        seed=0,
        precision="float64",
        mode="full",
        config_line=3,
        files={"models/rnn.py": "0" * 64},
    )
    data = RunReport(config_file="gradcheck.yml", models=[model], version="0.1.0").to_json()
    edit(data)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data))
    return path


def test_replay_of_a_report_whose_model_name_is_a_number(tmp_path, capsys):
    path = _report(tmp_path, lambda d: d["models"][0].update(name=17))
    assert cli.main(["replay", str(path), "--model", "17"]) == 2
    assert one_line(capsys) == f"gradcheck-ci: error: {path}: models[0].name is 17, not a string"


def test_replay_of_a_report_nested_too_deeply(tmp_path, capsys):
    (tmp_path / "deep.json").write_text('{"models": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert cli.main(["replay", str(tmp_path / "deep.json"), "--model", "rnn"]) == 2
    assert "deep.json: not a gradcheck-ci report (nested too deeply)" in one_line(capsys)


@pytest.mark.parametrize(
    "edit, says",
    [
        (
            lambda d: d["models"][0].update(files=["models/rnn.py"]),
            "models[0].files is ['models/rnn.py'], not an object",
        ),
        (
            lambda d: d["models"][0].update(files={"models/rnn.py": 5}),
            "models[0].files must map file names",
        ),
        (lambda d: d["models"][0].update(status=None), "models[0].status is None, not a string"),
    ],
)
def test_a_changed_since_record_of_the_wrong_shape_is_a_reason_to_check_everything(
    tmp_path, edit, says
):
    record, problem = changes.read_records(str(_report(tmp_path, edit)))
    assert record is None and problem is not None
    assert (
        problem.startswith(f"cannot read the previous report {tmp_path / 'report.json'}: ")
        and says in problem
    )
