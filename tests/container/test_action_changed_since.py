"""The `changed-since` input as the runner runs it: git in the image diffs a workspace owned by
another user (the runner's checkout), reads last run's report from the json-report path, and skips
what did not change."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.harness import run_cli

from .runner import run_action

pytestmark = pytest.mark.docker
RUNNER_UID = 1001  # the Actions runner's user owns the checkout; the container runs as root


def git(workspace, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid", *args],
        cwd=workspace,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_changed_since_skips_the_unchanged_model(docker_client, action_image, tmp_path):
    base = {}

    def history(workspace):
        git(workspace, "init", "-q", "-b", "main")
        git(workspace, "add", "-A")
        git(workspace, "commit", "-qm", "two models")
        base["sha"] = git(workspace, "rev-parse", "HEAD")
        # last run's report
        first = run_cli("check", "--json", "gradcheck-report.json", cwd=workspace)
        assert first.code == 0, first.output
        config = workspace / "gradcheck.yml"
        config.write_text(
            config.read_text().replace("{sequences: 8, features: 3", "{sequences: 6, features: 3")
        )
        git(workspace, "commit", "-qam", "the mlp's entry changes")
        for folder, dirs, files in os.walk(workspace):
            for name in [folder, *[os.path.join(folder, n) for n in dirs + files]]:
                os.lchown(name, RUNNER_UID, RUNNER_UID)

    run = run_action(
        docker_client,
        action_image,
        tmp_path,
        "passing",
        prepare=history,
        inputs={"changed-since": "main~1"},
    )
    assert run.exit_code == 0, run.log
    assert run.outputs["status"] == "pass"
    report = json.loads((run.workspace / "gradcheck-report.json").read_text())
    assert {m["name"]: m["status"] for m in report["models"]} == {
        "rnn-full-bptt": "skipped",
        "mlp": "pass",
    }
    assert report["changed_since"]["commit"] == base["sha"]
    assert "checking mlp: its gradcheck.yml entry changed since main~1" in run.log
    assert "skipped" in run.summary
    assert run.annotations("warning") == [], [c.raw for c in run.annotations("warning")]
