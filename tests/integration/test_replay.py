"""`gradcheck-ci replay` of the reported network's CI report: the failing tensors' errors come back
to the digits the report recorded, every element is compared, and the .npz loads with plain
numpy."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from gradcheck_ci.commands.replay import REPRODUCED_DIGITS, digits_agreeing
from tests import FIXTURES, REPO
from tests.harness import assert_no_traceback, run_cli
from tests.integration.conftest import REPORTED_NETWORK

pytestmark = pytest.mark.slow
W_IN = "RecurrentLayer#0.W_in_to_hid"


def test_replay_reproduces_the_reported_networks_failure(reported_network, tmp_path):
    _, out = reported_network
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    [recorded] = report["models"]
    npz = tmp_path / "replay.npz"
    run = run_cli(
        "replay",
        str(out / "report.json"),
        "--model",
        "seed-rnn-truncated",
        "--config",
        str(REPORTED_NETWORK),
        "--npz",
        str(npz),
        "--json",
        str(tmp_path / "replayed.json"),
        cwd=tmp_path,
    )
    assert run.code == 1, run.output  # the replayed check fails, as the report's did
    assert_no_traceback(run)
    assert "nothing differs from the report" in run.stdout
    [replayed] = json.loads((tmp_path / "replayed.json").read_text(encoding="utf-8"))["models"]
    # seed, precision, data 10 x 10000 x 2, mode, directions
    assert replayed["spec"] == recorded["spec"]
    now = {p["id"]: p for p in replayed["params"]}
    failing = [p for p in recorded["params"] if p["status"] == "fail"]
    assert W_IN in {p["id"] for p in failing}
    for before in failing:
        after = now[before["id"]]
        assert after["status"] == "fail"
        for key in ("max_abs_err", "max_rel_err", "analytic", "numeric"):
            assert digits_agreeing(before[key], after[key]) >= REPRODUCED_DIGITS, (
                before["id"],
                key,
            )
        assert after["worst_index"] == before["worst_index"]
        measured = {"full": "element", "directional": "direction"}[before["method"]]
        assert (
            f"{before['id']}: fail, abs err ({measured}) {before['max_abs_err']!r} in the report"
            in run.stdout
        )

    data = np.load(npz, allow_pickle=False)
    meta = json.loads(str(data["meta"]))
    assert meta["model"] == "seed-rnn-truncated" and set(meta["compared"]) == {
        p["id"] for p in failing
    }
    assert data["inputs/InputLayer#0"].shape == (10, 10000, 2) and data["targets"].shape == (
        100000,
    )
    analytic, numeric = data[f"analytic/{W_IN}"], data[f"numeric/{W_IN}"]
    assert analytic.shape == numeric.shape == data[f"params/{W_IN}"].shape == (2, 2)
    assert not data[f"agree/{W_IN}"].any()  # every element of the truncated gradient is wrong ...
    assert np.all(np.abs(numeric) > 50 * np.abs(analytic))  # ... by orders of magnitude
    assert np.allclose(data[f"abs_err/{W_IN}"], np.abs(numeric - analytic))
    summary = next(t for t in replayed["extra"]["replay"]["tensors"] if t["id"] == W_IN)
    assert summary["elements"] == 4 and summary["disagree"] == 4
    assert f"{W_IN} (2x2): 4 of 4 element(s) disagree" in run.stdout


def test_replay_says_what_differs_from_the_report(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "repos" / "seed-rnn", repo)
    checked = run_cli(
        "check", "--model", "seed-rnn-truncated", cwd=repo, json_path=tmp_path / "report.json"
    )
    assert checked.code == 1, checked.output
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    report["version"] = "0.0.9"
    (tmp_path / "report.json").write_text(json.dumps(report), encoding="utf-8")
    config = (repo / "gradcheck.yml").read_text(encoding="utf-8")
    (repo / "gradcheck.yml").write_text(
        config.replace("kwargs: {gradient_steps: 1}", "kwargs: {gradient_steps: 1}\n    seed: 3"),
        encoding="utf-8",
    )
    with open(repo / "models" / "rnn.py", "a", encoding="utf-8") as handle:
        handle.write("\n# edited after the report\n")
    run = run_cli(
        "replay",
        str(tmp_path / "report.json"),
        "--model",
        "seed-rnn-truncated",
        "--npz",
        str(tmp_path / "r.npz"),
        cwd=repo,
    )
    assert run.code == 1, run.output
    assert "written by gradcheck-ci 0.0.9; this is" in run.stdout
    assert "gradcheck.yml now says seed: 3 (the report: 0); replaying the report's" in run.stdout
    assert "models/rnn.py changed since the report: the replay runs today's code" in run.stdout
    assert "seed=0 precision=float64" in run.stdout  # the report's seed, not gradcheck.yml's
    assert "reproduced" in run.stdout
    # --quiet leaves out progress, not what differs and what the replay found
    quiet = run_cli(
        "replay",
        str(tmp_path / "report.json"),
        "--model",
        "seed-rnn-truncated",
        "--npz",
        str(tmp_path / "q.npz"),
        "--quiet",
        cwd=repo,
    )
    assert quiet.code == 1, quiet.output
    assert "models/rnn.py changed since the report: the replay runs today's code" in quiet.stdout
    assert "against the report:" in quiet.stdout and "reproduced" in quiet.stdout
    assert f"wrote {tmp_path / 'q.npz'}" in quiet.stdout


def test_replay_from_the_repository_root_finds_the_config_the_report_was_checked_with(
    reported_network, tmp_path
):
    """The report says 'gradcheck.yml' (relative to examples/seed-rnn, the root it checked);
    replayed from the repository root, as README's `make example` report is, it finds that config
    and nothing differs."""
    _, out = reported_network
    run = run_cli(
        "replay",
        str(out / "report.json"),
        "--model",
        "seed-rnn-truncated",
        "--npz",
        str(tmp_path / "r.npz"),
        cwd=REPO,
    )
    assert run.code == 1, run.output
    assert_no_traceback(run)
    assert "config examples/seed-rnn/gradcheck.yml)" in run.stdout
    assert "data InputLayer#0 10x10000x2" in run.stdout and "None" not in run.stdout
    assert "nothing differs from the report" in run.stdout
