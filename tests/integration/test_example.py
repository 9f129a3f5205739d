"""The bundled reported network at its reported size (10 sequences x 10,000 steps x 2 features), as
`make example` shows it: the truncated model's run is the session's `reported_network` (conftest.py,
shared with the HTML and replay tests: one check of the 10,000-step model, not three), the full-BPTT
model's its own."""

import pytest

from tests import REPO
from tests.harness import run_cli

pytestmark = pytest.mark.slow

EXAMPLE = REPO / "examples" / "seed-rnn"


def layer_line() -> int:
    lines = (EXAMPLE / "models" / "rnn.py").read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if "RecurrentLayer(" in line)


def test_seed_rnn_example(reported_network):
    run, _ = reported_network
    truncated = run.model("seed-rnn-truncated")
    assert truncated["status"] == "fail"
    w_in = next(p for p in truncated["params"] if p["id"] == "RecurrentLayer#0.W_in_to_hid")
    assert w_in["status"] == "fail"
    # Theano's truncated gradient is orders of magnitude smaller than the true derivative
    assert abs(w_in["analytic"]) * 50 < abs(w_in["numeric"])
    assert (w_in["file"], w_in["line"]) == ("models/rnn.py", layer_line())
    assert "RecurrentLayer#0.W_in_to_hid" in run.stdout
    # what README.md says `make example` shows
    assert [p["status"] for p in truncated["params"]] == ["fail"] * 3
    assert all(p["max_rel_err"] > 0.9 for p in truncated["params"])
    line = f"diagnosis truncated-bptt (confirmed) at models/rnn.py:{layer_line()}"
    assert line in run.stdout
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"`truncated-bptt (confirmed) at models/rnn.py:{layer_line()}`" in readme
    assert "profile: RecurrentLayer#0:" in run.stdout
    assert 1e-6 < abs(w_in["analytic"]) < 1e-4 and 1e-3 < abs(w_in["numeric"]) < 1e-2


def test_seed_rnn_full_bptt_alone_exits_0(tmp_path):
    run = run_cli(
        "check",
        "--config",
        str(EXAMPLE / "gradcheck.yml"),
        "--model",
        "seed-rnn-full-bptt",
        json_path=tmp_path / "report.json",
    )
    assert run.code == 0, run.output
    assert run.model("seed-rnn-full-bptt")["status"] == "pass"
