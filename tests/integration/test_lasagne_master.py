"""Lasagne master models (tests/fixtures/master/) named as they are written, beside Lasagne 0.1
models in the same run: batch_norm, TransposedConv2DLayer, only_return_final and a guarded
`lasagne.layers.dnn` import go to the master stack under `lasagne: auto` with a notice saying so,
and get the same check, diagnosis (truncated backpropagation, gradient clipping with master's
meaning of grad_clipping=0), function cache and reports as 0.1 models; a model pinned to 0.1 says
which key keeps it there."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gradcheck_ci.core.installation import with_package_on_path
from gradcheck_ci.platform import lasagne_stacks
from tests import FIXTURES
from tests.harness import (
    REPORT_ARGS,
    CliRun,
    assert_no_traceback,
    assert_reports_valid,
    cli_env,
    run_cli,
)
from tests.master_stack import require_master

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    require_master()
    repo = tmp_path_factory.mktemp("master") / "repo"
    shutil.copytree(FIXTURES / "master", repo, ignore=shutil.ignore_patterns("__pycache__"))
    run = run_cli("check", *REPORT_ARGS, "--html", "report.html", cwd=repo)
    run.report = assert_reports_valid(repo)
    return run


def notices(model: dict) -> list[tuple[str, str, int]]:
    return [(n["code"], n["file"], n["line"]) for n in model["notices"]]


def test_one_run_mixes_models_of_both_stacks(mixed_run: CliRun):
    # the master model kept on 0.1 is an error; the rest ran
    assert mixed_run.code == 2, mixed_run.output
    assert_no_traceback(mixed_run)
    stacks_run = {m["name"]: (m["status"], m["lasagne"]) for m in mixed_run.report["models"]}
    assert stacks_run == {
        "generator": ("pass", "master"),
        "lstm-truncated": ("fail", "master"),
        "gru-clipped": ("fail", "master"),
        "rnn-clip0-release": ("fail", "0.1"),
        "rnn-clip0-master": ("pass", "master"),
        "lstm-kept-on-release": ("error", "0.1"),
    }


def test_auto_moves_master_code_to_master_and_says_where_it_needed_it(mixed_run: CliRun):
    # batch_norm, TransposedConv2DLayer, a guarded cuDNN import
    generator = mixed_run.model("generator")
    assert notices(generator)[0] == ("lasagne-stack", "models/dcgan.py", 4)
    assert generator["notices"][0]["message"].startswith(
        "checked on Lasagne master (0.2.dev1 at commit 5d3c63cb315c), not Lasagne 0.1: the code "
        "uses lasagne.layers.TransposedConv2DLayer, which Lasagne 0.1 does not have"
    )
    assert {p["id"].split(".")[0] for p in generator["params"]} >= {
        "BatchNormLayer#0",
        "TransposedConv2DLayer#0",
    }
    lstm = mixed_run.model("lstm-truncated")
    assert notices(lstm) == [("lasagne-stack", "models/rnn.py", 9)]
    assert "LSTMLayer(..., only_return_final=...)" in lstm["notices"][0]["message"]
    assert not [
        n for n in mixed_run.model("rnn-clip0-master")["notices"] if n["code"] == "lasagne-stack"
    ]


def test_truncated_backpropagation_is_diagnosed_on_master(mixed_run: CliRun):
    lstm = mixed_run.model("lstm-truncated")
    assert [(d["code"], d["file"], d["line"], d["confirmed"]) for d in lstm["diagnoses"]] == [
        ("truncated-bptt", "models/rnn.py", 9, True)
    ]
    assert "gradient_steps=1" in lstm["diagnoses"][0]["message"]


def test_gradient_clipping_is_judged_on_the_stack_the_model_ran_on(mixed_run: CliRun):
    """grad_clipping=0 zeroes the gradient on 0.1 and is off on master: the same factory fails on
    one and passes on the other; a tight clip on master is found, confirmed and named with its
    stack."""
    release = mixed_run.model("rnn-clip0-release")
    assert [d["code"] for d in release["diagnoses"]] == ["gradient-clipping"]
    assert "which Lasagne 0.1 treats as a clip to [0, 0]" in release["diagnoses"][0]["message"]
    assert "`lasagne: master`" in release["diagnoses"][0]["fix"]
    assert mixed_run.model("rnn-clip0-master")["diagnoses"] == []
    gru = mixed_run.model("gru-clipped")
    assert [(d["code"], d["confirmed"]) for d in gru["diagnoses"]] == [("gradient-clipping", True)]
    assert "(grad_clipping=0.0001, on Lasagne master)" in gru["diagnoses"][0]["message"]


def test_a_model_pinned_to_0_1_says_which_key_keeps_it_there(mixed_run: CliRun):
    error = mixed_run.model("lstm-kept-on-release")["error"]
    assert (error["file"], error["line"]) == ("models/rnn.py", 9)
    assert error["message"].startswith(
        "LSTMLayer(..., only_return_final=...) is Lasagne master's API"
    )
    assert error["message"].endswith(
        'the model\'s `lasagne: "0.1"` (line 23 of gradcheck.yml) '
        "keeps it on Lasagne 0.1: `lasagne: master` checks it on "
        "master"
    )


def test_every_report_names_the_stack(mixed_run: CliRun):
    assert "PASS generator  float64 directional  Lasagne master  " in mixed_run.stdout
    assert "FAIL rnn-clip0-release  float64 directional  Lasagne 0.1  " in mixed_run.stdout
    assert "Lasagne master" in (mixed_run.cwd / "report.html").read_text(encoding="utf-8")
    assert "lasagne=master" in (mixed_run.cwd / "junit.xml").read_text(encoding="utf-8")


def test_the_function_cache_serves_master_models_and_keys_them_apart_from_0_1(mixed_run: CliRun):
    again = run_cli(
        "check",
        "--model",
        "rnn-clip0-master",
        cwd=mixed_run.cwd,
        json_path=mixed_run.cwd / "again.json",
    )
    assert again.code == 0, again.output
    assert again.model("rnn-clip0-master")["extra"]["compile"]["cache"] == "hit"
    # a function cache entry is keyed on the Lasagne the worker imports (graphkey.versions):
    # master's in a master worker
    probe = "from gradcheck_ci.platform import graphkey; print(graphkey.versions()['Lasagne'])"
    versions = []
    for stack in (lasagne_stacks.RELEASE, lasagne_stacks.MASTER):
        env = with_package_on_path(lasagne_stacks.worker_env(stack, cli_env()))
        versions.append(
            subprocess.run(
                [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
            ).stdout.strip()
        )
    assert versions == ["0.1", "0.2.dev1"]


def test_a_model_asking_for_master_where_there_is_none_is_a_config_error(tmp_path: Path):
    shutil.copytree(
        FIXTURES / "master", tmp_path / "repo", ignore=shutil.ignore_patterns("__pycache__")
    )
    run = run_cli(
        "check",
        "--model",
        "rnn-clip0-master",
        cwd=tmp_path / "repo",
        json_path=tmp_path / "r.json",
        env={lasagne_stacks.MASTER_ENV: str(tmp_path / "no-master")},
    )
    assert run.code == 2, run.output
    error = run.model("rnn-clip0-master")["error"]
    assert (error["file"], error["line"], error["kind"]) == ("gradcheck.yml", 20, "config")
    assert error["message"].startswith(
        "model 'rnn-clip0-master' asks for `lasagne: master`, but Lasagne master is not installed"
    )
    assert str(tmp_path) not in error["message"]  # no path of this machine in a message


def test_init_builds_master_factories_on_master_and_says_so(tmp_path: Path):
    """`init` tries what fails on 0.1 for a master API again on master, as `lasagne: auto` would,
    and writes `lasagne: master` in those entries; the file validates."""
    require_master()
    repo = tmp_path / "repo"
    shutil.copytree(
        FIXTURES / "master", repo, ignore=shutil.ignore_patterns("__pycache__", "gradcheck.yml")
    )
    made = run_cli("init", cwd=repo)
    assert made.code == 0, made.output
    assert_no_traceback(made)
    assert run_cli("validate", cwd=repo).code == 0
    entries = {
        m["factory"]: m.get("lasagne")
        for m in yaml.safe_load((repo / "gradcheck.yml").read_text(encoding="utf-8"))["models"]
    }
    assert entries == {
        "models/dcgan.py:build_generator": "master",
        "models/dcgan.py:build_discriminator": "master",
        "models/rnn.py:build_lstm_classifier": "master",
        "models/rnn.py:build_gru_classifier": "master",
        "models/rnn.py:build_rnn": None,
    }
    text = (repo / "gradcheck.yml").read_text(encoding="utf-8")
    assert (
        "lasagne: master  # its code uses lasagne.layers.TransposedConv2DLayer at models/dcgan.py:4"
        in text
    )


def test_a_name_neither_stack_has_is_reported_from_master_without_blaming_0_1(tmp_path: Path):
    """A misspelt layer fails on 0.1 like a master API would; on master it is what it is, a missing
    name, and the notice says why the model went there."""
    require_master()
    (tmp_path / "net.py").write_text(
        "import lasagne\n"
        "from lasagne.layers import DenseLayer, InputLayer\n\n\n"
        "def build_model():\n"
        "    l_in = InputLayer((None, 3))\n"
        "    l_hid = lasagne.layers.BatchNormLayr(DenseLayer(l_in, 4))\n"
        "    return DenseLayer(l_hid, 2, nonlinearity=lasagne.nonlinearities.softmax)\n"
    )
    (tmp_path / "gradcheck.yml").write_text(
        "version: 1\nmodels:\n  - name: typo\n    factory: net.py:build_model\n"
    )
    run = run_cli("check", cwd=tmp_path, json_path=tmp_path / "r.json")
    assert run.code == 2, run.output
    model = run.model("typo")
    assert (model["lasagne"], model["error"]["file"], model["error"]["line"]) == (
        "master",
        "net.py",
        7,
    )
    assert (
        "BatchNormLayr" in model["error"]["message"]
        and "Lasagne 0.1" not in model["error"]["message"]
    )
    assert notices(model) == [("lasagne-stack", "net.py", 7)]


NEITHER_AND_TIED = """import lasagne
from lasagne.layers import DenseLayer, InputLayer


def typo():
    l_in = InputLayer((None, 4))
    return lasagne.layers.ElemSumLayer([DenseLayer(l_in, 3), DenseLayer(l_in, 3)])


def tied_autoencoder():
    l_in = InputLayer((None, 4))
    l_code = DenseLayer(l_in, 3)
    return DenseLayer(l_code, 4, W=l_code.W.T, nonlinearity=None)
"""


def test_a_name_neither_stack_has_is_no_master_api_and_tied_weights_go_to_master(tmp_path):
    require_master()
    (tmp_path / "net.py").write_text(NEITHER_AND_TIED)
    (tmp_path / "gradcheck.yml").write_text(
        "version: 1\ndefaults: {loss: squared_error}\nmodels:\n"
        "  - {name: typo, factory: net.py:typo}\n"
        "  - {name: tied, factory: net.py:tied_autoencoder}\n"
    )
    run = run_cli("check", *REPORT_ARGS, cwd=tmp_path)
    assert_no_traceback(run)
    models = {m["name"]: m for m in assert_reports_valid(tmp_path)["models"]}
    # a typo: reported from master (its error names it), the notice says neither stack has it,
    # and no message names a path of the installation
    typo = models["typo"]
    assert (typo["status"], typo["lasagne"]) == ("error", "master")
    assert (typo["error"]["file"], typo["error"]["line"]) == ("net.py", 7)
    [notice] = [n for n in typo["notices"] if n["code"] == "lasagne-stack"]
    assert (
        "after Lasagne 0.1, which has no lasagne.layers.ElemSumLayer; master has none"
        in (notice["message"])
    )
    assert "lasagne-master" not in run.output and str(tmp_path.parent) not in run.output
    # W=l_code.W.T: Lasagne 0.1 refuses an expression as a parameter, master takes it
    tied = models["tied"]
    assert (tied["status"], tied["lasagne"]) == ("pass", "master"), tied
    [moved] = [n for n in tied["notices"] if n["code"] == "lasagne-stack"]
    assert "a Theano expression as a layer's parameter (tied weights" in moved["message"]
