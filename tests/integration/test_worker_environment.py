"""The model's code runs without the step's secrets: a real worker, whose factory says what it can
see."""

from __future__ import annotations

import json

from tests.harness import run_cli

FACTORY = """import os


def build():
    names = ("GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN", "GITHUB_ENV", "MY_DATA_DIR")
    seen = sorted(name for name in names if name in os.environ)
    raise ValueError("sees " + ",".join(seen))
"""


def seen_by_the_model(tmp_path, *args: str) -> str:
    (tmp_path / "net.py").write_text(FACTORY)
    (tmp_path / "gradcheck.yml").write_text(
        "version: 1\nmodels:\n  - name: net\n    factory: net.py:build\n"
    )
    env = {
        "GITHUB_TOKEN": "ghs_secret",
        "ACTIONS_RUNTIME_TOKEN": "runtime",
        "GITHUB_ENV": str(tmp_path / "env"),
        "MY_DATA_DIR": str(tmp_path),
    }
    run = run_cli(
        "check",
        "--config",
        str(tmp_path / "gradcheck.yml"),
        "--json",
        str(tmp_path / "r.json"),
        *args,
        env=env,
        timeout=300,
    )
    assert run.code == 2, run.output
    message = json.loads((tmp_path / "r.json").read_text())["models"][0]["error"]["message"]
    return message.split("sees ", 1)[1].split(" ", 1)[0]


def test_by_default_the_model_sees_no_token_and_no_runner_file(tmp_path):
    assert seen_by_the_model(tmp_path) == "MY_DATA_DIR"


def test_with_an_allow_list_it_sees_what_is_named(tmp_path):
    assert seen_by_the_model(tmp_path, "--pass-env", "GITHUB_TOKEN") == "GITHUB_TOKEN"


ATEXIT_FACTORY = """import atexit
import os

import lasagne
from lasagne.layers import DenseLayer, InputLayer


def build(log):
    def flush():
        with open(log, "a") as out:
            out.write("flushed\\n")

    atexit.register(flush)  # a logger flushing its buffer as the process ends
    return DenseLayer(InputLayer((None, 3)), 2, nonlinearity=lasagne.nonlinearities.softmax)
"""


def test_the_models_exit_handlers_still_run_when_the_worker_ends_without_its_teardown(tmp_path):
    """The worker ends at once after its result (the interpreter's teardown of Theano's graphs
    takes about a second), but the exit handlers the model registered run first."""
    log = tmp_path / "log.txt"
    (tmp_path / "net.py").write_text(ATEXIT_FACTORY)
    (tmp_path / "gradcheck.yml").write_text(
        "version: 1\ndefaults:\n  data: {sequences: 4, features: 3}\nmodels:\n"
        f"  - name: net\n    factory: net.py:build\n    kwargs: {{log: {str(log)!r}}}\n"
    )
    run = run_cli("check", "--config", str(tmp_path / "gradcheck.yml"), timeout=600)
    assert run.code == 0, run.output
    assert log.read_text() == "flushed\n"
