"""The corpus of bad inputs (tests/fixtures/bad/<case>/): every one gets a clear answer at its
source.

Each case is a tiny repository (gradcheck.yml + models). The table gives, per case, the exact exit
code, a substring of the message, and where the message must point: configuration errors into
gradcheck.yml, model errors into the user's code (file and line). For every case: no Python
traceback in the output, the JSON, JUnit and SARIF reports are written and valid, and the good
models of a mixed config pass.

Cases that import Theano (a worker process per model) are marked slow; configuration cases never
import Theano and run in well under a second each.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import FIXTURES
from tests.harness import REPORT_ARGS, assert_no_traceback, assert_reports_valid, run_cli

CORPUS = FIXTURES / "bad"


# -------------------------------------------------------------------------------------------
# helpers


def copy_case(name: str, tmp_path: Path) -> Path:
    """A private copy of a corpus repository (so runs never write into tests/fixtures)."""
    target = tmp_path / "repo"
    shutil.copytree(CORPUS / name, target, symlinks=True)
    return target


def model_result(report: dict, name: str) -> dict:
    [model] = [m for m in report["models"] if m["name"] == name]
    return model


# ------------------------------------------------------------------------------------------- the
# table


@dataclass(frozen=True)
class Case:
    case: str  # directory under tests/fixtures/bad
    exit: int
    message: str  # must appear in the output (and in the report's message, for check runs)
    # "file:line" the message must point at (None: the file is named but no line exists)
    at: str | None
    model: str | None = "net"  # whose error it is; None: a file-level configuration error
    args: tuple[str, ...] = ("check",)
    status: str = "error"
    slow: bool = False
    reports: bool = True  # check runs write JSON, JUnit and SARIF

    @property
    def id(self) -> str:
        return (
            self.case
            if self.args in (("check",), ("validate",))
            else f"{self.case}[{' '.join(self.args)}]"
        )


def slow(case: Case) -> Case:
    return Case(**{**case.__dict__, "slow": True})


CONFIG_CASES = [
    Case(
        "yaml-syntax",
        2,
        "YAML syntax error: expected ',' or '}', but got ':'",
        "gradcheck.yml:6",
        model=None,
    ),
    Case(
        "yaml-tabs", 2, "YAML indentation must use spaces, not tabs", "gradcheck.yml:4", model=None
    ),
    Case(
        "wrong-type-seed",
        2,
        "seed must be an integer from 0 to 4,294,967,295, got the string 'zero'",
        "gradcheck.yml:5",
    ),
    Case(
        "seed-too-large",
        2,
        "seed must be an integer from 0 to 4,294,967,295, got 4294967296",
        "gradcheck.yml:5",
    ),
    Case(
        "seed-too-large",
        2,
        "seed must be an integer from 0 to 4,294,967,295, got 4294967296",
        "gradcheck.yml:5",
        args=("validate",),
    ),
    Case(
        "directions-huge",
        2,
        "directions must be an integer from 1 to 10,000, got 1234567890",
        "gradcheck.yml:5",
    ),
    Case("path-nul", 2, "factory path 'models\\x00/good.py' holds a NUL", "gradcheck.yml:4"),
    Case(
        "wrong-type-data",
        2,
        "data.sequences must be an integer >= 1, got 2.5 (a number)",
        "gradcheck.yml:6",
    ),
    Case(
        "unknown-key",
        2,
        "unknown key 'kwarg' in model 'net' (did you mean 'kwargs'?)",
        "gradcheck.yml:5",
        args=("check", "--model", "net"),
    ),
    Case(
        "unknown-top-key",
        2,
        "unknown key 'default' at the top level (did you mean 'defaults'?)",
        "gradcheck.yml:2",
        model=None,
        args=("validate",),
    ),
    Case(
        "duplicate-name",
        2,
        "duplicate model name 'net' (first used on line 3)",
        "gradcheck.yml:5",
        model=None,
        args=("validate",),
    ),
    Case(
        "duplicate-key",
        2,
        "duplicate key 'seed' in the model entry (first on line 5)",
        "gradcheck.yml:6",
    ),
    Case(
        "missing-factory-file",
        2,
        "factory file 'models/goood.py' not found in the repository (did you mean "
        "'models/good.py'?)",
        "gradcheck.yml:4",
    ),
    Case(
        "missing-factory-key", 2, "model 'net' is missing required key 'factory'", "gradcheck.yml:3"
    ),
    Case(
        "bad-factory-syntax",
        2,
        "factory must look like 'path/to/file.py:function'",
        "gradcheck.yml:4",
    ),
    Case(
        "path-dotdot",
        2,
        "factory path escapes the repository root: '../outside.py'",
        "gradcheck.yml:4",
    ),
    Case("path-dotdot-inner", 2, "factory path escapes the repository root", "gradcheck.yml:4"),
    Case(
        "path-absolute", 2, "factory path '/etc/gradcheck/models.py' is absolute", "gradcheck.yml:4"
    ),
    Case(
        "path-loss-escapes",
        2,
        "loss path escapes the repository root: '../losses.py'",
        "gradcheck.yml:5",
    ),
    Case(
        "path-symlink-escapes",
        2,
        "is a symlink (or lies in a symlinked folder) that leads outside",
        "gradcheck.yml:4",
    ),
    Case(
        "non-utf8-config",
        2,
        "file is not valid UTF-8 (byte 0xe9); save it as UTF-8",
        "gradcheck.yml:5",
        model=None,
    ),
    Case("utf16-config", 2, "file is UTF-16; save it as UTF-8", "gradcheck.yml:1", model=None),
    Case("missing-version", 2, "missing 'version: 1'", "gradcheck.yml:1", model=None),
    Case(
        "version-string",
        2,
        "version must be the number 1, not the string '1'",
        "gradcheck.yml:1",
        model=None,
    ),
    Case(
        "models-empty", 2, "models is empty; list at least one model", "gradcheck.yml:2", model=None
    ),
    Case(
        "empty-file",
        2,
        "file has no content; it should start with 'version: 1'",
        "gradcheck.yml",
        model=None,
    ),
    Case(
        "not-a-mapping",
        2,
        "the file must be a mapping with 'version' and 'models', got a list",
        "gradcheck.yml:1",
        model=None,
    ),
    Case(
        "precision-typo",
        2,
        "precision must be one of float64, float32, got the string 'float46' "
        "(did you mean 'float64'?)",
        "gradcheck.yml:5",
    ),
    Case("timeout-zero", 2, "timeout must be a number > 0, got 0", "gradcheck.yml:5"),
    Case("memory-too-small", 2, "memory must be an integer >= 1024, got 64", "gradcheck.yml:5"),
    Case(
        "kwargs-list",
        2,
        "kwargs must be a mapping of keyword arguments, got a list",
        "gradcheck.yml:5",
    ),
    Case(
        "unknown-loss",
        2,
        "unknown loss 'categorical_cross_entropy' (did you mean 'categorical_crossentropy'?)",
        "gradcheck.yml:5",
    ),
    Case(
        "models-200", 0, "gradcheck.yml: valid, 200 model(s)", None, model=None, args=("validate",)
    ),
    Case(
        "models-200-one-bad",
        2,
        "duplicate model name 'm-017' (first used on line 39)",
        "gradcheck.yml:345",
        model=None,
        args=("validate",),
    ),
    # usage errors: exit 2 with one line, before any model runs
    Case(
        "models-200",
        2,
        "file not found: missing/gradcheck.yml",
        "gradcheck.yml",
        model=None,
        args=("check", "--config", "missing/gradcheck.yml"),
    ),
    Case(
        "models-200",
        2,
        "--model m-999: no such model in the config",
        None,
        model=None,
        args=("check", "--model", "m-999"),
        reports=False,
    ),
    Case(
        "models-200",
        2,
        "--shard 3/2: the shard number must be between 1 and 2",
        None,
        model=None,
        args=("check", "--shard", "3/2"),
        reports=False,
    ),
    Case(
        "unknown-key",
        2,
        "cannot write the report --json models: it is a directory",
        None,
        model=None,
        args=("check", "--model", "net", "--json", "models"),
        reports=False,
    ),
    Case(
        "models-200",
        2,
        "cannot read report gradcheck.yml",
        None,
        model=None,
        args=("merge", "gradcheck.yml", "--json", "merged.json"),
        reports=False,
    ),
]

MODEL_CASES = [
    slow(c)
    for c in [
        Case(
            "factory-raises",
            2,
            "ValueError: num_units must be positive, got 0 (building model 'net')",
            "models/net.py:7",
        ),
        Case(
            "factory-raises-deep",
            2,
            "Cannot create param with a non-positive shape dimension",
            "models/net.py:7",
        ),
        Case(
            "factory-not-layer",
            2,
            "returned a tuple, not a Lasagne Layer (it holds no Lasagne "
            "layer: return the output layer, or the layers with it)",
            "models/net.py:8",
        ),
        Case(
            "factory-returns-none",
            2,
            "returned None, not a Lasagne Layer (is a `return` statement missing?)",
            "models/net.py:7",
        ),
        Case(
            "factory-returns-function",
            2,
            "returned a compiled Theano function (theano.function), not a Lasagne Layer",
            "gradcheck.yml:5",
        ),
        Case(
            "factory-wrong-kwargs",
            2,
            "got an unexpected keyword argument 'units' (did you mean 'num_units'?)",
            "gradcheck.yml:5",
        ),
        Case(
            "factory-missing-function",
            2,
            "models/net.py has no function 'biuld' (factory "
            "'models/net.py:biuld') (did you mean 'build'?)",
            "gradcheck.yml:4",
        ),
        Case("missing-dotted-module", 2, "no module named 'mypackage.networks'", "gradcheck.yml:4"),
        Case(
            "module-imports-missing",
            2,
            "ModuleNotFoundError: No module named 'tensorflow'",
            "models/net.py:2",
        ),
        Case(
            "syntax-error-model",
            2,
            "syntax error importing the factory module of "
            "'models/net.py:build': '(' was never closed",
            "models/net.py:6",
        ),
        Case("non-utf8-model", 2, "models/net.py is not valid UTF-8", "models/net.py:4"),
        Case(
            "lasagne-master", 2, "BatchNormLayer does not exist in Lasagne 0.1", "models/net.py:7"
        ),
        Case(
            "lasagne-master-import",
            2,
            "batch_norm does not exist in Lasagne 0.1",
            "models/net.py:2",
        ),
        Case(
            "lasagne-dnn",
            2,
            "need theano.sandbox.cuda, which Theano 1.0 removed",
            "models/net.py:3",
        ),
        Case(
            "output-index-on-layer",
            2,
            "output: 1 is an index, but the factory returned a "
            "DenseLayer, not a tuple or list (the returned layers: DenseLayer (models/net.py:6))",
            "gradcheck.yml:5",
        ),
        Case(
            "output-picks-function",
            2,
            "output: 0 picks a function, not a Lasagne Layer (the "
            "returned layers: [1] DenseLayer (models/net.py:6))",
            "gradcheck.yml:5",
        ),
        Case(
            "inputs-unused",
            2,
            "the InputLayer made for `inputs: extra` does not reach the output "
            "layer DenseLayer#0: the factory did not use its argument 'extra'",
            "gradcheck.yml:7",
        ),
        Case(
            "inputs-shape-mismatch",
            2,
            "inputs.incoming.shape [null, 5] does not fit the model: it multiplies the input "
            "incoming (10x5) by W_shared (6x4), which needs 6 columns, not 5",
            "gradcheck.yml:7",
        ),
        Case(
            "data-inputs-unknown",
            2,
            "data.inputs.word_id: model 'net' has no input called 'word_id' "
            "(did you mean 'word_ids'?) (its inputs: InputLayer#0, word_ids)",
            "gradcheck.yml:7",
        ),
        Case(
            "data-inputs-float",
            2,
            "data.inputs.features: input features holds float64 values; a "
            "range is for inputs of integers (T.imatrix, T.ivector...)",
            "gradcheck.yml:7",
        ),
        Case(
            "no-trainable-params", 2, "model 'net' has no trainable parameters", "models/net.py:7"
        ),
        Case(
            "param-not-shared",
            2,
            "trainable parameter Offset#0.c is a TensorConstant, not a shared variable",
            "models/net.py:20",
        ),
        Case(
            "unshapeable-input",
            2,
            "cannot fill dimension 2 of a 5-D input from `data`",
            "models/net.py:15",
        ),
        Case(
            "mask-wrong-dims",
            2,
            "mask input has 3 dimensions, expected (sequences, steps)",
            "models/net.py:7",
        ),
        Case(
            "classes-exceed-units",
            2,
            "data.classes is 5 but the output has 2 units",
            "gradcheck.yml:6",
        ),
        Case(
            "params-no-match",
            2,
            "params pattern 'Recurrent*' matches no trainable parameter of "
            "'net'; available: DenseLayer#0.W, DenseLayer#0.b",
            "gradcheck.yml:5",
        ),
        Case(
            "forward-raises",
            2,
            "AttributeError: 'ScaleLayer' object has no attribute 'scale' "
            "(building the forward pass of 'net', in ScaleLayer#0's get_output_for)",
            "models/net.py:7",
        ),
        Case(
            # Lasagne's own layer raises: the line that built it, not gradcheck.yml's
            "stock-layer-raises",
            2,
            "ValueError: x must be 1-d or 2-d tensor of floats. Got TensorType(float64, 3D) "
            "(building the forward pass of 'net', in NonlinearityLayer#0's get_output_for)",
            "models/tagger.py:11",
        ),
        Case(
            "loss-not-scalar",
            2,
            "returned a 1-D tensor; it must return a scalar",
            "models/losses.py:5",
        ),
        Case(
            "loss-raises",
            2,
            "NameError: name 'class_weights' is not defined (calling loss",
            "models/losses.py:6",
        ),
        Case(
            "loss-missing-function",
            2,
            "no function 'my_loss' in models/losses.py (did you mean 'my_los'?)",
            "gradcheck.yml:5",
        ),
        Case("loss-missing-module", 2, "no module named 'mylosses.weighted'", "gradcheck.yml:5"),
        Case(
            # the compiled function fails in a node of a custom layer: the line that built the node
            "forward-shape-mismatch",
            2,
            "Theano failed evaluating the compiled loss of 'net': ValueError",
            "models/net.py:15",
        ),
        Case(
            "loss-shape-mismatch",
            2,
            "Theano failed evaluating the compiled loss of 'net': ValueError",
            "gradcheck.yml:3",
        ),
        Case(
            "not-differentiable",
            2,
            "Theano cannot differentiate the loss of 'net': NullTypeGradError",
            "models/net.py:18",
        ),  # the custom op's grad()
        Case(
            "op-without-gradient",
            2,
            "Theano cannot differentiate SVD (theano.tensor.nlinalg.SVD): "
            "the op has no "
            # the user's line that called T.nlinalg.svd
            "gradient in Theano 1.0.5",
            "models/spectral.py:24",
        ),
        Case(
            "nan-loss",
            2,
            "the loss of 'net' is nan on the synthetic data (seed 0); nothing can be "
            "compared: the output of DenseLayer#0 is the first to hold NaN",
            "models/net.py:8",
        ),
        Case("inf-loss", 2, "the loss of 'net' is inf", "models/net.py:9"),
        Case(
            "inf-loss-custom",
            2,
            "every layer's output is finite, so the loss function makes it",
            "models/losses.py:4",
        ),
        Case("nan-gradient", 1, "FAIL net", "models/net.py:9", status="fail"),
        Case("timeout", 2, "timed out after 3 s", "gradcheck.yml:5"),
        Case("memory", 2, "out of memory building model 'net'", "models/net.py:7"),
        Case(
            "segfault",
            2,
            "the worker crashed with a segmentation fault (SIGSEGV)",
            "models/net.py:8",
        ),
        Case("abort", 2, "the worker crashed with an abort (SIGABRT)", "models/net.py:9"),
        Case(
            "interrupt-in-factory",
            2,
            "KeyboardInterrupt: stop requested (building model 'net')",
            "models/net.py:7",
        ),
        Case(
            "exit-in-factory",
            2,
            "the code called exit('no GPU found, giving up') building model 'net'",
            "models/net.py:8",
        ),
        # os._exit names the line that called it (the worker's faulthandler writes the stack first)
        Case("hard-exit-in-factory", 2, "the worker exited with code 3", "models/net.py:8"),
        Case("models-200", 0, "PASS m-007", None, model=None, args=("check", "--model", "m-007")),
        Case(
            "models-200-one-bad",
            2,
            "has no function 'biuld'",
            "gradcheck.yml:306",
            model="m-150",
            args=("check", "--model", "m-150"),
        ),
    ]
]

CASES = CONFIG_CASES + MODEL_CASES


def _params(cases: list[Case]) -> list:
    return [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow else []) for c in cases]


def test_the_corpus_is_large_and_every_case_is_used():
    used = {c.case for c in CASES} | {"mixed"}
    present = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    assert present == used, (present - used, used - present)
    assert len(present) >= 30


@pytest.mark.parametrize("case", _params(CASES))
def test_bad_input(case: Case, tmp_path: Path) -> None:
    repo = copy_case(case.case, tmp_path)
    args = list(case.args)
    if case.reports and args[0] == "check":
        args += REPORT_ARGS
    run = run_cli(*args, cwd=repo)

    assert run.code == case.exit, run.output
    assert_no_traceback(run)
    assert case.message in run.output, run.output
    if case.at is not None and args[0] != "check":
        assert f"{case.at}:" in run.output, run.output  # compiler style: file:line:column: message
    if not (case.reports and args[0] == "check"):
        return

    report = assert_reports_valid(repo)
    assert report["status"] == {0: "pass", 1: "fail", 2: "error"}[case.exit]
    if case.model is None:
        if case.exit == 2:
            [error] = report["config_errors"]
            assert case.message in error["message"]
            assert_points_at(error, case.at)
        return
    result = model_result(report, case.model)
    assert result["status"] == case.status, result
    if case.status == "error":
        assert case.message in result["error"]["message"]
        assert_points_at(result["error"], case.at)
    else:  # a gradient mismatch points at the layer that owns the worst tensor
        failing = [p for p in result["params"] if p["status"] == "fail"]
        assert failing and all(p["file"] and p["line"] for p in failing)
        assert_points_at(failing[0], case.at)
    for other in report["models"]:
        if other["name"].startswith("good"):  # the good neighbour of a mixed config is intact
            assert other["status"] == "pass", other
            assert other["error"] is None and other["params"]


def assert_points_at(where: dict, at: str | None) -> None:
    file, _, line = (at or "").partition(":")
    assert where["file"] == file, where
    assert where["line"] == (int(line) if line else None), where


def test_unknown_and_config_problem_models_can_be_selected(tmp_path: Path) -> None:
    """--model accepts the name of a model whose entry is invalid (and reports that entry's
    problem)."""
    repo = copy_case("wrong-type-seed", tmp_path)
    run = run_cli("check", "--model", "net", "--json", "report.json", cwd=repo)
    assert run.code == 2 and "Traceback" not in run.output
    assert [m["name"] for m in run.json()["models"]] == ["net"]


@pytest.mark.slow
def test_mixed_config_reports_each_problem_and_keeps_the_good_models(tmp_path: Path) -> None:
    repo = copy_case("mixed", tmp_path)
    run = run_cli("check", *REPORT_ARGS, cwd=repo)
    assert run.code == 2, run.output
    assert_no_traceback(run)
    report = assert_reports_valid(repo)
    expected = {
        "good-first": ("pass", None, None),
        "raises": ("error", "RuntimeError: broken on purpose", "models/broken.py:8"),
        "not-a-layer": ("error", "returned a dict, not a Lasagne Layer", "models/broken.py:12"),
        "wrong-kwargs": (
            "error",
            "got an unexpected keyword argument 'unknown'",
            "gradcheck.yml:13",
        ),
        "config-problem": (
            "error",
            "unknown key 'sed' in model 'config-problem' (did you mean 'seed'?)",
            "gradcheck.yml:16",
        ),
        "segfault": ("error", "segmentation fault (SIGSEGV)", "models/broken.py:16"),
        "exits": ("error", "the worker exited with code 7", "models/broken.py:20"),
        "good-last": ("pass", None, None),
    }
    # in gradcheck.yml's order, the invalid entry among the others (it was listed first)
    assert [m["name"] for m in report["models"]] == list(expected)
    for name, (status, message, at) in expected.items():
        result = model_result(report, name)
        assert result["status"] == status, result
        if message:
            assert message in result["error"]["message"]
            assert message in run.output
            assert_points_at(result["error"], at)
        else:
            assert result["params"] and all(p["status"] == "pass" for p in result["params"])
    assert model_result(report, "good-last")["seed"] == 1


INTEGER_PARAM = """import numpy as np
import theano
import lasagne
from lasagne.layers import DenseLayer, ExpressionLayer, InputLayer


def build():
    l_in = InputLayer((None, 2))
    l_hid = DenseLayer(l_in, 2, nonlinearity=None)
    k = l_hid.add_param(theano.shared(np.int32(3), name="k"), (), name="k")
    l_scaled = ExpressionLayer(l_hid, lambda x: x * k)
    return DenseLayer(l_scaled, 2, nonlinearity=lasagne.nonlinearities.softmax)
"""


def test_an_integer_trainable_parameter_is_left_out_with_a_notice_at_its_layer(tmp_path):
    # it was `inconclusive` with "the loss is not smooth ... try another seed"
    (tmp_path / "net.py").write_text(INTEGER_PARAM)
    (tmp_path / "gradcheck.yml").write_text(
        "version: 1\nmodels:\n  - name: net\n    factory: net.py:build\n    lasagne: master\n"
    )
    run = run_cli("check", *REPORT_ARGS, cwd=tmp_path, timeout=600)
    assert_no_traceback(run)
    assert run.code == 0, run.output
    result = model_result(assert_reports_valid(tmp_path), "net")
    assert result["status"] == "pass"
    assert [p["id"] for p in result["params"]] == [
        "DenseLayer#0.W",
        "DenseLayer#0.b",
        "DenseLayer#1.W",
        "DenseLayer#1.b",
    ]
    [notice] = [n for n in result["notices"] if n["code"] == "integer-param"]
    assert notice["message"].startswith("trainable parameter DenseLayer#0.k holds int32")
    assert (notice["file"], notice["line"]) == ("net.py", 9)


LINEAR_SCORES = """import lasagne
from lasagne.layers import DenseLayer, InputLayer


def build():
    l_in = InputLayer((None, 3))
    # linear scores that this seed keeps near 0.5: the cross-entropy is finite, by luck
    return DenseLayer(l_in, 2, W=lasagne.init.Normal(0.01), b=lasagne.init.Constant(0.5),
                      nonlinearity=None)
"""


def test_a_cross_entropy_of_an_output_that_is_not_a_probability_gets_a_notice(tmp_path):
    (tmp_path / "net.py").write_text(LINEAR_SCORES)
    (tmp_path / "gradcheck.yml").write_text(
        "version: 1\nmodels:\n  - name: net\n    factory: net.py:build\n"
        "    loss: categorical_crossentropy\n"
    )
    run = run_cli("check", *REPORT_ARGS, cwd=tmp_path, timeout=600)
    assert run.code == 0, run.output
    result = model_result(assert_reports_valid(tmp_path), "net")
    assert result["status"] == "pass"
    [notice] = [n for n in result["notices"] if n["code"] == "loss-output"]
    assert notice["message"].startswith(
        "categorical_crossentropy takes probabilities, but the output layer DenseLayer#0 has the "
        "linear nonlinearity"
    )
    assert (notice["file"], notice["line"]) == ("net.py", 8)


PIXEL_CLASSIFIER = """import theano.tensor as T
from lasagne.layers import Conv2DLayer, InputLayer, NonlinearityLayer


def pixel_softmax(x):  # over the classes, axis 1
    e = T.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def build(classes_last=False):
    l_in = InputLayer((None, 2, 5, 5))
    l_scores = Conv2DLayer(l_in, 3, 3, pad=1, nonlinearity=None)
    return NonlinearityLayer(l_scores, pixel_softmax)
"""


def test_a_cross_entropy_of_a_pixel_classifiers_output_says_which_axis_it_takes(tmp_path):
    # (batch, 3 classes, 5, 5): the check's rows run along the width, not the classes
    (tmp_path / "net.py").write_text(PIXEL_CLASSIFIER)
    (tmp_path / "gradcheck.yml").write_text(
        "version: 1\nmodels:\n  - name: net\n    factory: net.py:build\n"
        "    loss: categorical_crossentropy\n    data: {classes: 3}\n"
    )
    run = run_cli("check", *REPORT_ARGS, cwd=tmp_path, timeout=900)
    assert run.code == 0, run.output
    result = model_result(assert_reports_valid(tmp_path), "net")
    [notice] = [n for n in result["notices"] if n["code"] == "loss-output"]
    assert notice["message"].startswith(
        "categorical_crossentropy of a 4-D output: the check takes rows along its last axis "
        "(NonlinearityLayer#0's output shape (None, 3, 5, 5)) as the classes (`data: classes` is 3)"
    )
    assert (notice["file"], notice["line"]) == ("net.py", 13)
