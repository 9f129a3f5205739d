"""The bundled reported network at its reported size (10 sequences x 10,000 steps x 2 features)."""

import pytest

from tests import REPO
from tests.harness import run_cli

pytestmark = pytest.mark.slow


def test_seed_rnn_example(tmp_path):
    run = run_cli(
        "check",
        "--config",
        str(REPO / "examples" / "seed-rnn" / "gradcheck.yml"),
        json_path=tmp_path / "report.json",
    )
    assert run.code == 1, run.output
    truncated = run.model("seed-rnn-truncated")
    assert truncated["status"] == "fail"
    w_in = next(p for p in truncated["params"] if p["id"] == "RecurrentLayer#0.W_in_to_hid")
    assert w_in["status"] == "fail"
    # Theano's truncated gradient is orders of magnitude smaller than the true derivative
    assert abs(w_in["analytic"]) * 50 < abs(w_in["numeric"])
    assert (w_in["file"], w_in["line"]) == ("models/rnn.py", 14)
    assert "RecurrentLayer#0.W_in_to_hid" in run.stdout
    assert run.model("seed-rnn-full-bptt")["status"] == "pass"
    # what README.md says `make example` shows
    assert [p["status"] for p in truncated["params"]] == ["fail"] * 3
    assert all(p["max_rel_err"] > 0.9 for p in truncated["params"])
    assert "diagnosis truncated-bptt (confirmed) at models/rnn.py:14" in run.stdout
    assert "profile: RecurrentLayer#0:" in run.stdout
    assert 1e-6 < abs(w_in["analytic"]) < 1e-4 and 1e-3 < abs(w_in["numeric"]) < 1e-2


def test_seed_rnn_full_bptt_alone_exits_0(tmp_path):
    run = run_cli(
        "check",
        "--config",
        str(REPO / "examples" / "seed-rnn" / "gradcheck.yml"),
        "--model",
        "seed-rnn-full-bptt",
        json_path=tmp_path / "report.json",
    )
    assert run.code == 0, run.output
