"""What a CI environment or a repository's layout may hold must not cost a model its verdict: files
at the repository root named like standard modules, Python's strict warnings settings, a console
that cannot encode a layer's name, docstrings stripped, and a factory that prints without end."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests import REPO
from tests.harness import assert_no_traceback, run_cli

NET = """import lasagne
from lasagne.layers import DenseLayer, InputLayer

from vocabulary import SIZE


def build():
    l_in = InputLayer((None, SIZE))
    l_hid = DenseLayer(l_in, 3, name="r\\u00e9seau")
    return DenseLayer(l_hid, 2, nonlinearity=lasagne.nonlinearities.softmax)


def noisy():
    for i in range(2500):
        print("batch", i)
    return build()
"""
# standard modules gradcheck-ci, numpy or Theano import; a repository may well have files so named
SHADOWS = ("json", "tempfile", "tokenize", "queue", "platform", "numbers")


def repository(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.py").write_text(NET, encoding="utf-8")
    # a module at the root that the model imports (the root is on sys.path for the model's code)
    (tmp_path / "vocabulary.py").write_text("SIZE = 4\n")
    for name in SHADOWS:
        (tmp_path / f"{name}.py").write_text(f'"""The project\'s own {name} helpers."""\n')
    (tmp_path / "gradcheck.yml").write_text(
        "version: 1\nmodels:\n  - name: net\n    factory: models/net.py:build\n"
        "  - name: noisy\n    factory: models/net.py:noisy\n"
    )
    return tmp_path


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"PYTHONWARNINGS": "error", "PYTHONDEVMODE": "1"},
        {"PYTHONIOENCODING": "ascii"},
        {"PYTHONOPTIMIZE": "2"},
        # the repository first on the path of every process (its json.py, platform.py ...)
        {"PYTHONPATH": os.pathsep.join([".", str(REPO)])},
    ],
    ids=["plain", "warnings-are-errors", "ascii-console", "docstrings-stripped", "pythonpath-dot"],
)
def test_the_models_are_checked_whatever_the_environment_and_the_root_holds(tmp_path, env):
    root = repository(tmp_path)
    run = run_cli("check", cwd=root, env=env, timeout=900)
    assert_no_traceback(run)
    assert run.code == 0, run.output
    assert "internal error" not in run.output
    assert "2 pass" in run.output
    # the layer's name reaches the console, escaped where the console cannot encode it
    shown = "r\\xe9seau" if env.get("PYTHONIOENCODING") == "ascii" else "réseau"
    assert f"DenseLayer#0 ({shown})" in run.output or shown in run.output, run.output


def test_a_factory_that_prints_without_end_shows_its_first_lines_and_a_count(tmp_path):
    root = repository(tmp_path)
    run = run_cli("check", "--model", "noisy", cwd=root, timeout=900)
    assert run.code == 0, run.output
    assert "batch 1999" in run.output and "batch 2000" not in run.output
    assert "... (500 more lines of the model's output not shown)" in run.output


def test_a_copy_of_lasagne_in_the_repository_is_not_what_checks_it_and_a_notice_says_so(tmp_path):
    root = repository(tmp_path)
    (root / "lasagne").mkdir()
    # a vendored copy (or a fork) that the check must not build the model with
    (root / "lasagne" / "__init__.py").write_text("raise ImportError('the copy was imported')\n")
    run = run_cli("check", "--model", "net", "--json", "report.json", cwd=root, timeout=900)
    assert run.code == 0, run.output
    [model] = json.loads((root / "report.json").read_text())["models"]
    [notice] = [n for n in model["notices"] if n["code"] == "repository-lasagne"]
    assert (notice["file"], notice["line"]) == ("lasagne/__init__.py", 1)
    assert "builds the model with Lasagne 0.1" in notice["message"]
