"""The CLI as a subprocess where the environment matters (the in-process CLI tests are in
tests/unit)."""

from __future__ import annotations

import json

from tests.actions_log import parsed_as_command, runner_lines
from tests.harness import run_cli


def test_paths_are_relative_to_the_repository_under_actions(tmp_path):
    """With the config in a subdirectory of GITHUB_WORKSPACE, report and annotation paths include
    it."""
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "gradcheck.yml").write_text("version: 1\nmodels:\n  - name: m\n    factory: nope.py:f\n")
    report = tmp_path / "r.json"
    run = run_cli(
        "check",
        "--config",
        str(sub / "gradcheck.yml"),
        "--json",
        str(report),
        env={"GITHUB_WORKSPACE": str(tmp_path), "GITHUB_ACTIONS": "true"},
        timeout=120,
    )
    assert run.code == 2, run.output
    assert "::error file=sub/gradcheck.yml,line=4" in run.stdout, run.stdout
    data = json.loads(report.read_text())
    assert data["config_file"] == "sub/gradcheck.yml"
    assert all(m["error"]["file"] == "sub/gradcheck.yml" for m in data["models"])


def test_model_output_under_actions_starts_no_command_in_text_format(tmp_path):
    """`--format text` under Actions: what the model prints (a bare CR, the old `##[` syntax) and
    its exception reach the log neutralised; the one command left is none at all (text format makes
    no annotations)."""
    (tmp_path / "model.py").write_text(
        "def build():\n"
        "    print('step 1\\r::error file=model.py,line=1::forged')\n"
        "    print('##[error]forged too')\n"
        "    raise ValueError('bad\\n::add-mask::x')\n"
    )
    (tmp_path / "gradcheck.yml").write_text(
        "version: 1\nmodels:\n  - name: m\n    factory: model.py:build\n"
    )
    run = run_cli(
        "check",
        "--format",
        "text",
        "--config",
        str(tmp_path / "gradcheck.yml"),
        env={"GITHUB_WORKSPACE": str(tmp_path), "GITHUB_ACTIONS": "true"},
        timeout=300,
    )
    assert run.code == 2, run.output
    assert "forged too" in run.stdout and "bad" in run.stdout
    assert [line for line in runner_lines(run.output) if parsed_as_command(line)] == []
