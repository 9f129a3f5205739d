"""`merge` passes only the whole of one run: a missing shard, shards of different configs, counts,
versions or model selections, and malformed reports are errors (exit 2, one sentence naming the
report), never PASS."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gradcheck_ci.commands import cli
from gradcheck_ci.core.results import ModelResult, RunReport
from gradcheck_ci.report.jsonreport import merge_reports

PLAN = {"config_sha256": "3f5a" * 16, "models": ["mlp", "rnn", "cnn"]}


def passing(name: str, line: int) -> ModelResult:
    return ModelResult(
        name=name,
        factory=f"models/{name}.py:build",
        status="pass",
        seed=0,
        precision="float64",
        mode="full",
        config_line=line,
        config_file="gradcheck.yml",
    )


def shard_report(
    tmp_path: Path,
    shard: str | None,
    names: list[str],
    plan: dict | None = None,
    version: str | None = "0.1.0",
    file: str | None = None,
) -> str:
    report = RunReport(
        config_file="gradcheck.yml",
        models=[passing(n, i + 3) for i, n in enumerate(names)],
        shard=shard,
        version=version,
        plan=PLAN if plan is None else plan,
    )
    path = tmp_path / (file or f"report-{(shard or 'all').replace('/', '-of-')}.json")
    path.write_text(json.dumps(report.to_json()))
    return str(path)


def merge(tmp_path: Path, *paths: str) -> int:
    return cli.main(["merge", *paths, "--json", str(tmp_path / "merged.json")])


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0] and "internal error" not in err[0], err
    return err[0]


def test_all_shards_of_one_run_merge(tmp_path, capsys):
    paths = [shard_report(tmp_path, "1/2", ["mlp", "cnn"]), shard_report(tmp_path, "2/2", ["rnn"])]
    assert merge(tmp_path, *paths) == 0
    merged = json.loads((tmp_path / "merged.json").read_text())
    assert merged["plan"] == PLAN and merged["shard"] is None and len(merged["models"]) == 3


def test_one_whole_run_merges_alone(tmp_path):
    assert merge(tmp_path, shard_report(tmp_path, None, ["mlp", "rnn", "cnn"])) == 0


def test_a_missing_shard_fails(tmp_path, capsys):
    assert merge(tmp_path, shard_report(tmp_path, "1/2", ["mlp", "cnn"])) == 2
    assert "shard 2/2 is missing (1 of 2 given)" in one_error_line(capsys)
    assert not (tmp_path / "merged.json").exists()


@pytest.mark.parametrize(
    "second, says",
    [
        (dict(shard="2/5"), "is shard 2/5 but the other reports are shards of 2"),
        (dict(shard="1/2"), "are both shard 1/2"),
        (dict(plan=dict(PLAN, config_sha256="0" * 64)), "checked different gradcheck.yml files"),
        (dict(plan=dict(PLAN, models=["mlp", "rnn"])), "planned different models"),
        (dict(version="0.0.9"), "were written by different gradcheck-ci versions"),
        (dict(shard=None), "is a whole run, not a shard"),
        (dict(shard="3/2"), "which is not of the form i/n"),
    ],
)
def test_shards_that_are_not_one_run_fail(tmp_path, capsys, second, says):
    first = shard_report(tmp_path, "1/2", ["mlp", "cnn"])
    options = dict(dict(shard="2/2", plan=None, version="0.1.0"), **second)
    other = shard_report(
        tmp_path,
        options["shard"],
        ["rnn"],
        plan=options["plan"],
        version=options["version"],
        file="other.json",
    )
    assert merge(tmp_path, first, other) == 2
    line = one_error_line(capsys)
    assert says in line and ("other.json" in line or "shard" in says), line


def test_a_shard_that_lost_a_model_fails(tmp_path, capsys):
    paths = [shard_report(tmp_path, "1/2", ["mlp"]), shard_report(tmp_path, "2/2", ["rnn"])]
    assert merge(tmp_path, *paths) == 2
    assert "model 'cnn' of the run is in none of the reports" in one_error_line(capsys)


def test_a_report_without_a_plan_is_not_trusted(tmp_path, capsys):
    report = RunReport(
        config_file="gradcheck.yml", models=[passing("mlp", 3)], shard="1/1", version="0.1.0"
    )
    (tmp_path / "old.json").write_text(json.dumps(report.to_json()))
    assert merge(tmp_path, str(tmp_path / "old.json")) == 2
    assert "old.json records no plan" in one_error_line(capsys)


def _malformed(data: dict, what: str) -> dict:
    model = data["models"][0]
    if what == "status":
        model["status"] = 3
    elif what == "seconds":
        model["seconds"] = {"total": "fast"}
    elif what == "run seconds":
        data["seconds"] = [1]
    elif what == "name":
        model["name"] = 17
    elif what == "error":
        model["error"] = "boom"
    elif what == "files":
        model["files"] = ["models/mlp.py"]
    elif what == "shard":
        data["shard"] = 2
    elif what == "plan":
        data["plan"] = {"config_sha256": "x", "models": [1, 2]}
    elif what == "models":
        data["models"] = [1, 2]
    return data


@pytest.mark.parametrize(
    "what",
    ["status", "seconds", "run seconds", "name", "error", "files", "shard", "plan", "models"],
)
def test_a_malformed_report_is_an_error_naming_it(tmp_path, capsys, what):
    path = Path(shard_report(tmp_path, None, ["mlp", "rnn", "cnn"]))
    path.write_text(json.dumps(_malformed(json.loads(path.read_text()), what)))
    assert merge(tmp_path, str(path)) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"gradcheck-ci: error: cannot read report {path}: "), line


def test_json_nested_beyond_any_parser_is_an_error(tmp_path, capsys):
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    assert merge(tmp_path, str(tmp_path / "deep.json")) == 2
    assert "deep.json: not a gradcheck-ci report (nested too deeply)" in one_error_line(capsys)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_given_as_a_report_is_refused_not_waited_on(tmp_path, capsys):
    os.mkfifo(tmp_path / "shard.json")
    assert merge(tmp_path, str(tmp_path / "shard.json")) == 2
    assert "shard.json: not a regular file" in one_error_line(capsys)


class CountedName(str):
    """A model name that counts how often it is compared: a merge linear in models compares each a
    few times."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        CountedName.compared += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_merge_compares_each_model_name_a_bounded_number_of_times():
    count = 3000
    reports = [
        RunReport(
            config_file="gradcheck.yml",
            shard=f"{s}/2",
            models=[passing(CountedName(f"m{i:05d}"), i) for i in range(s - 1, count, 2)],
        )
        for s in (1, 2)
    ]
    CountedName.compared = 0
    merged = merge_reports(reports)
    assert len(merged.models) == count
    assert CountedName.compared < 5 * count  # names.count() per name made it count**2
