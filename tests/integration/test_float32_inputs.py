"""Models written in float32 (T.ftensor3 inputs, convolutions that cannot mix float32 with float64):
their float32 check cannot judge a rectifier network with max pooling (every float32 line crosses
kinks at its long step), so it is settled in float64 with the model's float32 inputs declared
float64. A correct model passes with the stated float32 sensitivity; an error of 5% in the
convolution's gradient still fails."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.harness import assert_no_traceback, run_cli

MODEL = """
import theano
import theano.tensor as T
import lasagne
from lasagne.layers import InputLayer, Conv1DLayer, MaxPool1DLayer, DenseLayer


def scaled_rectify(x):
    return lasagne.nonlinearities.rectify(theano.gradient.grad_scale(x, SCALE))


def build(input_var=None):
    if input_var is None:
        input_var = T.ftensor3("trials")
    net = InputLayer((None, 4, 40), input_var=input_var)
    net = Conv1DLayer(net, 4, 5, nonlinearity=scaled_rectify)
    net = MaxPool1DLayer(net, 2)
    net = DenseLayer(net, 16, nonlinearity=lasagne.nonlinearities.tanh)
    return DenseLayer(net, 2, nonlinearity=lasagne.nonlinearities.softmax)
"""


def write_repo(root: Path, scale: float, model: str = MODEL) -> None:
    (root / "trials_net.py").write_text(
        f"SCALE = {scale!r}\n" + textwrap.dedent(model), encoding="utf-8"
    )
    (root / "gradcheck.yml").write_text(
        textwrap.dedent("""\
        version: 1
        models:
          - name: trials
            factory: trials_net.py:build
            precision: float32
            data: {sequences: 5}
        """),
        encoding="utf-8",
    )


def check_repo(root: Path, scale: float, model: str = MODEL):
    """The repository written with `scale` and `model`, checked: the run (no traceback in it) and
    the model's result."""
    write_repo(root, scale, model)
    run = run_cli("check", cwd=root, json_path=root / "report.json")
    assert_no_traceback(run)
    return run, run.model("trials")


@pytest.mark.slow
def test_a_correct_float32_convnet_passes_settled_in_float64(tmp_path: Path) -> None:
    run, model = check_repo(tmp_path, 1.0)
    assert model["status"] == "pass", run.output
    assert [n["code"] for n in model["notices"]] == ["float32-settled-in-float64"], run.output
    assert all(
        p["sensitivity"] is not None and p["sensitivity"] <= 1e-2 for p in model["params"]
    ), run.output
    assert run.code == 0


@pytest.mark.slow
def test_an_error_in_a_float32_convnet_fails_confirmed_in_float64(tmp_path: Path) -> None:
    run, model = check_repo(tmp_path, 1.05)
    assert model["status"] == "fail", run.output
    failing = {p["id"] for p in model["params"] if p["status"] == "fail"}
    assert failing & {"Conv1DLayer#0.W", "Conv1DLayer#0.b"}, run.output
    assert model["extra"]["float64"]["confirmed"], run.output
    assert run.code == 1


@pytest.mark.slow
def test_a_model_that_refuses_float64_is_inconclusive_and_says_why(tmp_path: Path) -> None:
    """A factory that insists on floatX=float32 (as some training scripts do) cannot be built by the
    float64 check that settles float32: its tensors are inconclusive (never fail), and their notes
    say why."""
    run, model = check_repo(
        tmp_path,
        1.0,
        MODEL.replace(
            "    if input_var is None:",
            "    assert theano.config.floatX == 'float32', 'run with floatX=float32'\n    if "
            "input_var is None:",
        ),
    )
    assert model["status"] == "inconclusive", run.output
    assert run.code == 0, run.output
    undecided = [p for p in model["params"] if p["status"] == "inconclusive"]
    assert undecided and all("the float64 check that settles" in p["note"] for p in undecided), (
        run.output
    )
    # the worker's own error
    assert all("run with floatX=float32" in p["note"] for p in undecided), run.output


CAST_MODEL = """
import theano.tensor as T
import lasagne
from lasagne.layers import InputLayer, GRULayer, SliceLayer, DenseLayer


def build(input_var=None):
    net = InputLayer((None, None, 3), input_var=input_var)
    net = GRULayer(net, 5)
    net = SliceLayer(net, -1, 1)
    return DenseLayer(net, 2, nonlinearity=lambda z: T.nnet.softmax(T.cast(z, "float32")))
"""


def test_a_float32_cast_in_a_float64_check_is_not_a_failure(tmp_path: Path) -> None:
    """A correct model whose output goes through float32 (a cast before the softmax), checked in
    float64: float32 arithmetic flattens the loss along the check's short lines, which then look
    like a confirmed zero slope. Its tensors are not judged (never failed), and a notice at the
    cast says to check the model in float32."""
    (tmp_path / "tagger.py").write_text(textwrap.dedent(CAST_MODEL), encoding="utf-8")
    (tmp_path / "gradcheck.yml").write_text(
        "version: 1\nmodels:\n  - name: cast\n    factory: tagger.py:build\n"
        "    data: {sequences: 4, steps: 8, classes: 2}\n",
        encoding="utf-8",
    )
    run = run_cli("check", cwd=tmp_path, json_path=tmp_path / "report.json")
    assert_no_traceback(run)
    model = run.model("cast")
    assert model["status"] == "inconclusive", run.output
    assert not any(p["status"] == "fail" for p in model["params"])
    assert run.code == 0, run.output
    [notice] = [n for n in model["notices"] if n["code"] == "float32-arithmetic"]
    assert (notice["file"], notice["line"]) == ("tagger.py", 11)
    assert "precision: float32" in notice["message"]
