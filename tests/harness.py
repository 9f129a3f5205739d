"""The one way tests run the real CLI: in a subprocess, as users and CI do (tests/integration,
tests/container).

`run_cli` waits for the CLI and returns a `CliRun`; `start_cli` hands back the running process, for
tests that signal it. Both use `cli_env`: this checkout first on PYTHONPATH, plain text output
whatever CI runs the tests (no GITHUB_ACTIONS, no step summary of the CI job itself) and no bytecode
written into fixtures. The assert_* helpers hold what every run must satisfy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from tests import REPO

# Every report format at fixed names in the working directory: with them a check run is complete.
REPORT_ARGS = ["--json", "report.json", "--junit", "junit.xml", "--sarif", "report.sarif"]


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str
    cwd: Path
    report: dict | None = None  # the JSON report at `json_path`, when run_cli was given one

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def json(self, name: str = "report.json") -> dict:
        """A JSON report the run wrote, by its path relative to the run's working directory."""
        return json.loads((self.cwd / name).read_text(encoding="utf-8"))

    def model(self, name: str) -> dict:
        assert self.report is not None, self.output
        for model in self.report["models"]:
            if model["name"] == name:
                return model
        raise AssertionError(
            f"no model {name!r} in report: {[m['name'] for m in self.report['models']]}"
        )


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("GITHUB_ACTIONS", None)  # plain text output, whatever CI runs these tests
    env.pop("GITHUB_STEP_SUMMARY", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    # -P: the repository the test runs in is not on sys.path, as for the installed script
    return [sys.executable, "-P", "-m", "gradcheck_ci", *args]


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
    json_path: Path | None = None,
) -> CliRun:
    """`gradcheck-ci ARGS` in `cwd` (default: this checkout); `env` adds to cli_env(); `json_path`
    adds `--json json_path` and reads that report into CliRun.report."""
    command = cli_command(*args)
    if json_path is not None:
        command += ["--json", str(json_path)]
    cwd = cwd or REPO
    proc = subprocess.run(
        command,
        cwd=cwd,
        env=cli_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    report = None
    if json_path is not None and json_path.exists():
        report = json.loads(json_path.read_text(encoding="utf-8"))
    return CliRun(proc.returncode, proc.stdout, proc.stderr, cwd, report)


def start_cli(*args: str, cwd: Path) -> subprocess.Popen:
    """`gradcheck-ci ARGS` started in `cwd`, its stdout and stderr piped as text; the caller ends
    it."""
    return subprocess.Popen(
        cli_command(*args),
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def assert_no_traceback(run: CliRun) -> None:
    assert "Traceback" not in run.output, run.output
    assert 'File "' not in run.output, run.output  # nor the frames of one


def assert_reports_valid(cwd: Path) -> dict:
    """JSON, JUnit and SARIF (REPORT_ARGS) were all written, completely; returns the JSON report."""
    report = json.loads((cwd / "report.json").read_text(encoding="utf-8"))
    assert report["schema"] == "gradcheck-ci/report/v1"
    junit = ET.parse(cwd / "junit.xml").getroot()
    assert junit.tag in ("testsuites", "testsuite")
    sarif = json.loads((cwd / "report.sarif").read_text(encoding="utf-8"))
    assert sarif["version"] == "2.1.0"
    return report
