"""GRADCHECK_CI_DEBUG=1 shows the traceback behind each one-line error, the user's own code
included; without it, the same runs print no traceback (tests/integration/test_bad_inputs.py holds
every case to that)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests import FIXTURES
from tests.harness import assert_no_traceback, run_cli


def repo(case: str, tmp_path: Path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(FIXTURES / "bad" / case, target)
    return target


@pytest.mark.slow
def test_a_model_that_cannot_be_imported_shows_the_users_traceback(tmp_path):
    cwd = repo("module-imports-missing", tmp_path)
    quiet = run_cli("check", "--model", "net", cwd=cwd)
    assert quiet.code == 2 and "tensorflow" in quiet.output
    assert_no_traceback(quiet)

    loud = run_cli("check", "--model", "net", cwd=cwd, env={"GRADCHECK_CI_DEBUG": "1"})
    assert loud.code == 2
    # the one line is still there, and behind it the import in the user's file that failed
    assert "tensorflow" in loud.stdout and "Traceback (most recent call last)" in loud.output
    assert "models/net.py" in loud.output and "import tensorflow as tf" in loud.output
    assert "ModuleNotFoundError: No module named 'tensorflow'" in loud.output


@pytest.mark.slow
def test_a_factory_that_raises_shows_where(tmp_path):
    cwd = repo("factory-raises-deep", tmp_path)
    loud = run_cli("check", "--model", "net", cwd=cwd, env={"GRADCHECK_CI_DEBUG": "1"})
    assert loud.code == 2
    assert "Traceback (most recent call last)" in loud.output and "num_units=-4" in loud.output


def test_an_unreadable_config_shows_the_traceback_only_when_asked(tmp_path):
    cwd = repo("missing-version", tmp_path)
    quiet = run_cli("check", cwd=cwd)
    assert quiet.code == 2
    assert_no_traceback(quiet)
    loud = run_cli("check", cwd=cwd, env={"GRADCHECK_CI_DEBUG": "1"})
    assert (
        loud.code == 2
        and "Traceback (most recent call last)" in loud.output
        and "ConfigError" in loud.output
    )


def test_a_usage_error_shows_the_traceback_only_when_asked(tmp_path):
    quiet = run_cli("merge", "missing.json", "--json", "m.json", cwd=tmp_path)
    assert quiet.code == 2 and "cannot read report missing.json" in quiet.stderr
    assert_no_traceback(quiet)
    loud = run_cli(
        "merge", "missing.json", "--json", "m.json", cwd=tmp_path, env={"GRADCHECK_CI_DEBUG": "1"}
    )
    assert loud.code == 2 and "FileNotFoundError" in loud.stderr and "Traceback" in loud.stderr
