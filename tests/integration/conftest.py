"""Runs that several integration test files read: each is made once per session (they cost a real
check). The checks here evaluate with Theano's C code, as these tests were written for, and start
no background compile (GRADCHECK_CI_COMPILE=c, inherited by every process a test starts);
test_first_run.py checks the first run without C."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import REPO
from tests.harness import CliRun, run_cli

REPORTED_NETWORK = REPO / "examples" / "seed-rnn" / "gradcheck.yml"
os.environ.setdefault("GRADCHECK_CI_COMPILE", "c")


@pytest.fixture(scope="session")
def reported_network(tmp_path_factory: pytest.TempPathFactory) -> tuple[CliRun, Path]:
    """The reported network's failing model at its reported size, checked as CI does, with JSON and
    HTML reports: (the run, the folder holding report.json and report.html)."""
    out = tmp_path_factory.mktemp("reported-network")
    run = run_cli(
        "check",
        "--config",
        str(REPORTED_NETWORK),
        "--model",
        "seed-rnn-truncated",
        "--html",
        str(out / "report.html"),
        json_path=out / "report.json",
    )
    assert run.code == 1, run.output
    return run, out
