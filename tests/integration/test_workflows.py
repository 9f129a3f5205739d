"""Every GitHub Actions YAML in the repository passes actionlint: the two workflows in
.github/workflows/ and every workflow or step list shown in README.md and docs/*.md (with
`OWNER/gradcheck-ci@v1` read as this checkout's action, so actionlint checks their `with:` keys
against action.yml too). The actions the docs tell users to copy are at their current major
versions.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests import REPO
from tests.integration.test_validators import run, tool

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
FENCE = re.compile(r"^```yaml\n(.*?)^```", re.M | re.S)
OUR_ACTION = re.compile(r"OWNER/gradcheck-ci@v\d+")
USES = re.compile(r"uses:\s*([\w.-]+/[\w./-]+)@v(\d+)")
# The current major versions (checked against actionlint's own data below: an older one is
# deprecated there).
CURRENT = {
    "actions/checkout": 7,
    "actions/upload-artifact": 7,
    "actions/download-artifact": 8,
    "github/codeql-action/upload-sarif": 4,
    "actions/cache/restore": 6,
    "actions/cache/save": 6,
    "actions/setup-python": 7,
    "docker/login-action": 4,
}


def is_actions_yaml(body: str) -> bool:
    """A workflow (`jobs:` of jobs with `runs-on`) or a list of steps (`uses:` or `run:`); not
    gradcheck.yml, not GitLab CI."""
    parsed = yaml.safe_load(body)
    if isinstance(parsed, dict):
        jobs = parsed.get("jobs")
        return isinstance(jobs, dict) and all(
            isinstance(job, dict) and "runs-on" in job for job in jobs.values()
        )
    return (
        isinstance(parsed, list)
        and bool(parsed)
        and all(isinstance(step, dict) and ("uses" in step or "run" in step) for step in parsed)
    )


def actions_blocks(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each ```yaml block that is GitHub Actions YAML: a workflow or a list of
    steps."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        if is_actions_yaml(match.group(1)):
            blocks.append((text[: match.start()].count("\n") + 2, match.group(1)))
    return blocks


def as_workflow(body: str) -> str:
    """A docs block as a workflow file: a whole workflow as it is, a list of steps inside one
    job."""
    body = OUR_ACTION.sub("./", body)
    parsed = yaml.safe_load(body)
    if isinstance(parsed, dict) and "jobs" in parsed:
        return body
    assert isinstance(parsed, list), f"neither a workflow nor a list of steps:\n{body}"
    steps = "\n".join(
        "      " + line[6:] if line.startswith("      ") else "      " + line.lstrip()
        for line in body.splitlines()
    )
    return (
        "name: docs\non: push\npermissions:\n  contents: read\njobs:\n  docs:\n    runs-on: "
        "ubuntu-latest\n    steps:\n" + steps + "\n"
    )


def project(tmp_path: Path, workflows: dict[str, str]) -> Path:
    """A git repository holding this checkout's action.yml and Dockerfile and the given
    workflows."""
    root = tmp_path / "project"
    (root / ".github" / "workflows").mkdir(parents=True)
    for name in ("action.yml", "Dockerfile"):
        shutil.copy(REPO / name, root / name)
    for name, text in workflows.items():
        (root / ".github" / "workflows" / name).write_text(text, encoding="utf-8")
    if not shutil.which("git"):
        pytest.skip("git is needed for actionlint to find the project")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def test_the_repositorys_workflows_pass_actionlint(tmp_path):
    actionlint = tool("actionlint")
    assert {path.name for path in WORKFLOWS} >= {"ci.yml", "release.yml"}
    root = project(tmp_path, {path.name: path.read_text(encoding="utf-8") for path in WORKFLOWS})
    result = run([actionlint, "-no-color"], cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr

    # actionlint checks `uses: ./` steps against action.yml: a misspelt input fails
    broken = (
        (REPO / ".github" / "workflows" / "ci.yml")
        .read_text()
        .replace("working-directory:", "workdir:", 1)
    )
    result = run([actionlint, "-no-color"], cwd=project(tmp_path / "broken", {"ci.yml": broken}))
    assert result.returncode != 0 and "workdir" in result.stdout


def test_every_actions_example_in_the_docs_passes_actionlint(tmp_path):
    actionlint = tool("actionlint")
    workflows = {}
    for path in DOCS:
        for line, body in actions_blocks(path):
            workflows[f"{path.stem}-line-{line}.yml"] = as_workflow(body)
    assert len(workflows) >= 6, sorted(workflows)  # README's step, and docs/action.md's workflows
    assert any("merge:" in text and "download-artifact" in text for text in workflows.values())
    result = run([actionlint, "-no-color"], cwd=project(tmp_path, workflows))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_docs_and_workflows_use_current_major_versions():
    seen = set()
    for path in [*DOCS, *WORKFLOWS]:
        for action, major in USES.findall(path.read_text(encoding="utf-8")):
            if action in CURRENT:
                assert int(major) == CURRENT[action], (
                    f"{path.name}: {action}@v{major}, current is v{CURRENT[action]}"
                )
                seen.add(action)
    assert {
        "actions/checkout",
        "actions/upload-artifact",
        "actions/download-artifact",
        "github/codeql-action/upload-sarif",
    } <= seen


def test_current_major_versions_are_not_deprecated_for_actionlint(tmp_path):
    """actionlint knows these actions' runtimes: it flags a major version that runs on a removed
    Node."""
    actionlint = tool("actionlint")
    steps = "".join(
        f"      - uses: {action}@v{major}\n        with: {{bogus-input: x}}\n"
        for action, major in CURRENT.items()
    )
    workflow = f"name: t\non: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n{steps}"
    out = run([actionlint, "-no-color"], cwd=project(tmp_path, {"t.yml": workflow})).stdout
    assert "deprecated" not in out, out
    known = {
        action
        for action in CURRENT
        if f'"{action}@v{CURRENT[action]}"' in out or f"{action}@v{CURRENT[action]}" in out
    }
    assert known >= {"actions/checkout", "actions/upload-artifact", "actions/download-artifact"}, (
        out
    )
    old = run(
        [actionlint, "-no-color"],
        cwd=project(
            tmp_path / "old",
            {"t.yml": workflow.replace("download-artifact@v8", "download-artifact@v5")},
        ),
    ).stdout
    assert "deprecated" in old and "download-artifact@v5" in old
