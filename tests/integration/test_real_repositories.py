"""The corpus of real-repository shapes (tests/fixtures/real/<repository>/): Lasagne code as it is
written, named in gradcheck.yml without a wrapper.

Each repository imitates a pattern public Lasagne projects use: Lasagne's v0.1 example scripts
(`build_mlp(input_var=None)`, a `main()` that trains), experiment modules returning `(l_in, l_out)`,
tagger builders that take the incoming layer and the mask, research `Model(...)` factories that
compile their training functions and return them with the output layer, float32 `T.ftensor3` inputs
and casts to float32 inside the graph, word ids into an EmbeddingLayer, fixed-shape InputLayers,
Python 2 files, Lasagne-master calls, scripts that train or download when imported, truncated
recurrent layers whose gradient Theano cannot evaluate. Each row asserts the exact status of one
model and, for errors, the message, the file and line it points at and the error's kind.

Every repository runs once (one CLI process, every report format); for each: the exit code follows
the rows, no traceback, valid reports, and no message with an array dump or a path of this machine
or of gradcheck-ci's installation.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests import FIXTURES, REPO
from tests.harness import REPORT_ARGS, CliRun, assert_no_traceback, assert_reports_valid, run_cli

CORPUS = FIXTURES / "real"


@dataclass(frozen=True)
class Row:
    repo: str
    model: str
    status: str  # pass | fail | expected-fail | error
    message: str | None = None  # a part of the error message (errors) or of a diagnosis (fail)
    # "file:line" the error (or the failing tensor, or the diagnosis) points at
    at: str | None = None
    kind: str | None = None  # the error's kind
    notices: tuple[str, ...] = ()  # "code@file:line" of every notice, in order
    # the JSON's data.shapes, when asserted
    shapes: dict[str, list[int]] = field(default_factory=dict)
    dtypes: dict[str, str] = field(default_factory=dict)  # the JSON's data.dtypes, when asserted
    diagnosis: str | None = None  # the code of a diagnosis the model must carry


F32 = "this model builds float32 variables ({at}) and fails in a float64 check: "

ROWS = [
    # Lasagne's v0.1 examples: builders taking input_var=None, 4-D images, dropout, a main() that
    # trains
    Row("lasagne-examples", "mnist-mlp", "pass", shapes={"InputLayer#0": [4, 1, 28, 28]}),
    Row("lasagne-examples", "mnist-cnn", "pass"),
    Row(
        "lasagne-examples",
        "mnist-main",
        "error",
        "factory 'mnist.py:main' is a script's main(): it trains the network and returns nothing "
        "to check; it builds the network with build_mlp() or build_cnn(): name that as the factory "
        "(`factory: mnist.py:build_mlp`)",
        "mnist.py:135",
        "load",
    ),
    Row(
        "lasagne-examples",
        "recurrent-main",
        "error",
        "factory 'recurrent.py:main' is a script's main(): it builds the network inside and trains "
        "it, and returns no network to check; gradcheck-ci needs a function that returns the "
        "network: move the lines that build it into a function that returns the output layer",
        "recurrent.py:49",
        "load",
    ),
    # the same script after docs/config.md's three new lines
    Row(
        "lasagne-examples",
        "recurrent-network",
        "pass",
        notices=(
            "data-override@recurrent_refactored.py:50",
            "data-override@recurrent_refactored.py:51",
        ),
        shapes={"InputLayer#0": [6, 10, 2], "InputLayer#1": [6, 10]},
    ),
    # experiment modules returning (l_in, l_out), named as dotted modules; a fixed shape wins over
    # data:
    Row(
        "config-modules",
        "rnn-small",
        "pass",
        notices=("data-override@configs/rnn_small.py:16",),
        shapes={"InputLayer#0": [4, 12, 3]},
    ),
    Row("config-modules", "mlp-wide", "pass", shapes={"InputLayer#0": [8, 36]}),
    Row(
        "fixed-shape",
        "localisation",
        "pass",
        notices=("data-override@protein.py:16", "data-override@protein.py:17"),
        shapes={"InputLayer#0": [100, 55, 2], "InputLayer#1": [100, 55]},
    ),
    # builders that take the incoming layer and the mask
    Row("bilstm-tagger", "bilstm", "pass", shapes={"incoming": [3, 6, 4], "mask": [3, 6]}),
    Row(
        "bilstm-tagger",
        "tagger-without-inputs",
        "error",
        "factory 'tagger/layers.py:build_tagger' (defined at tagger/layers.py:26) needs arguments "
        "that gradcheck.yml does not give: incoming. An argument that takes a layer goes in "
        "`inputs:`",
        "gradcheck.yml:12",
        "config",
    ),
    # research code: Model(...) compiles train_fn/val_fn itself, float32 inputs in a float64 check
    # (its train_fn and val_fn are never called by the check, so they are not compiled)
    Row(
        "research-model",
        "secondary-structure",
        "pass",
        dtypes={"InputLayer#0": "float32"},
        notices=("deferred-compile@model.py:35",),
    ),
    # an argument-mining BiLSTM whose factory compiles three training functions, and one that calls
    # a function of its own in the factory (compiled: it is used; the other three are not)
    Row(
        "argument-mining",
        "bio-tagger",
        "pass",
        notices=("deferred-compile@argmin/network.py:50",),
        shapes={"InputLayer#0": [3, 6], "InputLayer#1": [3, 6]},
    ),
    Row(
        "argument-mining",
        "bio-tagger-checked-shapes",
        "pass",
        notices=("deferred-compile@argmin/network.py:50",),
    ),
    Row(
        "eeg-convnet",
        "eeg",
        "error",
        F32.format(at="eeg_net.py:11") + "TypeError: Cannot convert "
        "Type TensorType(float64, (False, False, True, False))",
        "eeg_net.py:11",
        "build",
    ),
    Row(
        "eeg-convnet",
        "eeg-float32",
        "pass",
        dtypes={"InputLayer#0": "float32"},
        notices=("float32-settled-in-float64@eeg_net.py:13",),
    ),
    # its float32-only training function would not compile in float64, but the check never compiles
    # it
    Row("hardcoded-float32", "lm", "pass", notices=("deferred-compile@rnn_lm.py:23",)),
    # (and the float64 check that settles its float32 check can now build it: the training update
    # was in the way)
    Row(
        "hardcoded-float32",
        "lm-float32",
        "pass",
        notices=("deferred-compile@rnn_lm.py:23", "float32-settled-in-float64@rnn_lm.py:13"),
    ),
    # a GPU-minded CNN that casts to float32 inside: its float64 settle builds it with the casts
    # made float64
    Row(
        "masked-cnn-float32",
        "localisation-cnn",
        "pass",
        notices=("float32-settled-in-float64@cnn.py:41",),
        dtypes={"InputLayer#0": "float32", "InputLayer#1": "float32"},
    ),
    # integer inputs: into an EmbeddingLayer, or into a layer of the repository's own (a range is
    # needed)
    Row(
        "embedding-tagger",
        "pos",
        "pass",
        shapes={"InputLayer#0": [3, 7]},
        dtypes={"InputLayer#0": "int32"},
    ),
    Row(
        "lookup-indices",
        "ranker-no-range",
        "error",
        "input InputLayer#0 (ranker.py:25) holds integers (int32) and feeds no EmbeddingLayer, so "
        "gradcheck-ci cannot tell which values are valid: give their range in the model's entry, "
        "e.g. `data: {inputs: {item_ids: {low: 0, high: 10}}}`",
        "gradcheck.yml:5",
        "data",
    ),
    Row("lookup-indices", "ranker", "pass"),
    # what the factory returns: a tuple of heads, a dict of layers (Recipes), an object of the
    # repository's class
    Row(
        "multi-head",
        "heads-unchosen",
        "error",
        "factory 'heads.py:build_two_heads' returned a tuple holding 2 Lasagne layers, none of "
        "whose graphs holds the others, so gradcheck-ci cannot tell which is the output: [0] "
        "DenseLayer 'emotion' (heads.py:9); [1] DenseLayer 'speaker' (heads.py:11). Choose it with "
        "`output:` in the model's entry (e.g. `output: 1`)",
        "gradcheck.yml:6",
        "config",
    ),
    Row("multi-head", "heads-by-index", "pass"),
    Row("multi-head", "heads-by-name", "pass"),
    Row(
        "multi-head",
        "heads-misspelt",
        "error",
        "output: 'speakr' is neither a key of what the factory returned nor the name of one of its "
        "layers (did you mean 'speaker'?)",
        "gradcheck.yml:15",
        "config",
    ),
    Row("multi-head", "dict-of-layers", "pass"),
    Row("recipes-dict", "vgg-small", "pass", shapes={"InputLayer#0": [2, 3, 12, 12]}),
    Row(
        "recipes-dict",
        "vgg-subscript",
        "error",
        "output: \"net['prob']\" is neither a key of what the factory returned nor the name of "
        "one of its layers (write the key alone: `output: prob`)",
        "gradcheck.yml:9",
        "config",
    ),
    Row("class-model", "model-class", "pass"),
    # code from another era
    # Python 2 files: translated on load (tests/integration/test_reach.py has the corpus of them)
    Row("python2-code", "print-statement", "pass", notices=("python2-translated@models/mlp.py:6",)),
    Row("python2-code", "except-comma", "pass", notices=("python2-translated@models/conv.py:4",)),
    # translated, then the model's own bug: DenseLayer on (None, None, 4)
    Row(
        "python2-code",
        "mixed-tabs",
        "error",
        "TypeError: unsupported operand type(s) for *: 'NoneType' and 'int' (building model "
        "'mixed-tabs')",
        "models/rnn.py:9",
        "load",
        notices=("python2-translated@models/rnn.py:1",),
    ),
    Row("python2-code", "cpickle", "pass", notices=("python2-translated@models/pretrained.py:2",)),
    Row("python2-code", "xrange", "pass", notices=("python2-translated@models/deep.py:7",)),
    Row("python2-code", "backticks", "pass", notices=("python2-translated@models/names.py:9",)),
    Row(
        "lasagne-master",
        "lstm-final",
        "error",
        "LSTMLayer(..., only_return_final=...) is Lasagne master's API: Lasagne 0.1's LSTMLayer "
        "has no argument 'only_return_final' (Lasagne 0.1, the release on the package index that "
        "gradcheck-ci runs); to keep only the last step, follow the layer with SliceLayer(layer, "
        "indices=-1, axis=1)",
        "nets.py:9",
        "load",
    ),
    Row(
        "lasagne-master",
        "batchnorm",
        "error",
        "lasagne.layers.batch_norm does not exist in Lasagne 0.1, the release on the package index "
        "that gradcheck-ci runs (it was added later, on Lasagne's master branch); Lasagne 0.1 has "
        "no batch normalisation",
        "bn.py:2",
        "load",
    ),
    Row(
        "lasagne-master",
        "elu",
        "error",
        "lasagne.nonlinearities.elu does not exist in Lasagne 0.1, the release on the package "
        "index that gradcheck-ci runs (it was added later, on Lasagne's master branch); write it "
        "as a function",
        "nets.py:17",
        "load",
    ),
    Row(
        "lasagne-master",
        "cudnn",
        "error",
        "Lasagne's GPU layers (lasagne.layers.dnn: Conv2DDNNLayer, MaxPool2DDNNLayer, "
        "Pool2DDNNLayer) need theano.sandbox.cuda, which Theano 1.0 removed; the check runs on the "
        "CPU: use lasagne.layers.Conv2DLayer, MaxPool2DLayer and Pool2DLayer instead, with the "
        "same arguments",
        "cudnn_net.py:3",
        "load",
    ),
    Row(
        "lasagne-master",
        "cuda-backend",
        "error",
        "the code uses Theano's old CUDA backend (theano.sandbox.cuda), which Theano 1.0 removed; "
        "the check runs on the CPU",
        "gpu.py:1",
        "load",
    ),
    # scripts that train or download when imported
    Row(
        "scripts-at-import",
        "char-rnn",
        "error",
        "importing the factory module of 'train_char_rnn.py:build_network' took longer than 4 s, "
        "at train_char_rnn.py:23 when it was stopped: the module does work when it is imported",
        "train_char_rnn.py:23",
        "load",
    ),
    Row(
        "scripts-at-import",
        "glove",
        "error",
        "the code tried to reach the network (nlp.stanford.edu) importing the factory module of "
        "'fetch_glove.py:build_classifier': gradcheck-ci runs models without network access",
        "fetch_glove.py:11",
        "load",
    ),
    Row("scripts-at-import", "experiment", "pass", notices=("precision@experiment.py:7",)),
    Row(
        "scripts-at-import",
        "sweep",
        "error",
        "ModuleNotFoundError: No module named 'sacred' (importing the factory module of "
        "'sweep.py:build_model'): the check runs with gradcheck-ci's packages (numpy, scipy, "
        "Theano 1.0.5, Lasagne 0.1); install 'sacred' where it runs",
        "sweep.py:5",
        "load",
    ),
    Row(
        "scripts-at-import",
        "sweep-cli",
        "error",
        "the code parses the command line importing the factory module of "
        "'sweep_cli.py:build_model' and exited (2): gradcheck-ci runs it without your script's "
        "arguments",
        "sweep_cli.py:8",
        "load",
    ),
    # truncation that Theano's own gradient cannot evaluate, and truncation that it can (a mismatch)
    Row(
        "truncated-rnn",
        "masked-truncated",
        "error",
        "Theano's compiled gradient of 'masked-truncated' fails when evaluated (ValueError: shapes "
        "(4,3) and (18,4) not aligned: 3 (dim 1) != 18 (dim 0) in Dot22 of Reshape{2}, "
        "Reshape{2}), while its forward pass runs on the same data: the failure is inside the "
        "gradient graph, so training the model (any theano.grad of its loss) crashes the same way. "
        "It depends on RecurrentLayer#0's backpropagation through time truncated to 1 step",
        "rnn.py:10",
        "gradient-graph",
        diagnosis="truncated-bptt",
    ),
    Row(
        "truncated-rnn",
        "rectify-truncated",
        "error",
        "It depends on RecurrentLayer#0's backpropagation through time truncated to 2 steps",
        "rnn.py:19",
        "gradient-graph",
        diagnosis="truncated-bptt",
    ),
    Row(
        "truncated-rnn",
        "tanh-truncated",
        "expected-fail",
        "truncates backpropagation through time to 1 step",
        "rnn.py:19",
        diagnosis="truncated-bptt",
    ),
    # a config with problems: reported before any model runs; the valid model still runs
    Row("config-problems", "mlp", "pass"),
    Row(
        "config-problems",
        "mlp-wide",
        "error",
        "unknown key 'kwarg' in model 'mlp-wide' (did you mean 'kwargs'?)",
        "gradcheck.yml:10",
        "config",
    ),
]

REPOS = sorted({row.repo for row in ROWS})


def test_the_corpus_is_large_and_every_repository_is_used():
    present = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    assert present == set(REPOS), (present - set(REPOS), set(REPOS) - present)
    assert len(present) >= 15


_RUNS: dict[str, tuple[CliRun, dict]] = {}


def run_repository(repo: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[CliRun, dict]:
    """Check a private copy of the repository once per test session; the run and its JSON report."""
    if repo not in _RUNS:
        target = tmp_path_factory.mktemp("real") / repo
        shutil.copytree(CORPUS / repo, target)
        run = run_cli("check", *REPORT_ARGS, cwd=target)
        _RUNS[repo] = (run, assert_reports_valid(target))
    return _RUNS[repo]


def model_of(report: dict, name: str) -> dict:
    [model] = [m for m in report["models"] if m["name"] == name]
    return model


@pytest.mark.slow
@pytest.mark.parametrize("row", ROWS, ids=lambda row: f"{row.repo}/{row.model}")
def test_model(row: Row, tmp_path_factory: pytest.TempPathFactory) -> None:
    run, report = run_repository(row.repo, tmp_path_factory)
    result = model_of(report, row.model)
    assert result["status"] == row.status, (result, run.output)
    if row.status == "error":
        error = result["error"]
        assert row.message in error["message"], error
        assert row.message in " ".join(run.output.split()), run.output
        assert f"{error['file']}:{error['line']}" == row.at, error
        assert error["kind"] == row.kind, error
    elif row.message:  # a gradient mismatch: the diagnosis says why, at the layer's line
        diagnosis = next(d for d in result["diagnoses"] if d["code"] == row.diagnosis)
        assert row.message in diagnosis["message"], diagnosis
        assert f"{diagnosis['file']}:{diagnosis['line']}" == row.at, diagnosis
    if row.status in ("pass", "fail", "expected-fail"):
        assert result["params"] and result["error"] is None
    if row.diagnosis:
        assert row.diagnosis in [d["code"] for d in result["diagnoses"]], result["diagnoses"]
        if row.status == "error":
            [diagnosis] = result["diagnoses"]
            assert (
                f"{diagnosis['file']}:{diagnosis['line']}" == row.at
                and diagnosis["confirmed"] is True
            )
    assert (
        tuple(f"{n['code']}@{n['file']}:{n['line']}" for n in result["notices"]) == row.notices
    ), result["notices"]
    for label, shape in row.shapes.items():
        assert result["data"]["shapes"][label] == shape, result["data"]
    for label, dtype in row.dtypes.items():
        assert result["data"]["dtypes"][label] == dtype, result["data"]


@pytest.mark.slow
@pytest.mark.parametrize("repo", REPOS)
def test_repository(repo: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    run, report = run_repository(repo, tmp_path_factory)
    statuses = [row.status for row in ROWS if row.repo == repo]
    expected = 2 if "error" in statuses else 1 if "fail" in statuses else 0
    assert run.code == expected, run.output
    assert_no_traceback(run)
    assert sorted(m["name"] for m in report["models"]) == sorted(
        row.model for row in ROWS if row.repo == repo
    )
    texts = (
        [run.output]
        + [m["error"]["message"] for m in report["models"] if m["error"]]
        + [d["message"] for m in report["models"] for d in m["diagnoses"]]
        + [n["message"] for m in report["models"] for n in m["notices"]]
    )
    for text in texts:
        assert not re.search(r"array\(\[", text), text  # no array dump
        assert (
            "site-packages" not in text and "gradcheck_ci/" not in text and str(REPO) not in text
        ), text
        assert "/tmp/" not in text and str(Path.home()) + "/" not in text, text


@pytest.mark.slow
def test_config_problems_come_before_the_first_model(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    run, report = run_repository("config-problems", tmp_path_factory)
    lines = run.stdout.splitlines()
    problems = [
        "gradcheck.yml:3:3: unknown key 'sede' in defaults (did you mean 'seed'?)",
        "gradcheck.yml:10:5: unknown key 'kwarg' in model 'mlp-wide' (did you mean 'kwargs'?)",
    ]
    assert lines[:3] == problems + [
        "gradcheck.yml: 2 problem(s): the run ends with exit 2 (the valid models are still checked)"
    ], lines[:4]
    assert lines[3] == (
        "gradcheck-ci: checking 1 of 2 model(s) from gradcheck.yml (1 not run: "
        "problems in their entries)"
    )
    assert (
        "gradcheck-ci: 2 model(s): 1 pass, 0 fail, 0 expected-fail, 1 error, 0 cancelled"
        in run.stdout
    )
    assert lines.index(next(line for line in lines if line.startswith("[mlp]"))) > 3
    validate = run_cli("validate", cwd=run.cwd)  # the same lines, the same form
    assert validate.code == 2 and validate.stderr.splitlines()[:2] == problems
    assert [e["line"] for e in report["config_errors"]] == [3]


@pytest.mark.slow
def test_the_factorys_own_functions_are_compiled_only_when_it_calls_them(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # bio-tagger calls none of its three functions; the other entry calls a fourth in the factory
    # (its toy-batch check passes only if that one really compiled and ran), so the same three are
    # left uncompiled
    run, report = run_repository("argument-mining", tmp_path_factory)
    uncompiled = (
        "the factory compiles 3 Theano functions of its own (argmin/network.py:50, "
        "argmin/network.py:51, argmin/network.py:52) that the check does not use: they "
        "were not compiled"
    )
    for name in ("bio-tagger", "bio-tagger-checked-shapes"):
        [notice] = model_of(report, name)["notices"]
        assert notice["message"].startswith(uncompiled), notice
    assert " ".join(uncompiled.split()[:6]) in run.output  # shown in the text output too
