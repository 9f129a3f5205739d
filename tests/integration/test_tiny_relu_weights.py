"""Correct ReLU MLPs with tiny initial weights and zero biases, which a first run used to fail:
their pre-activations lie within 1e-9 of the kinks, none at one, so the loss is differentiable at
the checked point and Theano's gradient is its derivative (finite differences at 80 bits inside the
kink-free neighbourhood agree to 5e-8). Kinks that close to every point of a line are not round-off
(line.round_off measures the floor again at a finer spacing), and several of them within one
stencil are not a gradient error (full.FullCheck.confirmed measures the element again near the
point). docs/numerics.md says how ("Round-off beyond 16 eps |L|" and "The full mode")."""

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
    names = ("relu-tiny-weights", "relu-tinier-weights-full", "relu-tinier-weights-full-float32")
    for name in names:
        assert run.model(name)["status"] == "pass", run.output
