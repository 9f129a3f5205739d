"""The light install: `pip install` of the built wheel on Pythons other than the stack's 3.11 (3.9
to 3.13, as found on this machine, e.g. under pyenv) pulls no Theano, merges shard reports into
JSON, JUnit and SARIF, validates a config, and `check` says which extra and which Python it needs
instead of failing somewhere deep.

This is the path of docs/action.md's merge job on ubuntu-latest's Python. Needs the package index
(PyYAML).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests import FIXTURES, REPO

pytestmark = pytest.mark.slow

OTHER_PYTHONS = ("3.9", "3.12", "3.13")


def find_python(version: str) -> str | None:
    """The newest pyenv build of Python <version>, else python<version> on PATH; one that runs."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", "python")))[
        ::-1
    ]
    candidates.append(shutil.which(f"python{version}"))  # a pyenv shim here may refuse: tried last
    for candidate in filter(None, candidates):
        probe = run([candidate, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"])
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
    return None


def run(
    args: list[str], cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "PYTHONPATH",
            "GITHUB_ACTIONS",
            "GITHUB_OUTPUT",
            "GITHUB_STEP_SUMMARY",
            "VIRTUAL_ENV",
        )
    }
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel as a release builds it (python -m build), from a copy of the source tree."""
    out = tmp_path_factory.mktemp("dist")
    result = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out), str(REPO)]
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    [built] = out.glob("gradcheck_ci-*.whl")
    return built


def shard_reports(where: Path) -> list[str]:
    """The two shard reports of the reported network (tests/fixtures/shards), as matrix jobs upload
    them."""
    names = []
    for path in sorted((FIXTURES / "shards").glob("gradcheck-report-*.json")):
        shutil.copy(path, where / path.name)
        names.append(path.name)
    return names


@pytest.mark.parametrize("version", OTHER_PYTHONS)
def test_light_install_merges_without_theano(version, wheel, tmp_path):
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine (PATH or pyenv)")
    venv = tmp_path / "venv"
    assert run([python, "-m", "venv", str(venv)]).returncode == 0
    bin_dir = venv / "bin"
    # what docs/action.md's merge job runs, with the wheel in place of the git URL
    installed = run([str(bin_dir / "pip"), "install", "--quiet", str(wheel)])
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    frozen = run([str(bin_dir / "pip"), "freeze"]).stdout.lower()
    assert "gradcheck-ci" in frozen and "pyyaml" in frozen
    assert not any(heavy in frozen for heavy in ("theano", "lasagne", "numpy", "scipy")), frozen

    work = tmp_path / "work"
    work.mkdir()
    reports = shard_reports(work)
    merged = run(
        [
            str(bin_dir / "gradcheck-ci"),
            "merge",
            *reports,
            "--json",
            "gradcheck-report.json",
            "--junit",
            "gradcheck-junit.xml",
            "--sarif",
            "gradcheck.sarif",
            "--html",
            "gradcheck.html",
        ],
        cwd=work,
    )
    assert merged.returncode == 1, merged.stdout + merged.stderr  # a failing model in one shard
    assert "merged 2 report(s), 2 model(s): fail" in merged.stdout
    report = json.loads((work / "gradcheck-report.json").read_text())
    assert [m["name"] for m in report["models"]] == ["seed-rnn-truncated", "seed-rnn-full-bptt"]
    assert report["status"] == "fail"
    assert ET.parse(work / "gradcheck-junit.xml").getroot().tag in ("testsuites", "testsuite")
    sarif = json.loads((work / "gradcheck.sarif").read_text())
    [result] = sarif["runs"][0]["results"]
    assert result["ruleId"] == "truncated-bptt"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "models/rnn.py"
    assert sarif["runs"][0]["tool"]["driver"]["informationUri"].startswith("https://")
    assert "seed-rnn-truncated" in (work / "gradcheck.html").read_text(encoding="utf-8")

    valid = run(
        [
            str(bin_dir / "gradcheck-ci"),
            "validate",
            "--config",
            str(FIXTURES / "repos" / "seed-rnn" / "gradcheck.yml"),
        ]
    )
    assert valid.returncode == 0 and "valid, 2 model(s)" in valid.stdout, (
        valid.stdout + valid.stderr
    )

    check = run(
        [
            str(bin_dir / "gradcheck-ci"),
            "check",
            "--config",
            str(FIXTURES / "repos" / "seed-rnn" / "gradcheck.yml"),
        ]
    )
    assert check.returncode == 2
    assert "needs Python 3.11" in check.stderr and "gradcheck-ci[check]" in check.stderr
    assert "Traceback" not in check.stderr

    # The `check` extra is for Python 3.11 only: elsewhere it installs nothing (and so never fails
    # to build).
    extra = run([str(bin_dir / "pip"), "install", "--quiet", f"{wheel}[check]"])
    assert extra.returncode == 0, extra.stderr[-3000:]
    assert "theano" not in run([str(bin_dir / "pip"), "freeze"]).stdout.lower()
