"""Run the action image the way the GitHub Actions runner does, and read back what the runner would.

The runner (actions/runner, ContainerActionHandler) runs a container action as root with the workspace
mounted at /github/workspace as the working directory, HOME=/github/home, the file-command files under
/github/file_commands, GITHUB_* paths translated into the container, and one INPUT_<ID> variable per
declared input (the default when the workflow gives none; hyphens kept). It then reads the step's log
for workflow commands, honouring ::stop-commands::, and the output and summary files (tests/actions_log.py).
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.actions_log import Command, effective_commands, parse_output_file

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "repos"
WORKSPACE = "/github/workspace"
FILE_COMMANDS = "/github/file_commands"
HOME = "/github/home"
FIRST_RESULT = re.compile(rb"(?m)^(?:\x1b\[[0-9;]*m)?(PASS|FAIL|XFAIL|XPASS|ERROR|CANCELLED)\b")


def action_input_defaults() -> dict[str, str]:
    meta = yaml.safe_load((REPO_ROOT / "action.yml").read_text())
    return {name: str(spec.get("default", "")) for name, spec in meta["inputs"].items()}


@dataclass
class ActionRun:
    exit_code: int
    log: str
    outputs: dict[str, str]
    summary: str
    workspace: Path
    seconds: float  # container start to exit
    commands: list[Command] = field(default_factory=list)
    first_result: float | None = None  # container start to the first model's verdict line

    def annotations(self, kind: str = "error") -> list[Command]:
        return [c for c in self.commands if c.name == kind]


def make_workspace(tmp: Path, repo: str, subdir: str = "") -> Path:
    workspace = tmp / "workspace"
    target = workspace / subdir if subdir else workspace
    shutil.copytree(FIXTURES / repo, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return workspace


def open_up(path: Path) -> None:
    """World-writable, for a container user that is not the owner (the --user test)."""
    for root, _dirs, files in os.walk(path):
        os.chmod(root, 0o777)
        for name in files:
            p = Path(root) / name
            p.chmod(p.stat().st_mode | stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO)


def run_action(client: Any, image: str, tmp: Path, repo: str, inputs: Mapping[str, str] | None = None,
               user: str | None = None, subdir: str = "", timeout: int = 900,
               prepare: Callable[[Path], None] | None = None) -> ActionRun:
    """`prepare(workspace)` runs once the fixture is copied, before the container starts (e.g. git history)."""
    import time

    workspace = make_workspace(tmp, repo, subdir)
    if prepare is not None:
        prepare(workspace)
    commands_dir = tmp / "file_commands"
    home = tmp / "home"
    commands_dir.mkdir()
    home.mkdir()
    suffix = uuid.uuid4().hex
    output_name, summary_name = f"set_output_{suffix}", f"step_summary_{suffix}"
    (commands_dir / output_name).write_text("")
    (commands_dir / summary_name).write_text("")
    if user:
        for path in (workspace, commands_dir, home):
            open_up(path)

    env = {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": WORKSPACE,
        "HOME": HOME,
        "GITHUB_OUTPUT": f"{FILE_COMMANDS}/{output_name}",
        "GITHUB_STEP_SUMMARY": f"{FILE_COMMANDS}/{summary_name}",
        "GITHUB_REPOSITORY": "octo/models",
        "GITHUB_SHA": "0" * 40,
        "RUNNER_OS": "Linux",
    }
    values = action_input_defaults()
    values.update(inputs or {})
    for name, value in values.items():
        env[f"INPUT_{name.upper()}"] = value

    container = client.containers.create(
        image, working_dir=WORKSPACE, environment=env, user=user,
        volumes={
            str(workspace): {"bind": WORKSPACE, "mode": "rw"},
            str(commands_dir): {"bind": FILE_COMMANDS, "mode": "rw"},
            str(home): {"bind": HOME, "mode": "rw"},
        },
    )
    first_result = None
    try:
        started = time.monotonic()
        container.start()
        pending = b""
        for chunk in container.logs(stdout=True, stderr=True, stream=True, follow=True):
            pending += chunk
            if first_result is None and FIRST_RESULT.search(pending):
                first_result = time.monotonic() - started
        status = container.wait(timeout=timeout)
        seconds = time.monotonic() - started
        log = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
    finally:
        container.remove(force=True)
    outputs = parse_output_file((commands_dir / output_name).read_text())
    summary = (commands_dir / summary_name).read_text()
    return ActionRun(int(status["StatusCode"]), log, outputs, summary, workspace, seconds,
                     effective_commands(log), first_result)


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")
