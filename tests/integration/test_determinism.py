"""Determinism: the same config and seed give the same numbers and verdicts, run after run and
across `--shard` splits merged with `gradcheck-ci merge`; the seed is printed so a failure can be
replayed.

The weights come from Lasagne's initialisers, which draw from numpy's global generator: the worker
seeds it (and Lasagne's and Python's) from the model's `seed` before calling the factory.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.harness import assert_no_traceback, run_cli

MODELS = '''
import lasagne
from lasagne.layers import DenseLayer, InputLayer


def mlp(num_units=4):
    l_in = InputLayer((None, 3))
    l_hid = DenseLayer(l_in, num_units, nonlinearity=lasagne.nonlinearities.tanh)
    return DenseLayer(l_hid, 2, nonlinearity=lasagne.nonlinearities.softmax)


def wide():
    """More than 64 parameters: `auto` checks it along random directions (seeded too)."""
    l_in = InputLayer((None, 5))
    return DenseLayer(l_in, 20, nonlinearity=lasagne.nonlinearities.sigmoid)
'''
CONFIG = """
version: 1
defaults:
  seed: 11
  data: {sequences: 5, features: 3}
models:
  - name: mlp
    factory: models/nets.py:mlp
  - name: mlp-seed-12
    factory: models/nets.py:mlp
    seed: 12
  - name: wide
    factory: models/nets.py:wide
    data: {features: 5}
"""
NUMBERS = (
    "id",
    "shape",
    "status",
    "max_abs_err",
    "max_rel_err",
    "tolerance",
    "worst_index",
    "method",
    "analytic",
    "numeric",
    "evaluations",
)


def fingerprint(report: dict) -> dict[str, tuple]:
    """Everything about a run that must not change between runs: verdicts and every number."""
    out = {}
    for m in report["models"]:
        params = tuple(tuple(p[k] for k in NUMBERS) for p in m["params"])
        out[m["name"]] = (
            m["status"],
            m["seed"],
            m["precision"],
            m["mode"],
            m["evaluations"],
            m["loss_value"],
            params,
        )
    return out


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("determinism")
    (root / "models").mkdir()
    (root / "models" / "nets.py").write_text(textwrap.dedent(MODELS))
    (root / "gradcheck.yml").write_text(textwrap.dedent(CONFIG).lstrip())
    return root


@pytest.mark.slow
def test_same_seed_same_numbers_across_runs_and_shards(repo: Path) -> None:
    first = run_cli("check", "--json", "first.json", cwd=repo)
    assert first.code == 0, first.output
    assert_no_traceback(first)
    second = run_cli("check", "--json", "second.json", cwd=repo)
    assert second.code == 0, second.output

    # the seed of every model is printed, to replay a failure locally
    for name, seed in (("mlp", 11), ("mlp-seed-12", 12), ("wide", 11)):
        assert f"[{name}] seed={seed} " in first.stdout
        assert f"PASS {name} " in first.stdout and f"seed={seed}" in first.stdout

    a, b = fingerprint(first.json("first.json")), fingerprint(second.json("second.json"))
    assert a == b
    assert set(a) == {"mlp", "mlp-seed-12", "wide"}
    assert a["wide"][3] == "directional"
    assert a["mlp"][-1] != a["mlp-seed-12"][-1], (
        "another seed must give other weights, data and numbers"
    )

    one = run_cli("check", "--shard", "1/2", "--json", "shard1.json", cwd=repo)
    two = run_cli("check", "--shard", "2/2", "--json", "shard2.json", cwd=repo)
    assert one.code == two.code == 0, one.output + two.output
    assert [m["name"] for m in one.json("shard1.json")["models"]] == ["mlp", "wide"]
    assert [m["name"] for m in two.json("shard2.json")["models"]] == ["mlp-seed-12"]
    merged = run_cli("merge", "shard1.json", "shard2.json", "--json", "merged.json", cwd=repo)
    assert merged.code == 0, merged.output
    assert "merged 2 report(s), 3 model(s): pass" in merged.stdout
    report = merged.json("merged.json")
    assert [m["name"] for m in report["models"]] == ["mlp", "mlp-seed-12", "wide"]  # config order
    assert fingerprint(report) == a


def test_merge_refuses_overlapping_reports(repo: Path, tmp_path: Path) -> None:
    """Two shards of one run that both report a model (a report edited, or copied under another
    shard's name)."""
    import json

    for index in (1, 2):
        report = {
            "schema": "gradcheck-ci/report/v1",
            "status": "pass",
            "config_file": "gradcheck.yml",
            "version": "0.1.0",
            "shard": f"{index}/2",
            "plan": {"config_sha256": "ab" * 32, "models": ["mlp"]},
            "models": [
                {
                    "name": "mlp",
                    "factory": "models/nets.py:mlp",
                    "status": "pass",
                    "seed": 11,
                    "precision": "float64",
                    "mode": "full",
                    "config_line": 6,
                }
            ],
        }
        (tmp_path / f"{index}.json").write_text(json.dumps(report))
    run = run_cli(
        "merge",
        str(tmp_path / "1.json"),
        str(tmp_path / "2.json"),
        "--json",
        str(tmp_path / "m.json"),
        cwd=tmp_path,
    )
    assert run.code == 2
    assert "the reports overlap: mlp checked more than once" in run.stderr
    assert not (tmp_path / "m.json").exists()
