"""False alarms found and not fixed yet, kept failing on purpose (strict xfail): when the engine
stops crying wolf on them, these tests fail and say so. docs/numerics.md ("Assumptions, and where it
falls short") describes each."""

from __future__ import annotations

import pytest

from tests import FIXTURES
from tests.harness import run_cli


@pytest.mark.xfail(
    strict=True,
    reason="kinks within 1e-9 of the checked point: a band's line is confirmed as disagreeing "
    "while each member's own line agrees, on a correct model",
)
def test_a_relu_mlp_with_tiny_weights_passes_on_a_first_run(tmp_path):
    config = FIXTURES / "known-false-alarm" / "gradcheck.yml"
    run = run_cli(
        "check",
        "--config",
        str(config),
        env={"GRADCHECK_CI_NO_FUNCTION_CACHE": "1"},
        json_path=tmp_path / "report.json",
    )
    assert run.model("relu-tiny-weights")["status"] == "pass", run.output
