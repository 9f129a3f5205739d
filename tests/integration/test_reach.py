"""The corpus of the code shapes public Lasagne code takes (tests/fixtures/reach/<repository>/),
each model named in gradcheck.yml as its files are, without a wrapper: Python 2 files (print
statements, xrange, cPickle, tabs, `except E, e`, a package importing its Python 2 siblings, integer
`/` in sizes, one file 2to3 cannot translate), scripts that build the network at module level and
train it (or download first, or build it only under `if __name__ == '__main__':`), classes (a
builder's method with the constructor's sizes, a classmethod, a staticmethod, an attribute set in
__init__), builders whose sizes come from the data or a config dict, a builder whose training script
passes it an integer input variable, a recurrent layer built from sub-networks, a package whose
modules import each other relatively.

Each row asserts the model's status, its notices (code@file:line, with the translation's fixers),
and for errors the message, file:line and kind. CI runs a fast sample (FAST); the rest are marked
slow. `init` on the corpus must build at least 70% of the factories the corpus names, and what it
writes must validate and check.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests import FIXTURES
from tests.harness import REPORT_ARGS, CliRun, assert_no_traceback, assert_reports_valid, run_cli

CORPUS = FIXTURES / "reach"
# checked by CI's quick run
FAST = {
    "script-layer-list",
    "py2-package",
    "py2-class-attribute",
    "py2-untranslatable",
    "script-main-guard",
    "script-module-level",
    "input-var-embedding",
    "custom-recurrent-subnets",
    "package-relative-imports",
}
INIT_SHARE = 0.70  # of the factories the corpus names, `init` must build at least this share


@dataclass(frozen=True)
class Row:
    repo: str
    model: str
    status: str
    message: str | None = None  # a part of the error message, or of the first notice
    at: str | None = None  # the error's file:line
    kind: str | None = None
    notices: tuple[str, ...] = ()  # "code@file:line", in order


UNTRANSLATED = "is Python 2 and cannot be translated to Python 3 at line"
ROWS = [
    # Python 2: translated on load, with a notice naming the file and the fixers; integer `/` keeps
    # its meaning
    Row(
        "py2-mnist-script",
        "mlp",
        "pass",
        "(2to3 fixers: imports, xrange, print)",
        notices=("python2-translated@mnist.py:7", "python2-division@mnist.py:29"),
    ),
    Row(
        "py2-tabs-rnn",
        "char-rnn",
        "pass",
        "(2to3 fixers: except, print, dict, has_key; "
        "indentation tabs read as Python 2 did (8 columns))",
        notices=("python2-translated@char_rnn.py:9",),
    ),
    Row(
        "py2-package",
        "highway",
        "pass",
        "(2to3 fixers: xrange, print)",
        notices=("python2-translated@highway/net.py:9", "python2-translated@highway/layers.py:26"),
    ),
    Row(
        "py2-recipes-dict",
        "small-vgg",
        "pass",
        "(2to3 fixers: print)",
        notices=("python2-translated@small_vgg.py:21", "python2-division@small_vgg.py:17"),
    ),
    Row(
        "py2-experiment-configs",
        "logreg",
        "pass",
        "(2to3 fixers: print)",
        notices=("python2-translated@configs/logreg.py:10",),
    ),
    # Python 2 that nothing marks as such: Python 3's `/`, and the line and what to write
    Row(
        "py2-experiment-configs",
        "convnet",
        "error",
        "a float where an integer is needed: in "
        "Python 3 `/` divides to a float, where Python 2 divided integers to an integer; use `//` "
        "for sizes and indices",
        "configs/convnet.py:11",
        "load",
    ),
    Row(
        "py2-untranslatable",
        "model",
        "error",
        f"data.py {UNTRANSLATED} 5: its translation does "
        f"not compile: "
        "`async` is a keyword in Python 3: rename it",
        "data.py:5",
        "load",
    ),
    # scripts: the network at module level runs up to where it is assigned; what runs before it is
    # guarded
    Row(
        "script-module-level",
        "regression",
        "pass",
        "train.py is a script: it ran up to line 15, "
        "where it assigns l_out, and not lines 17-28 after it",
        notices=("script-cut@train.py:15",),
    ),
    Row(
        "py2-script-module-level",
        "lstm-sum",
        "pass",
        "(2to3 fixers: xrange, print)",
        notices=("python2-translated@lstm_sum.py:14", "script-cut@lstm_sum.py:22"),
    ),
    Row(
        "script-downloads-first",
        "sentiment",
        "error",
        "the code tried to reach the network "
        "(example.org) importing the factory module of 'train.py:network'",
        "train.py:11",
        "load",
    ),
    Row(
        "script-main-guard",
        "guarded",
        "error",
        "train.py assigns l_out only under `if __name__ "
        "== '__main__':` (line 8), which does not run when gradcheck-ci imports it",
        "train.py:8",
        "load",
    ),
    # classes: a method with the constructor's sizes, a classmethod, a staticmethod, an attribute
    # set by __init__
    Row("class-build-method", "mlp", "pass"),
    Row("classmethod-builder", "lenet", "pass"),
    Row("staticmethod-tagger", "tagger", "pass"),
    Row("class-network-attribute", "char-lm", "pass"),
    # a script's layers in a list it fills in a loop: run up to the last line that adds to it
    Row(
        "script-layer-list",
        "stacked",
        "pass",
        "train_mlp.py is a script: it ran up to line 12, where it adds to layers, and not "
        "lines 14-22",
        notices=("script-cut@train_mlp.py:12",),
    ),
    # ... in a Python 2 file: inspect reads the class's source from the translation
    Row(
        "py2-class-attribute",
        "mlp-attribute",
        "pass",
        "(2to3 fixers: imports, print)",
        notices=("python2-translated@classifier.py:1",),
    ),
    Row(
        "py2-class-attribute", "mlp-class", "pass", notices=("python2-translated@classifier.py:1",)
    ),
    # sizes from the data, a config dict
    Row("sizes-from-data", "mlp", "pass"),
    Row("config-dict-builder", "network", "pass"),
    # a package's module that imports its siblings relatively, named by its file
    Row("package-relative-imports", "tagger", "pass"),
    # a CustomRecurrentLayer whose transition is a network of its own
    Row("custom-recurrent-subnets", "deep-transition", "pass"),
    # an input variable the training script passes: word ids, which the bare call makes floats
    Row(
        "input-var-embedding",
        "sentences",
        "pass",
        "input InputLayer#0 holds float64 but feeds an EmbeddingLayer",
        notices=("integer-input@classifier.py:12",),
    ),
    # ... whose builder calls get_output itself (Theano's 'index must be integers' stopped it)
    Row(
        "input-var-embedding",
        "sentences-with-functions",
        "pass",
        notices=("deferred-compile@with_functions.py:23", "integer-input@with_functions.py:12"),
    ),
]
REPOS = sorted({row.repo for row in ROWS})


def test_a_sub_networks_parameters_are_located_at_the_lines_that_built_their_layers(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    _, report = run_repository("custom-recurrent-subnets", tmp_path_factory)
    [model] = report["models"]
    at = {p["id"]: f"{p['file']}:{p['line']}" for p in model["params"]}
    assert at["CustomRecurrentLayer#0.input_to_hidden.W"] == "net.py:16"
    assert at["CustomRecurrentLayer#0.deep_tr.W"] == "net.py:9"
    assert at["CustomRecurrentLayer#0.hidden_to_hidden.W"] == "net.py:10"
    assert at["DenseLayer#0.W"] == "net.py:20"


def test_a_scripts_layers_are_located_at_the_lines_that_built_them(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # the script builds them while it is imported, before the factory (here none) is called
    _, report = run_repository("script-layer-list", tmp_path_factory)
    [result] = report["models"]
    where = {p["id"]: f"{p['file']}:{p['line']}" for p in result["params"]}
    assert where == {
        "DenseLayer#0.W": "train_mlp.py:11",
        "DenseLayer#0.b": "train_mlp.py:11",
        "DenseLayer#1.W": "train_mlp.py:11",
        "DenseLayer#1.b": "train_mlp.py:11",
        "DenseLayer#2.W": "train_mlp.py:12",
        "DenseLayer#2.b": "train_mlp.py:12",
    }


def test_names_bound_to_functions_run_the_whole_module_and_base_class_attributes_count(
    tmp_path: Path,
) -> None:
    # `small = functools.partial(make, hidden=2)`, a lambda and an alias were cut as a script's
    # network is, so `make` met a class defined below them (NameError); Tagger.l_out, set by the
    # base class's __init__, was "no method or attribute". Not in the corpus: `init` proposes
    # `make` itself, once, not each name bound to it.
    repo = tmp_path / "factory-aliases"
    shutil.copytree(FIXTURES / "repos" / "factory-aliases", repo)
    run = run_cli("check", *REPORT_ARGS, cwd=repo, timeout=900)
    assert_no_traceback(run)
    assert run.code == 0, run.output
    report = assert_reports_valid(repo)
    assert {m["name"]: m["status"] for m in report["models"]} == {
        "small-partial": "pass",
        "big-lambda": "pass",
        "alias": "pass",
        "inherited-attribute": "pass",
    }
    assert not any(n["code"] == "script-cut" for m in report["models"] for n in m["notices"])


def test_packages_whose_init_imports_their_modules_the_python_2_way(tmp_path: Path) -> None:
    # `from model import build_rnn` in a package's __init__.py: "No module named 'model'" with
    # advice to install it (dotted factories), or the module imported a second time outside its
    # package, where its relative import failed (named by its file). Not in the corpus: `init`
    # names files, not packages.
    repo = tmp_path / "py2-package-init"
    shutil.copytree(FIXTURES / "repos" / "py2-package-init", repo)
    run = run_cli("check", *REPORT_ARGS, cwd=repo, timeout=900)
    assert_no_traceback(run)
    assert run.code == 0, run.output
    report = assert_reports_valid(repo)
    assert {m["name"]: m["status"] for m in report["models"]} == {
        "rnn-from-init": "pass",
        "rnn-by-module": "pass",
        "tagger-by-file": "pass",
    }
    translated = [
        f"{n['file']}:{n['line']}"
        for n in report["models"][0]["notices"]
        if n["code"] == "python2-translated"
    ]
    assert translated == ["recurrent/__init__.py:4", "recurrent/model.py:9"]


def test_the_corpus_has_every_repository_and_a_row_for_each_model():
    present = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    assert present == set(REPOS) and len(present) >= 12
    for repo in REPOS:
        config = yaml.safe_load((CORPUS / repo / "gradcheck.yml").read_text(encoding="utf-8"))
        assert sorted(m["name"] for m in config["models"]) == sorted(
            r.model for r in ROWS if r.repo == repo
        )
    assert FAST <= present


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


_RUNS: dict[str, tuple[CliRun, dict]] = {}


def run_repository(repo: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[CliRun, dict]:
    """Check a private copy of the repository once per session; the run and its JSON report."""
    if repo not in _RUNS:
        target = tmp_path_factory.mktemp("reach") / repo
        shutil.copytree(CORPUS / repo, target)
        before = _digest(target)
        run = run_cli("check", *REPORT_ARGS, cwd=target)
        after = {
            name: digest
            for name, digest in _digest(target).items()
            if name not in ("report.json", "junit.xml", "report.sarif")
        }
        # never a translation, never bytecode
        assert after == before, "the check wrote into the repository"
        _RUNS[repo] = (run, assert_reports_valid(target))
    return _RUNS[repo]


@pytest.mark.parametrize(
    "row",
    [
        pytest.param(
            row, marks=() if row.repo in FAST else pytest.mark.slow, id=f"{row.repo}/{row.model}"
        )
        for row in ROWS
    ],
)
def test_model(row: Row, tmp_path_factory: pytest.TempPathFactory) -> None:
    run, report = run_repository(row.repo, tmp_path_factory)
    assert_no_traceback(run)
    [result] = [m for m in report["models"] if m["name"] == row.model]
    assert result["status"] == row.status, (result, run.output)
    if row.status == "error":
        error = result["error"]
        assert row.message in error["message"], error
        assert f"{error['file']}:{error['line']}" == row.at and error["kind"] == row.kind, error
    else:
        assert result["params"] and result["error"] is None
        if row.message:
            assert row.message in result["notices"][0]["message"], result["notices"]
    assert (
        tuple(f"{n['code']}@{n['file']}:{n['line']}" for n in result["notices"]) == row.notices
    ), result["notices"]
    expected = 2 if any(r.status == "error" for r in ROWS if r.repo == row.repo) else 0
    assert run.code == expected, run.output


def named_factories(repo: str) -> list[str]:
    config = yaml.safe_load((CORPUS / repo / "gradcheck.yml").read_text(encoding="utf-8"))
    return [m["factory"] for m in config["models"]]


def run_init(repo: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CliRun, list[str]]:
    """`init` in a copy of the repository without its gradcheck.yml; the factories the written file
    names."""
    target = tmp_path_factory.mktemp("reach-init") / repo
    shutil.copytree(CORPUS / repo, target)
    (target / "gradcheck.yml").unlink()
    run = run_cli("init", cwd=target)
    assert_no_traceback(run)
    written = target / "gradcheck.yml"
    if not written.exists():
        return target, run, []
    config = yaml.safe_load(written.read_text(encoding="utf-8"))
    return target, run, [m["factory"] for m in config["models"]]


def test_init_builds_a_class_builder_with_the_sizes_it_infers(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    target, run, factories = run_init("class-build-method", tmp_path_factory)
    assert run.code == 0, run.output
    assert factories == ["builders.py:MLPBuilder.build"]
    text = (target / "gradcheck.yml").read_text(encoding="utf-8")
    assert "    # input_dim: a small size for InputLayer's shape (line 14)\n" in text
    assert "    kwargs: {input_dim: 4, output_dim: 3}\n" in text
    # the abstract base, left out
    assert "- builders.py:13 ModelBuilder.build(): NotImplementedError" in text
    assert run_cli("validate", cwd=target).code == 0


@pytest.mark.slow
def test_init_writes_placeholders_where_it_cannot_choose(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    target, run, factories = run_init("staticmethod-tagger", tmp_path_factory)
    assert factories == ["tagger.py:Tagger.build_network"], run.output
    text = (target / "gradcheck.yml").read_text(encoding="utf-8")
    assert (
        "#    # vocabulary: not a layer size gradcheck-ci can choose (line 21: self.vocabulary "
        "= vocabulary)\n"
    ) in text
    assert "#    kwargs: {vocabulary: VOCABULARY, tags: TAGS}\n" in text


@pytest.mark.slow
def test_init_builds_most_of_the_factories_the_corpus_names_and_its_file_checks(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    named = built = 0
    missed = []
    for repo in REPOS:
        target, run, factories = run_init(repo, tmp_path_factory)
        wanted = named_factories(repo)
        named += len(wanted)
        built += sum(1 for factory in wanted if factory in factories)
        missed += [f"{repo}/{factory}" for factory in wanted if factory not in factories]
        if factories:
            assert run_cli("validate", cwd=target).code == 0
            check = run_cli("check", "--quiet", cwd=target)
            assert check.code == 0, check.output
    print(f"init built {built} of the {named} factories the corpus names; not: {missed}")
    assert built / named >= INIT_SHARE, (built, named, missed)
