"""The first run on a cache nobody compiled into (platform/ccode.py, process/background.py): the
verdict comes from Theano's Python code without waiting for g++, C is compiled in the background
when it pays, and the next run evaluates with C and reaches the same verdict.

Each test has a fresh cache directory of its own (Theano's compile directory and the function cache
empty), so the C compile here is a real cold one: minutes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests import REPO
from tests.harness import CliRun, assert_no_traceback, run_cli

pytestmark = pytest.mark.slow

TRUNCATED = REPO / "tests" / "fixtures" / "real" / "truncated-rnn" / "gradcheck.yml"
CUSTOM_LSTM = REPO / "tests" / "fixtures" / "first-run" / "custom-lstm" / "gradcheck.yml"
C_ONLY_OP = REPO / "tests" / "fixtures" / "first-run" / "c-only-op" / "gradcheck.yml"
CONV_NET = REPO / "tests" / "fixtures" / "first-run" / "conv-net" / "gradcheck.yml"


def fresh_env(cache: Path, **extra: str) -> dict[str, str]:
    """A check with its own empty cache directory, choosing C or Python itself (auto)."""
    return {
        "GRADCHECK_CI_CACHE_DIR": str(cache),
        "GRADCHECK_CI_COMPILE": "auto",
        "THEANO_FLAGS": "",
        **extra,
    }


def usual_theano_cache_env(tmp_path: Path) -> dict[str, str]:
    """fresh_env, but with Theano's usual compile cache (its helper modules compiled) and an empty
    function cache: for a test about the choice of C or Python, not about a cold g++."""
    from gradcheck_ci.platform import cachedir

    usual = cachedir.theano_cache_dir(
        {k: v for k, v in os.environ.items() if k != cachedir.CACHE_DIR_ENV}
    )
    return fresh_env(tmp_path / "cache", THEANO_FLAGS=f"base_compiledir={usual}")


def one_model_repo(tmp_path: Path, file: str, source: str, name: str, function: str) -> Path:
    """A repository of one file whose `function` is the one model, `name`, of its gradcheck.yml."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / file).write_text(source, encoding="utf-8")
    (repo / "gradcheck.yml").write_text(
        f"version: 1\nmodels:\n  - name: {name}\n    factory: {file}:{function}\n",
        encoding="utf-8",
    )
    return repo


def check(config: Path, model: str, env: dict[str, str], report: Path) -> tuple[CliRun, dict]:
    run = run_cli("check", "--config", str(config), "--model", model, env=env, json_path=report)
    assert_no_traceback(run)
    return run, run.model(model)


def verdict(result: dict) -> tuple:
    """What the verdict is: the status, each tensor's status, and the diagnosed causes."""
    return (
        result["status"],
        [(p["id"], p["status"]) for p in result["params"]],
        sorted(d["code"] for d in result["diagnoses"]),
    )


def wait_for_background(run: CliRun, cache: Path, limit: float = 1800.0) -> None:
    """Wait for the background compile the run started (its pid is in the run's output); ended
    here (by that pid) if it outlives `limit`."""
    match = re.search(r"compiling C in the background \(process (\d+)\)", run.output)
    assert match, run.output
    pid = int(match.group(1))
    markers = list(cache.glob(f"functions/*/c-ready/.compiling-{pid}"))
    assert markers, "the background compile has no marker for the next run to see"
    deadline = time.monotonic() + limit
    while any(marker.exists() for marker in markers):
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)  # it leads a session (and group) of its own
            pytest.fail(f"the background C compile did not end within {limit:.0f} s")
        time.sleep(2)


def test_a_cold_cache_gets_the_same_verdict_without_c_and_c_for_the_next_run(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    env = fresh_env(cache, GRADCHECK_CI_C_PAYS_AFTER="0")  # compile C whatever the model's size
    first, cold = check(TRUNCATED, "tanh-truncated", env, tmp_path / "first.json")
    assert cold["extra"]["evaluation"] == {
        "code": "python",
        "why": "no C code was compiled for this model yet",
        "compile_later": True,
    }
    assert "evaluating with Theano's Python code, no g++" in first.output
    notice = next(n for n in cold["notices"] if n["code"] == "python-evaluation")
    assert notice["message"].endswith(
        "C is being compiled in the background after this run, for the next"
    )
    # no C was needed for the verdict: not Theano's helper modules, not the model's
    assert not list(cache.glob("theano/*/*/lazylinker_ext"))
    assert not list(cache.glob("theano/*/*/tmp*/mod.cpp"))
    wait_for_background(first, cache)

    second, warm = check(TRUNCATED, "tanh-truncated", env, tmp_path / "second.json")
    assert warm["extra"]["evaluation"]["code"] == "c", second.output
    assert warm["extra"]["compile"]["cache"] == "hit"  # the background compile's functions
    assert not any(n["code"] == "python-evaluation" for n in warm["notices"])
    assert "compiling C in the background" not in second.output
    assert verdict(warm) == verdict(cold)
    assert cold["status"] == "expected-fail" and "truncated-bptt" in verdict(cold)[2]
    # C and Python functions never stand in for each other: both runs' entries are kept, apart
    (record,) = cache.glob("functions/*/c-ready/*.json")
    keys = json.loads(record.read_text())["keys"]
    python_stored = (
        cold["extra"]["compile"]["stored"] + cold["extra"]["diagnosis_compile"]["stored"]
    )
    assert len(list(cache.glob("functions/*/*.fn"))) == python_stored + len(keys)


BROKEN_C = """import numpy as np
import theano
import theano.tensor as T
import lasagne


class Doubled(theano.Op):
    # Python code that works, C code that does not compile: what the background compile meets
    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = 2 * inputs[0]

    def grad(self, inputs, output_grads):
        return [2 * output_grads[0]]

    def c_code(self, node, name, inputs, outputs, sub):
        return "this is not C;"


class DoubledLayer(lasagne.layers.Layer):
    def get_output_for(self, input, **kwargs):
        return Doubled()(input)


def build():
    l_hid = lasagne.layers.DenseLayer(lasagne.layers.InputLayer((None, 3)), 2)
    return DoubledLayer(l_hid)
"""


def test_a_background_compile_that_fails_is_not_tried_again_on_every_run(tmp_path: Path) -> None:
    """The C compile after a Python run failed silently, and every run started it again."""
    repo = one_model_repo(tmp_path, "net.py", BROKEN_C, "doubled", "build")
    env = {**usual_theano_cache_env(tmp_path), "GRADCHECK_CI_C_PAYS_AFTER": "0"}
    first, cold = check(repo / "gradcheck.yml", "doubled", env, tmp_path / "first.json")
    assert cold["status"] == "pass", first.output
    wait_for_background(first, tmp_path / "cache")
    second, again = check(repo / "gradcheck.yml", "doubled", env, tmp_path / "second.json")
    assert again["status"] == "pass" and again["extra"]["evaluation"]["code"] == "python"
    assert again["extra"]["evaluation"]["why"].startswith(
        "its C compile after an earlier run failed ("
    )
    assert "compiling C in the background" not in second.output
    notice = next(n for n in again["notices"] if n["code"] == "python-evaluation")
    assert notice["message"].endswith("C is not compiled again until the model's files change")


def test_a_model_for_which_c_does_not_pay_stays_with_python(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = fresh_env(cache)  # the default threshold: this small LSTM evaluates in well under it
    first, cold = check(CUSTOM_LSTM, "clipped-lstm", env, tmp_path / "first.json")
    assert cold["status"] == "pass", first.output
    assert cold["extra"]["evaluation"]["code"] == "python"
    assert cold["extra"]["evaluation"]["compile_later"] is False
    assert "it would save less than it costs" in first.output
    assert "compiling C in the background" not in first.output
    assert not list(cache.glob("functions/*/c-ready/.compiling-*"))
    # the next run loads the Python functions the first one kept, and still compiles no C
    second, warm = check(CUSTOM_LSTM, "clipped-lstm", env, tmp_path / "second.json")
    assert warm["extra"]["evaluation"]["code"] == "python"
    assert warm["extra"]["compile"]["cache"] == "hit"
    assert verdict(warm) == verdict(cold)
    assert not list(cache.glob("theano/*/*/tmp*/mod.cpp"))


def test_a_model_that_fails_before_theano_runs_is_not_checked_again_with_c(tmp_path: Path) -> None:
    """A module that cannot be imported (its data file is not committed) fails the same with C:
    the error is reported once, without a second worker."""
    repo = one_model_repo(
        tmp_path,
        "mlp.py",
        "import numpy as np\n"
        "import lasagne\n\n"
        "X_train = np.load('data/train.npy')\n\n\n"
        "def build_mlp():\n"
        "    l_in = lasagne.layers.InputLayer((None, X_train.shape[1]))\n"
        "    return lasagne.layers.DenseLayer(l_in, 2)\n",
        "mlp",
        "build_mlp",
    )
    env = usual_theano_cache_env(tmp_path)
    run, result = check(repo / "gradcheck.yml", "mlp", env, tmp_path / "report.json")
    assert run.code == 2 and result["status"] == "error", run.output
    assert "evaluating with Theano's Python code" in run.output  # the check that failed
    assert "checking again with C" not in run.output
    assert result["error"]["file"] == "mlp.py" and result["error"]["line"] == 4
    assert "FileNotFoundError" in result["error"]["message"]
    assert "same_with_c" not in result["extra"]


def test_a_module_that_trains_when_imported_is_stopped_once_not_again_with_c(
    tmp_path: Path,
) -> None:
    """A module that trains with a Theano function when imported (no __main__ guard) is stopped at
    its import limit inside Theano's code; C would only wait the whole limit again for the same
    advice, so no second worker runs."""
    repo = one_model_repo(
        tmp_path,
        "train.py",
        "import numpy as np\n"
        "import theano\n"
        "import theano.tensor as T\n"
        "import lasagne\n\n\n"
        "def build():\n"
        "    return lasagne.layers.DenseLayer(lasagne.layers.InputLayer((None, 2)), 2)\n\n\n"
        "x = T.matrix('x')\n"
        "step = theano.function([x], T.dot(x, x).sum())\n"
        "batch = np.ones((300, 300))\n"
        "while True:\n"
        "    step(batch)\n",
        "trains",
        "build",
    )
    with open(repo / "gradcheck.yml", "a", encoding="utf-8") as config:
        config.write("    timeout: 8\n")  # an import limit of 4 s
    env = usual_theano_cache_env(tmp_path)
    run, result = check(repo / "gradcheck.yml", "trains", env, tmp_path / "report.json")
    assert run.code == 2 and result["status"] == "error", run.output
    assert "took longer than 4 s" in result["error"]["message"]
    assert "evaluating with Theano's Python code" in run.output  # the check that was stopped
    assert "checking again with C" not in run.output


def test_a_shape_mismatch_in_the_graph_is_not_checked_again_with_c(tmp_path: Path) -> None:
    """An input whose shape the network does not fit fails in Theano's Python code as it would in
    C: reported once, without a second worker and its compile."""
    repo = one_model_repo(
        tmp_path,
        "net.py",
        "import lasagne\n\n\ndef build(l):\n    return lasagne.layers.DenseLayer(l, 2)\n",
        "flat",
        "build",
    )
    with open(repo / "gradcheck.yml", "a", encoding="utf-8") as config:
        config.write("    inputs:\n      l: {shape: [3]}\n")  # no batch axis: W is 1x2
    env = usual_theano_cache_env(tmp_path)
    run, result = check(repo / "gradcheck.yml", "flat", env, tmp_path / "report.json")
    assert run.code == 2 and result["status"] == "error", run.output
    # the shape gradcheck.yml gives is what does not fit: said at its line, without Theano's node
    assert result["error"]["message"] == (
        "inputs.l.shape [3] does not fit the model: it multiplies W.T (2x1) by the input l (3), "
        "which needs 1 row, not 3"
    )
    assert (result["error"]["file"], result["error"]["kind"]) == ("gradcheck.yml", "config")
    assert "evaluating with Theano's Python code" in run.output
    assert "checking again with C" not in run.output


def test_a_factory_that_ends_its_process_is_located_and_not_checked_again_with_c(
    tmp_path: Path,
) -> None:
    """os._exit in a factory leaves no result: the error names the line that called it, and a
    worker with C would end the same way, so none is started."""
    repo = one_model_repo(
        tmp_path,
        "net.py",
        "import os\n\nimport lasagne\n\n\n"
        "def build(quit_early=True):\n"
        "    if quit_early:\n"
        "        os._exit(3)\n"
        "    return lasagne.layers.DenseLayer(lasagne.layers.InputLayer((None, 2)), 2)\n",
        "quits",
        "build",
    )
    env = usual_theano_cache_env(tmp_path)
    run, result = check(repo / "gradcheck.yml", "quits", env, tmp_path / "report.json")
    assert run.code == 2 and result["error"]["kind"] == "crash", run.output
    assert "checking again with C" not in run.output
    assert (result["error"]["file"], result["error"]["line"]) == ("net.py", 8)
    assert (
        "exited with code 3 while calling the factory, in build() at net.py:8"
        in (result["error"]["message"])
    )


def test_an_op_with_c_code_only_is_checked_again_with_c(tmp_path: Path) -> None:
    env = usual_theano_cache_env(tmp_path)
    run, result = check(C_ONLY_OP, "softsign-mlp", env, tmp_path / "report.json")
    assert "the check without C ended in an error: checking again with C" in run.output
    assert result["status"] == "pass", run.output
    assert result["extra"]["evaluation"]["code"] == "c"
    assert "MethodNotDefined" in result["extra"]["evaluation"]["why"]
    notice = next(n for n in result["notices"] if n["code"] == "python-evaluation")
    assert notice["message"].endswith("whose verdict this is; later runs use C from the start")
    # and they do: its C functions are recorded
    again, result = check(C_ONLY_OP, "softsign-mlp", env, tmp_path / "again.json")
    assert result["extra"]["evaluation"] == {
        "code": "c",
        "why": "its C functions are in the function cache",
    }


def test_a_convolution_without_python_code_is_checked_with_c_without_theanos_traceback(
    tmp_path: Path,
) -> None:
    """Without C, Theano 1.0.5 stops a padded convolution's compile with an optimizer traceback
    about BLAS and cuDNN (and an unpadded one needs scipy.signal names scipy 1.10 moved): the check
    without C stops before compiling, with words of its own, and C checks the model."""
    env = usual_theano_cache_env(tmp_path)
    run, result = check(CONV_NET, "small-convnet", env, tmp_path / "report.json")
    assert "checking again with C" in run.output
    assert result["status"] == "pass", run.output
    assert "BLAS" not in run.output and "scipy" not in run.output
    notice = next(n for n in result["notices"] if n["code"] == "python-evaluation")
    assert "Theano's Python code cannot evaluate AbstractConv2d, a convolution" in notice["message"]
    # forced to Python, the same words are the model's error, before any compile
    forced = dict(env, GRADCHECK_CI_COMPILE="python")
    run, result = check(CONV_NET, "small-convnet", forced, tmp_path / "python.json")
    assert run.code == 2 and result["status"] == "error"
    assert result["error"]["message"].startswith(
        "Theano's Python code cannot evaluate AbstractConv2d, a convolution, on this stack"
    )
    assert (result["error"]["file"], result["error"]["line"]) == ("gradcheck.yml", 5)
