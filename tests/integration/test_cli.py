"""The CLI as a subprocess where the environment matters (the in-process CLI tests are in tests/unit)."""
from __future__ import annotations

import json

from tests.harness import run_cli


def test_paths_are_relative_to_the_repository_under_actions(tmp_path):
    """With the config in a subdirectory of GITHUB_WORKSPACE, report and annotation paths include it."""
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "gradcheck.yml").write_text("version: 1\nmodels:\n  - name: m\n    factory: nope.py:f\n")
    report = tmp_path / "r.json"
    run = run_cli("check", "--config", str(sub / "gradcheck.yml"), "--json", str(report),
                  env={"GITHUB_WORKSPACE": str(tmp_path), "GITHUB_ACTIONS": "true"}, timeout=120)
    assert run.code == 2, run.output
    assert "::error file=sub/gradcheck.yml,line=4" in run.stdout, run.stdout
    data = json.loads(report.read_text())
    assert data["config_file"] == "sub/gradcheck.yml"
    assert all(m["error"]["file"] == "sub/gradcheck.yml" for m in data["models"])
