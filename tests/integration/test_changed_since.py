"""`check --changed-since REF` on a real git repository: three models in separate files (two share a
module, one has a custom loss); a change re-checks exactly the models whose check imported the
changed file, and every report lists the others as skipped (unchanged)."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from tests import FIXTURES
from tests.harness import assert_no_traceback, run_cli

pytestmark = pytest.mark.slow


def git(repo, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "repo"
    shutil.copytree(FIXTURES / "changes" / "three-models", path)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "three models")
    return path


def statuses(run) -> dict[str, str]:
    assert run.report is not None, run.output
    return {m["name"]: m["status"] for m in run.report["models"]}


def edit(repo, name: str, text: str) -> str:
    with open(repo / name, "a", encoding="utf-8") as handle:
        handle.write(text)
    git(repo, "commit", "-qam", f"edit {name}")
    return git(repo, "rev-parse", "HEAD~1")


def test_a_change_rechecks_exactly_the_models_that_import_it(repo, tmp_path):
    first = run_cli("check", "--json", "report.json", "--junit", "junit.xml", cwd=repo)
    assert first.code == 0, first.output
    first.report = first.json()
    files = {m["name"]: sorted(m["files"]) for m in first.report["models"]}
    assert files == {
        "model-a": ["models/a.py", "models/common.py"],
        "model-b": ["models/b.py", "models/common.py"],
        "model-c": ["losses.py", "models/c.py"],
    }

    base = edit(repo, "models/common.py", "\n\ndef unused_helper():\n    return None\n")
    second = run_cli(
        "check", "--changed-since", base, "--json", "report.json", "--junit", "junit.xml", cwd=repo
    )
    assert second.code == 0, second.output
    assert_no_traceback(second)
    second.report = second.json()
    assert statuses(second) == {"model-a": "pass", "model-b": "pass", "model-c": "skipped"}
    skipped = next(m for m in second.report["models"] if m["name"] == "model-c")
    assert (
        skipped["skipped"]["reason"] == "unchanged"
        and skipped["skipped"]["previous_status"] == "pass"
    )
    assert sorted(skipped["files"]) == ["losses.py", "models/c.py"]  # the record, carried forward
    assert "checking model-a: models/common.py changed since" in second.stdout
    assert "SKIPPED model-c" in second.stdout and "1 skipped (unchanged)" in second.stdout
    assert second.report["changed_since"]["commit"] == base
    assert "models/common.py" in second.report["changed_since"]["files"]
    junit = ET.parse(repo / "junit.xml").getroot()
    assert junit.find(".//testcase[@name='model-c']/skipped") is not None

    base = edit(repo, "losses.py", "\n# the custom loss's module counts too\n")
    third = run_cli("check", "--changed-since", base, "--json", "report.json", cwd=repo)
    third.report = third.json()
    assert statuses(third) == {"model-a": "skipped", "model-b": "skipped", "model-c": "pass"}

    base = git(repo, "rev-parse", "HEAD")
    text = (repo / "gradcheck.yml").read_text(encoding="utf-8")
    (repo / "gradcheck.yml").write_text(
        text.replace("factory: models/b.py:build\n", "factory: models/b.py:build\n    seed: 5\n"),
        encoding="utf-8",
    )
    # untracked, imported by none
    (repo / "scratch.py").write_text("print('trying something')\n", encoding="utf-8")
    # uncommitted counts
    fourth = run_cli("check", "--changed-since", base, "--json", "report.json", cwd=repo)
    fourth.report = fourth.json()
    assert statuses(fourth) == {"model-a": "skipped", "model-b": "pass", "model-c": "skipped"}
    assert f"1 file(s) changed since {base}" in fourth.stdout  # gradcheck.yml; not the scratch file
    assert fourth.report["changed_since"]["files"] == ["gradcheck.yml"]
    assert "checking model-b: its gradcheck.yml entry changed since" in fourth.stdout


def test_an_unknown_reference_or_a_shallow_clone_checks_everything(repo, tmp_path):
    assert run_cli("check", "--json", "report.json", cwd=repo).code == 0
    missing = run_cli(
        "check", "--changed-since", "no-such-branch", "--json", "report.json", cwd=repo
    )
    missing.report = missing.json()
    assert missing.code == 0 and set(statuses(missing).values()) == {"pass"}
    assert (
        "--changed-since no-such-branch: 'no-such-branch' is not in this clone: checking every "
        "model"
    ) in missing.stdout
    assert missing.report["changed_since"]["message"].endswith("checking every model")

    base = edit(repo, "models/c.py", "\n")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", repo.as_uri(), str(shallow))
    shutil.copy(repo / "report.json", shallow / "report.json")
    run = run_cli(
        "check",
        "--changed-since",
        base,
        "--previous-report",
        "report.json",
        "--json",
        "out.json",
        cwd=shallow,
    )
    run.report = run.json("out.json")
    assert run.code == 0 and set(statuses(run).values()) == {"pass"}
    assert "is not in this clone (a shallow clone: check out with fetch-depth: 0" in run.stdout
    assert_no_traceback(run)
