"""Shared test helpers: run the real CLI in a subprocess, as users and CI do."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str
    report: dict | None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def model(self, name: str) -> dict:
        assert self.report is not None, self.output
        for model in self.report["models"]:
            if model["name"] == name:
                return model
        raise AssertionError(f"no model {name!r} in report: {[m['name'] for m in self.report['models']]}")


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 1800,
            json_path: Path | None = None) -> CliRun:
    command = [sys.executable, "-m", "gradcheck_ci.cli", *args]
    if json_path is not None:
        command += ["--json", str(json_path)]
    full_env = dict(os.environ, PYTHONPATH=str(REPO), **(env or {}))
    full_env.pop("GITHUB_ACTIONS", None)
    proc = subprocess.run(command, cwd=cwd or REPO, env=full_env, capture_output=True, text=True, timeout=timeout)
    report = None
    if json_path is not None and json_path.exists():
        report = json.loads(json_path.read_text())
    return CliRun(proc.returncode, proc.stdout, proc.stderr, report)


@pytest.fixture
def cli():
    return run_cli
