"""`gradcheck-ci init` on repositories without a gradcheck.yml: the bundled examples (their own file
removed) get a file that validates and checks with the verdicts of the hand-written one, and a
repository in the shapes real code takes gets an entry for what builds and a reason for everything
else."""

from __future__ import annotations

import shutil

import pytest
import yaml

from gradcheck_ci.init.discover import discover
from tests import FIXTURES, REPO
from tests.harness import assert_no_traceback, run_cli


def copy_without_config(source, tmp_path):
    target = tmp_path / source.name
    shutil.copytree(source, target)
    hand_written = target / "gradcheck.yml"
    kept = tmp_path / f"{source.name}.hand-written.yml"
    if hand_written.exists():
        hand_written.rename(kept)
    return target, kept


def verdicts(run) -> dict[str, str]:
    assert run.report is not None, run.output
    return {m["name"]: m["status"] for m in run.report["models"]}


@pytest.mark.slow
@pytest.mark.parametrize("example", ["seed-rnn", "lstm-tagger"])
def test_init_on_an_example_checks_like_the_hand_written_file(example, tmp_path):
    repo, hand_written = copy_without_config(REPO / "examples" / example, tmp_path)
    made = run_cli("init", cwd=repo)
    assert made.code == 0, made.output
    assert_no_traceback(made)
    assert run_cli("validate", cwd=repo).code == 0
    proposed = yaml.safe_load((repo / "gradcheck.yml").read_text(encoding="utf-8"))["models"]
    written = yaml.safe_load(hand_written.read_text(encoding="utf-8"))["models"]
    # Every factory the hand-written file names, init found and built.
    assert {m["factory"] for m in written} <= {m["factory"] for m in proposed}

    # init calls each factory with its defaults: it corresponds to the hand-written entries whose
    # kwargs are the defaults (seed-rnn-full-bptt; not seed-rnn-truncated, whose gradient_steps=1
    # init cannot know).
    defaults = {c.reference: c.literal_defaults for c in discover(str(repo)).candidates}
    pairs = [
        (p["name"], w["name"])
        for p in proposed
        for w in written
        if w["factory"] == p["factory"]
        and all(
            defaults[p["factory"]].get(k, object()) == v for k, v in (w.get("kwargs") or {}).items()
        )
    ]
    assert pairs, (proposed, written)
    ours = run_cli("check", cwd=repo, json_path=tmp_path / "init.json")
    assert_no_traceback(ours)
    theirs = run_cli(
        "check",
        "--config",
        str(hand_written),
        "--root",
        str(repo),
        *[arg for _, name in pairs for arg in ("--model", name)],
        json_path=tmp_path / "hand.json",
    )
    assert {mine: verdicts(ours)[mine] for mine, _ in pairs} == {
        mine: verdicts(theirs)[name] for mine, name in pairs
    }
    assert set(verdicts(ours).values()) == {"pass"}  # the factories are right at their defaults
    assert ours.code == 0


@pytest.mark.slow
def test_init_on_a_repository_as_real_code_is_written(tmp_path):
    repo, _ = copy_without_config(FIXTURES / "init" / "messy", tmp_path)
    made = run_cli("init", "--timeout", "10", cwd=repo)
    assert made.code == 0, made.output
    assert_no_traceback(made)
    text = (repo / "gradcheck.yml").read_text(encoding="utf-8")
    assert (
        "# scripts/old_train.py:5 build_net(input_var=None) [Python 2: imported through a "
        "translation]"
    ) in text
    models = yaml.safe_load(text)["models"]
    # build_model() returns (l_in, l_out): the loader picks the output among them, so init proposes
    # it.
    assert [(m["name"], m["factory"], m["data"]) for m in models] == [
        ("build_model", "models/config_model.py:build_model", {"sequences": 4, "steps": 20}),
        ("build_mlp", "models/mnist.py:build_mlp", {"sequences": 4, "classes": 10}),
        ("build_cnn", "models/mnist.py:build_cnn", {"sequences": 4, "classes": 10}),
        # Python 2, through its translation
        ("build_net", "scripts/old_train.py:build_net", {"sequences": 4}),
    ]
    left_out = text.split("# Left out by `gradcheck-ci init`", 1)[1]
    for expected in (
        "models/blocks.py:5 build_bilstm(): takes the layer it builds on (incoming): "
        "name it with `inputs:`",
        "models/pretrained.py:10 build_pretrained(): importing models/pretrained.py "
        "took longer than 10 s",
        "scripts/quits.py:7 build_from_data(): the process ended (exit code 3)",
        # stopped while it builds (it trains before it returns), at the line it was on
        "models/trains.py:5 build_and_train(): building build_and_train() took longer than 10 s, "
        "at models/trains.py:",
        "models/mnist.py:47 main(): builds layers but returns none of them",
    ):
        assert expected in " ".join(line.lstrip("# ") for line in left_out.splitlines()), expected
    # the line of the loop it was in, and the question a factory deserves
    stopped = left_out.split("models/trains.py:", 2)[2]
    assert stopped.split(" ", 1)[0] in ("9", "10") and "download before it returns" in " ".join(
        line.lstrip("# ") for line in left_out.splitlines()
    )
    checked = run_cli("check", cwd=repo, json_path=tmp_path / "report.json")
    assert checked.code == 0, checked.output
    assert verdicts(checked) == {
        "build_model": "pass",
        "build_mlp": "pass",
        "build_cnn": "pass",
        "build_net": "pass",
    }


def test_init_on_a_tagger_proposes_its_classes_under_the_reshape(tmp_path):
    """A tagger's softmax sits under a ReshapeLayer back to (sentences, words, tags), its input is
    word ids: the entry names the classifier's loss and classes (check's default, read from the
    ReshapeLayer, would be squared_error), no `features` for the ids, and the file says what the
    first check costs."""
    repo, _ = copy_without_config(FIXTURES / "init" / "tagger", tmp_path)
    made = run_cli("init", "--stdout", cwd=repo)
    assert made.code == 0, made.output
    assert_no_traceback(made)
    [entry] = yaml.safe_load(made.stdout)["models"]
    assert entry["loss"] == "categorical_crossentropy"
    assert entry["data"] == {"sequences": 4, "steps": 20, "classes": 12}
    assert "in seconds" not in made.output and "instead of waiting minutes for g++" in made.stdout


def test_init_never_overwrites_prints_on_request_and_replaces_with_force(tmp_path):
    repo, _ = copy_without_config(REPO / "examples" / "seed-rnn", tmp_path)
    (repo / "gradcheck.yml").write_text("# mine\n", encoding="utf-8")
    refused = run_cli("init", cwd=repo)
    assert (
        refused.code == 2
        and "gradcheck.yml exists" in refused.stderr
        and "--force" in refused.stderr
    )
    assert (repo / "gradcheck.yml").read_text(encoding="utf-8") == "# mine\n"
    printed = run_cli("init", "--stdout", cwd=repo)
    assert (
        printed.code == 0
        and yaml.safe_load(printed.stdout)["models"][0]["factory"] == "models/rnn.py:build_model"
    )
    assert (repo / "gradcheck.yml").read_text(encoding="utf-8") == "# mine\n"
    forced = run_cli("init", "--force", cwd=repo)
    assert (
        forced.code == 0 and (repo / "gradcheck.yml").read_text(encoding="utf-8") == printed.stdout
    )
    assert_no_traceback(forced)


def test_init_with_nothing_to_propose_says_why(tmp_path):
    (tmp_path / "train.py").write_text(
        "import lasagne\n\n\ndef main():\n    lasagne.layers.InputLayer((None, 2))\n",
        encoding="utf-8",
    )
    run = run_cli("init", cwd=tmp_path)
    assert run.code == 2 and not (tmp_path / "gradcheck.yml").exists()
    assert (
        "no model factory built" in run.stderr
        and ("train.py: main(): builds layers but returns none") in run.stderr
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    run = run_cli("init", cwd=empty)
    assert (
        run.code == 2
        and "no function in the repository builds and returns Lasagne layers" in run.stderr
    )
    assert_no_traceback(run)


def test_init_imports_a_script_without_the_workers_command_line(tmp_path):
    """A script that reads its command line at import time sees none while init tries it, as under
    `check`: not the worker's own arguments."""
    (tmp_path / "train.py").write_text(
        "import argparse\n"
        "import sys\n\n"
        "import lasagne\n\n"
        "parser = argparse.ArgumentParser()\n"
        "parser.add_argument('--hidden', type=int, default=4)\n"
        "args = parser.parse_args()\n"
        "corpus = sys.argv[1] if len(sys.argv) > 1 else None\n"
        "if corpus is not None:\n"
        "    raise SystemExit('reading ' + corpus)\n\n"
        "l_in = lasagne.layers.InputLayer((None, 3))\n"
        "l_out = lasagne.layers.DenseLayer(l_in, args.hidden)\n",
        encoding="utf-8",
    )
    made = run_cli("init", "--stdout", cwd=tmp_path)
    assert made.code == 0, made.output
    assert_no_traceback(made)
    [entry] = yaml.safe_load(made.stdout)["models"]
    assert entry["factory"] == "train.py:l_out"
    assert "candidates" not in made.output  # nothing of the worker's job reached the script
