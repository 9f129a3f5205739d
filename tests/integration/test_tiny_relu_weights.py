"""Correct ReLU-style networks with tiny initial weights and zero biases, which a first run used to
fail: their pre-activations lie within 1e-9 of the kinks (1e-20 deeper down), none at one, so the
loss is differentiable at the checked point and Theano's gradient is its derivative (finite
differences at 80 bits inside the kink-free neighbourhood agree to 5e-8). Kinks that close to every
point of a line are not round-off (line.round_off measures the floor again at a finer spacing), and
several of them within one stencil are not a gradient error (a disagreement where lines showed
kinks is measured again near the point: full.FullCheck.confirmed, probing.Prober.confirmed_nearby;
a band's error is shared out only when its parts' errors add up to it: line.additive).
docs/numerics.md says how ("Round-off beyond 16 eps |L|", "Kinks a hair from the point" and "The
full mode")."""

from __future__ import annotations

from tests import FIXTURES
from tests.harness import run_cli


def test_relu_mlps_with_tiny_weights_pass_on_a_first_run(tmp_path):
    config = FIXTURES / "tiny-relu-weights" / "gradcheck.yml"
    run = run_cli(
        "check",
        "--config",
        str(config),
        env={"GRADCHECK_CI_NO_FUNCTION_CACHE": "1"},
        json_path=tmp_path / "report.json",
    )
    statuses = {model["name"]: model["status"] for model in run.report["models"]}
    assert len(statuses) == 8 and set(statuses.values()) == {"pass"}, run.output


def test_the_next_run_replays_the_measurements_near_the_point_to_the_same_verdicts(tmp_path):
    """The record of a first run keeps which lines were measured again near the point: the next
    run of the unchanged check does the same, from no more evaluations."""
    config = FIXTURES / "tiny-relu-weights" / "gradcheck.yml"
    runs = [
        run_cli(
            "check",
            "--config",
            str(config),
            "--model",
            "leaky-*",
            "--cache-dir",
            str(tmp_path / "cache"),
            json_path=tmp_path / f"report{n}.json",
        )
        for n in range(2)
    ]
    first, second = ({m["name"]: m for m in run.report["models"]} for run in runs)
    assert sorted(first) == ["leaky-2x16-gain-1e-6", "leaky-3x16-gain-1e-6"], runs[0].output
    for name, model in first.items():
        assert model["status"] == second[name]["status"] == "pass", runs[1].output
        assert second[name]["evaluations"] <= model["evaluations"]
