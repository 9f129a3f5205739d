"""A library's warning raised from the user's layer is shown at the user's line, once: the check
calls the layer's get_output_for again (the diagnosis' graph), and Theano warns at its caller's
line, which was then Lasagne's or gradcheck-ci's own, an installation path."""

from __future__ import annotations

from pathlib import Path

from tests.harness import assert_no_traceback, run_cli

NET = """import theano
from lasagne.layers import DenseLayer, InputLayer
from lasagne.nonlinearities import softmax, tanh


class FrozenInput(DenseLayer):
    def get_output_for(self, input, **kwargs):
        x = theano.gradient.consider_constant(input)  # deprecated since Theano 1.0
        return super(FrozenInput, self).get_output_for(x, **kwargs)


def build():
    l_hid = FrozenInput(InputLayer((None, 4)), 3, nonlinearity=tanh)
    return DenseLayer(l_hid, 2, nonlinearity=softmax)
"""


def test_a_deprecation_warning_from_a_users_layer_is_shown_at_its_line_once(tmp_path: Path):
    (tmp_path / "net.py").write_text(NET)
    (tmp_path / "gradcheck.yml").write_text(
        "version: 1\nmodels:\n  - {name: frozen, factory: 'net.py:build', data: {features: 4}}\n"
    )
    run = run_cli("check", cwd=tmp_path, timeout=900)
    assert_no_traceback(run)
    assert run.code == 0, run.output
    lines = run.output.splitlines()
    warned = [line for line in lines if "consider_constant() is deprecated" in line]
    assert warned == [
        "[frozen] | net.py:8: UserWarning: consider_constant() is deprecated, use zero_grad() or "
        "disconnected_grad() instead."
    ], run.output
    assert "site-packages" not in run.output and "gradcheck_ci/" not in run.output
