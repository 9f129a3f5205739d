"""Run the action image the way the GitHub Actions runner does, and read back what the runner would.

The runner (actions/runner, ContainerActionHandler) runs a container action as root with the
workspace mounted at /github/workspace as the working directory, HOME=/github/home, the file-command
files under /github/file_commands, GITHUB_* paths translated into the container, and one INPUT_<ID>
variable per declared input (the default when the workflow gives none; hyphens kept). It then reads
the step's log for workflow commands, honouring ::stop-commands::, and the output and summary files
(tests/actions_log.py).
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
    # run_like_the_runner: container start to each line
    line_seconds: list[float] = field(default_factory=list)

    def annotations(self, kind: str = "error") -> list[Command]:
        return [c for c in self.commands if c.name == kind]


def make_workspace(
    tmp: Path, repo: str | Path, subdir: str = "", preload: Mapping[str, Path] | None = None
) -> Path:
    """A repository (a fixture's name, or a path) copied to tmp/workspace (or into its `subdir`);
    `preload` copies more in, by their path in the workspace (a restored cache directory)."""
    workspace = tmp / "workspace"
    target = workspace / subdir if subdir else workspace
    shutil.copytree(FIXTURES / repo, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for where, source in (preload or {}).items():
        shutil.copytree(source, workspace / where, symlinks=True)
    return workspace


def open_up(path: Path) -> None:
    """World-writable, for a container user that is not the owner (the --user test)."""
    for root, _dirs, files in os.walk(path):
        os.chmod(root, 0o777)
        for name in files:
            p = Path(root) / name
            p.chmod(p.stat().st_mode | stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO)


def run_action(
    client: Any,
    image: str,
    tmp: Path,
    repo: str,
    inputs: Mapping[str, str] | None = None,
    user: str | None = None,
    subdir: str = "",
    timeout: int = 900,
    preload: Mapping[str, Path] | None = None,
    workspace: Path | None = None,
    prepare: Callable[[Path], None] | None = None,
) -> ActionRun:
    """`workspace`: a checkout prepared by the caller (make_workspace), instead of a copy of `repo`;
    `prepare(workspace)` runs once the workspace is ready, before the container starts (e.g. git
    history)."""
    import time

    tmp.mkdir(parents=True, exist_ok=True)
    workspace = workspace or make_workspace(tmp, repo, subdir, preload)
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
        image,
        working_dir=WORKSPACE,
        environment=env,
        user=user,
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
    return ActionRun(
        int(status["StatusCode"]),
        log,
        outputs,
        summary,
        workspace,
        seconds,
        effective_commands(log),
        first_result,
    )


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


# ---- the runner's own `docker run`, for an action that names a pulled image
# ------------------------------

RUNNER_MOUNTS = ("_github_home", "_github_workflow", "_runner_file_commands")


def runner_environment(commands_dir: str, names: dict[str, str]) -> dict[str, str]:
    """The variables the runner gives a container action (ContainerActionHandler: its GITHUB_*,
    RUNNER_*, CI and the file-command paths, translated into the container)."""
    return {
        "HOME": HOME,
        "GITHUB_JOB": "gradcheck",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_REF_NAME": "main",
        "GITHUB_REF_TYPE": "branch",
        "GITHUB_SHA": "0" * 40,
        "GITHUB_REPOSITORY": "octo/models",
        "GITHUB_REPOSITORY_OWNER": "octo",
        "GITHUB_RUN_ID": "1",
        "GITHUB_RUN_NUMBER": "1",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_ACTOR": "octo",
        "GITHUB_WORKFLOW": "gradients",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_WORKSPACE": WORKSPACE,
        "GITHUB_ACTION": "gradcheck",
        "GITHUB_EVENT_PATH": "/github/workflow/event.json",
        "GITHUB_PATH": f"{commands_dir}/{names['path']}",
        "GITHUB_ENV": f"{commands_dir}/{names['env']}",
        "GITHUB_OUTPUT": f"{commands_dir}/{names['output']}",
        "GITHUB_STATE": f"{commands_dir}/{names['state']}",
        "GITHUB_STEP_SUMMARY": f"{commands_dir}/{names['summary']}",
        "RUNNER_OS": "Linux",
        "RUNNER_ARCH": "X64",
        "RUNNER_NAME": "GitHub Actions 1",
        "RUNNER_ENVIRONMENT": "github-hosted",
        "RUNNER_TEMP": "/home/runner/work/_temp",
        "RUNNER_TOOL_CACHE": "/opt/hostedtoolcache",
        "RUNNER_WORKSPACE": "/home/runner/work/models",
        "GITHUB_ACTIONS": "true",
        "CI": "true",
    }


def run_like_the_runner(
    image: str,
    tmp: Path,
    repo: str | Path,
    action_yml: str,
    inputs: Mapping[str, str] | None = None,
    docker: str = "docker",
    docker_env: Mapping[str, str] | None = None,
    timeout: float = 900,
    preload: Mapping[str, Path] | None = None,
) -> ActionRun:
    """Run `image` with the docker CLI exactly as the runner runs a `docker://` container action:
    `docker run --name --label --workdir /github/workspace --rm`, one `-e NAME` per variable (the
    value taken from the CLI's environment), the runner's five mounts (the engine's socket, home,
    workflow, file commands, workspace). `action_yml` (the text of the action.yml being run) gives
    the input defaults, as the runner reads them."""
    import subprocess
    import time

    tmp.mkdir(parents=True, exist_ok=True)
    workspace = make_workspace(tmp, repo, preload=preload)
    temp = tmp / "_temp"
    for name in RUNNER_MOUNTS:
        (temp / name).mkdir(parents=True)
    (temp / "_github_workflow" / "event.json").write_text("{}")
    suffix = uuid.uuid4().hex
    names = {
        kind: f"{prefix}_{suffix}"
        for kind, prefix in (
            ("path", "add_path"),
            ("env", "set_env"),
            ("output", "set_output"),
            ("state", "save_state"),
            ("summary", "step_summary"),
        )
    }
    for file_name in names.values():
        (temp / "_runner_file_commands" / file_name).write_text("")

    env = runner_environment(FILE_COMMANDS, names)
    declared = yaml.safe_load(action_yml)["inputs"]
    values = {name: str(spec.get("default", "")) for name, spec in declared.items()}
    values.update(inputs or {})
    env.update({f"INPUT_{name.upper()}": value for name, value in values.items()})

    args = [
        docker,
        "run",
        "--name",
        f"gradcheck_ci_e2e_{suffix[:12]}",
        "--label",
        "gradcheck-ci-e2e",
        "--workdir",
        WORKSPACE,
        "--rm",
    ]
    for name in env:
        args += ["-e", name]
    sock = "/var/run/docker.sock"
    if os.path.exists(sock):
        args += ["-v", f"{sock}:{sock}"]
    args += [
        "-v",
        f"{temp / '_github_home'}:{HOME}",
        "-v",
        f"{temp / '_github_workflow'}:/github/workflow",
        "-v",
        f"{temp / '_runner_file_commands'}:{FILE_COMMANDS}",
        "-v",
        f"{workspace}:{WORKSPACE}",
        image,
    ]

    started = time.monotonic()
    proc = subprocess.Popen(
        args,
        env={**os.environ, **(docker_env or {}), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    first_result = None
    chunks = []
    line_seconds = []
    assert proc.stdout is not None
    for line in iter(proc.stdout.readline, b""):
        chunks.append(line)
        line_seconds.append(time.monotonic() - started)
        if first_result is None and FIRST_RESULT.search(line):
            first_result = line_seconds[-1]
    code = proc.wait(timeout=timeout)
    seconds = time.monotonic() - started
    log = b"".join(chunks).decode("utf-8", "replace")
    commands = temp / "_runner_file_commands"
    return ActionRun(
        code,
        log,
        parse_output_file((commands / names["output"]).read_text()),
        (commands / names["summary"]).read_text(),
        workspace,
        seconds,
        effective_commands(log),
        first_result,
        line_seconds,
    )
