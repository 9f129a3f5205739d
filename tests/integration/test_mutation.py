"""A small, fast sample of the mutation benchmark (python -m benchmarks.mutation): injected
backward-pass errors at the stated sensitivity (1e-5 in float64, 1e-2 in float32) must be caught at
every seed, and hard correct models must neither fail nor be inconclusive. The full benchmark runs
many seeds and every case; this keeps a sample in CI that would show the guarantee broken."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests import REPO

pytestmark = pytest.mark.slow

CASES = [
    "dense-uniform",
    "cnn-element",
    "rnn-scan",
    "tiny-beside-big",
    "negative-inputs",
    "rnn32-scan",
    "relu-mlp",
    "relu-at-zero",
    "lstm32-100",
]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("mutation") / "mutation.json"
    args = [
        sys.executable,
        "-m",
        "benchmarks.mutation",
        "--seeds",
        "3",
        "--first-seed",
        "100",
        "--sizes",
        "1e-5",
        "--json",
        str(out),
    ]
    for case in CASES:
        args += ["--case", case]
    proc = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def test_no_false_alarm_and_nothing_inconclusive_on_correct_models(sample):
    summary = sample["summary"]
    assert summary["false_alarms"] == 0, summary["correct"]
    assert summary["inconclusive"] == 0, summary["correct"]
    assert sum(c["seeds"] for c in summary["correct"].values()) == 3 * len(CASES)


def test_an_error_of_1e_5_is_caught_at_every_seed_in_float64(sample):
    caught = sample["summary"]["detection"]["float64"]["1e-05"]
    assert caught["seeds"] == 3 * 5 and caught["caught"] == caught["seeds"], caught


def test_an_error_of_1e_2_is_caught_at_every_seed_in_float32(sample):
    caught = sample["summary"]["detection"]["float32"]["0.01"]
    assert caught["seeds"] == 3 and caught["caught"] == 3, caught


def test_relative_sizes_are_what_was_asked(sample):
    # the injected error's size is measured, not assumed: |e|/|g| of the most affected tensor,
    # within 2%
    sizes = [o for r in sample["results"] for o in r["outcomes"] if o["size"]]
    assert sizes and all(abs(o["reached"] / o["size"] - 1) < 0.02 for o in sizes)
