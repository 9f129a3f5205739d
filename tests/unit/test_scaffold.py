"""The gradcheck.yml `init` writes: valid YAML that reads back as written, one entry per factory
that built, every left-out candidate in a comment that cannot break out of it."""

from __future__ import annotations

import pytest
import yaml

from gradcheck_ci.config import load_config
from gradcheck_ci.init.discover import Candidate, Passed, discover
from gradcheck_ci.init.scaffold import compose, model_names, yaml_scalar
from gradcheck_ci.init.trial import Trial


def candidate(file="models/rnn.py", function="build_model", **kwargs) -> Candidate:
    return Candidate(
        file=file,
        function=function,
        line=kwargs.pop("line", 12),
        returns="layer",
        signature=kwargs.pop("signature", "gradient_steps=-1"),
        **kwargs,
    )


def built(c: Candidate, data=None) -> Trial:
    return Trial(
        c,
        built=True,
        data=data or {"sequences": 4, "steps": 20, "classes": 2},
        inputs=[
            {
                "label": "InputLayer#0",
                "shape": [None, None, 2],
                "kind": "sequence",
                "dtype": "float64",
            }
        ],
        output={
            "label": "RecurrentLayer#0",
            "class": "RecurrentLayer",
            "shape": [80, 2],
            "nonlinearity": "softmax",
        },
        loss="categorical_crossentropy",
        tensors=3,
        parameters=10,
        recurrent=["RecurrentLayer#0"],
    )


@pytest.mark.parametrize(
    "value",
    [
        "models/rnn.py:build",
        "null",
        "yes",
        "No",
        "~",
        "a: b",
        "x #y",
        "1.0",
        "'q'",
        "-1",
        "",
        "ends:",
        "{x}",
        "tab\there",
        "é漢字",
        True,
        False,
        None,
        3,
        -1.5,
        0,
    ],
)
def test_scalars_read_back_as_written(value):
    assert yaml.safe_load(f"k: {yaml_scalar(value)}") == {"k": value}


def test_names_are_unique_and_valid():
    names = model_names(
        [
            candidate("a/nets.py", "build"),
            candidate("b/nets.py", "build"),
            candidate("c.py", "build_rnn"),
            candidate("d.py", "build_rnn"),
            candidate("x y.py", "only"),
        ]
    )
    assert names == ["a.nets.build", "b.nets.build", "c.build_rnn", "d.build_rnn", "only"]


def test_the_file_reads_back_with_an_entry_per_built_factory(tmp_path):
    rnn = candidate(literal_defaults={"gradient_steps": -1, "name": "no"})
    mlp = candidate("models/mlp.py", "build_mlp", signature="input_var=None")
    hostile = "boom\n  - name: injected\n    factory: x.py:y\u2028# and more"
    left = [
        Trial(
            candidate("models/blocks.py", "build_bilstm"),
            reason="takes the layers it builds on (incoming)",
        ),
        Trial(candidate("models/bad.py", "build"), reason=hostile),
    ]
    passed = [
        Passed("scripts/old.py", 7, "scripts/old.py", "does not parse as Python 3"),
        Passed("train.py", 40, "main()", "builds layers but returns none of them"),
    ]
    text = compose([built(rnn), built(mlp, {"sequences": 4, "classes": 10})], left, passed, "0.1.0")
    data = yaml.safe_load(text)
    assert data == {
        "version": 1,
        "defaults": {"seed": 0, "precision": "float64"},
        "models": [
            {
                "name": "build_model",
                "factory": "models/rnn.py:build_model",
                "data": {"sequences": 4, "steps": 20, "classes": 2},
            },
            {
                "name": "build_mlp",
                "factory": "models/mlp.py:build_mlp",
                "data": {"sequences": 4, "classes": 10},
            },
        ],
    }
    assert "    # kwargs: {gradient_steps: -1, name: 'no'}\n" in text
    assert (
        "# - models/blocks.py:12 build_bilstm(): takes the layers it builds on (incoming)\n" in text
    )
    assert "# - scripts/old.py:7: does not parse as Python 3\n" in text
    assert "# - train.py:40 main(): builds layers but returns none of them\n" in text
    assert "injected" in text and all(
        line.startswith(("#", " ", "version", "defaults", "models")) or not line
        for line in text.splitlines()
    )
    for line in text.splitlines():
        assert len(line) <= 120, line
    (tmp_path / "models").mkdir()
    for name in ("rnn.py", "mlp.py"):
        (tmp_path / "models" / name).write_text("def build_model(): pass\ndef build_mlp(): pass\n")
    config_path = tmp_path / "gradcheck.yml"
    config_path.write_text(text, encoding="utf-8")
    config = load_config(str(config_path))
    assert config.problems == [] and [m.name for m in config.models] == ["build_model", "build_mlp"]


def test_uncommenting_the_defaults_line_gives_a_valid_kwargs_entry():
    rnn = candidate(literal_defaults={"gradient_steps": -1, "masked": False, "mode": "sum"})
    text = compose([built(rnn)], [], [], "0.1.0").replace("    # kwargs:", "    kwargs:")
    assert yaml.safe_load(text)["models"][0]["kwargs"] == {
        "gradient_steps": -1,
        "masked": False,
        "mode": "sum",
    }


def test_a_factory_built_on_lasagne_master_goes_straight_there(tmp_path):
    """A trial that built only on master (its code uses a master API) gets `lasagne: master`, with
    what it used in a comment; the rest stay on the default (auto)."""
    gan = built(candidate("models/dcgan.py", "build_generator", signature="noise_var=None"))
    gan.lasagne, gan.master_api = "master", "lasagne.layers.TransposedConv2DLayer"
    text = compose([gan, built(candidate())], [], [], "0.1.0")
    assert "    lasagne: master  # its code uses lasagne.layers.TransposedConv2DLayer\n" in text
    (tmp_path / "models").mkdir()
    for name in ("dcgan.py", "rnn.py"):
        (tmp_path / "models" / name).write_text("")
    (tmp_path / "gradcheck.yml").write_text(text)
    config = load_config(str(tmp_path / "gradcheck.yml"))
    assert not config.problems and [m.lasagne for m in config.models] == ["master", "auto"]


def test_a_left_out_candidate_names_the_line_that_raised_when_it_is_another():
    from gradcheck_ci.init.scaffold import progress_line

    script = candidate(file="notebooks/exploration.py", function="l_out", line=26, kind="variable")
    raised = Trial(
        script, reason="NameError: name 'get_ipython' is not defined", file=script.file, line=11
    )
    assert progress_line(raised).endswith("is not defined (at notebooks/exploration.py:11)")
    own = Trial(script, reason="returned None", file=script.file, line=26)
    assert progress_line(own).endswith("returned None")
    text = " ".join(compose([], [raised], [], "0.1.0").replace("#  ", " ").split())
    assert "is not defined (at notebooks/exploration.py:11)" in text


def test_a_module_stopped_at_its_import_limit_is_left_out_with_the_line_it_was_at(tmp_path):
    """The trial imports a module under check's import limit, shorter than init's own timeout, so
    the worker says where the import was when it was stopped instead of being killed."""
    from gradcheck_ci.core.errors import ModelLoadError
    from gradcheck_ci.init import trial
    from gradcheck_ci.model.factory import import_limit
    from gradcheck_ci.usercode import blame

    entry = {"file": "train_forever.py", "function": "build_net", "kwargs": {}}
    assert import_limit(trial._spec(entry, 30.0)) == 30.0
    assert import_limit(trial._spec(entry, 300.0)) == 60.0  # check's own limit: at most 60 s

    script = tmp_path / "train_forever.py"
    script.write_text("")
    code = (
        "import gradcheck_ci.usercode.guard as g\n\n"
        "for epoch in range(3):\n    raise g.TooSlow(30)\n"
    )
    try:
        try:  # as importer.import_function reports what the module raised
            exec(compile(code, str(script), "exec"), {})
        except BaseException as exc:  # noqa: BLE001 - the TooSlow the limit raises
            raise blame.user_code_error(
                exc, str(tmp_path), "importing the factory module", ("gradcheck.yml", None)
            ) from None
    except ModelLoadError as error:
        failure = trial._failure(error, str(tmp_path), "importing train_forever.py")
    assert failure["reason"] == (
        "importing train_forever.py took longer than 30 s, at train_forever.py:4 when it was "
        "stopped (does it train, load data or download at import?); a factory for gradcheck-ci "
        "only builds the network"
    )
    assert (failure["file"], failure["line"]) == ("train_forever.py", 4)
    stopped = Trial(
        candidate(file="train_forever.py", function="build_net", line=7),
        reason=failure["reason"],
        file=failure["file"],
        line=failure["line"],
    )
    text = " ".join(compose([], [stopped], [], "0.1.0").replace("#  ", " ").split())
    # the line, once: not again as "(at train_forever.py:4)"
    assert text.count("train_forever.py:4") == 1


def test_the_header_says_what_the_entries_are_a_script_layer_and_kwargs_included():
    script = candidate("train.py", "l_out", line=23, kind="variable", signature="")
    sized = candidate(
        "models/mlp.py", "build_mlp", signature="n_in", required=["n_in"], kwargs={"n_in": 4}
    )
    text = compose([built(script), built(sized)], [], [], "0.1.0")
    header = " ".join(line.lstrip("# ") for line in text.split("version: 1")[0].splitlines())
    assert "factory: train.py:l_out" in text and "kwargs: {n_in: 4}" in text
    # neither entry is a function called without arguments
    assert "when called without arguments" not in header
    assert "a function or method called with the entry's `kwargs`" in header
    assert "a layer that a script (or a class's __init__) keeps" in header


def test_a_named_output_layer_is_told_apart_from_its_nonlinearity():
    from gradcheck_ci.init.scaffold import what_it_is

    named = built(candidate())
    named.output = {
        "label": "softmax",
        "class": "DenseLayer",
        "shape": [4, 3],
        "nonlinearity": "softmax",
    }
    assert "; output softmax (DenseLayer, softmax);" in what_it_is(named)
    named.output = {
        "label": "l_out",
        "class": "ReshapeLayer",
        "shape": [4, 3],
        "nonlinearity": None,
    }
    assert "; output l_out (ReshapeLayer);" in what_it_is(named)
    # an unnamed layer's label is its class already
    assert "; output RecurrentLayer#0, softmax;" in what_it_is(built(candidate()))


def test_a_building_blocks_commented_entry_names_its_layer_under_inputs(tmp_path):
    """A Recipes-style block (a layer argument, and a config init cannot choose) is left out with an
    entry to complete: uncommented, its placeholders filled, it validates and gives the factory its
    layer through `inputs:`, shaped for the layer the argument goes to."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "blocks.py").write_text(
        "from lasagne.layers import Conv2DLayer, DenseLayer\n\n\n"
        "def dense_block(l, config):\n"
        "    l = DenseLayer(l, config['units'])\n"
        "    return DenseLayer(l, config['units'])\n\n\n"
        "def conv_block(name, incoming, nfilters):\n"
        "    return {name: Conv2DLayer(incoming, nfilters[0], 3)}\n",
        encoding="utf-8",
    )
    blocks = {c.function: c for c in discover(str(tmp_path)).candidates}
    left = [Trial(c, reason=c.why_not_tried or "") for c in blocks.values()]
    text = compose([], left, [], "0.1.0")
    assert "#    inputs: {l: {shape: [null, FEATURES]}}\n" in text
    assert "#    inputs: {incoming: {shape: [null, CHANNELS, HEIGHT, WIDTH]}}\n" in text
    assert "e.g. `inputs: {l: {shape: [null, FEATURES]}}`" in " ".join(
        line.lstrip("# ") for line in text.splitlines()
    )
    entries = "\n".join(
        line[1:] for line in text.splitlines() if line.startswith(("#  -", "#    "))
    )
    for placeholder, value in (
        ("FEATURES", "8"),
        ("UNITS", "4"),
        ("CHANNELS", "2"),
        ("HEIGHT", "5"),
        ("WIDTH", "5"),
        ("NAME", "c"),
        ("NFILTERS", "[2]"),
    ):
        entries = entries.replace(placeholder, value)
    config_path = tmp_path / "gradcheck.yml"
    config_path.write_text(f"version: 1\nmodels:\n{entries}\n", encoding="utf-8")
    config = load_config(str(config_path))
    assert config.problems == []
    shapes = {m.name: {k: v.shape for k, v in m.inputs.items()} for m in config.models}
    assert shapes == {"dense_block": {"l": [None, 8]}, "conv_block": {"incoming": [None, 2, 5, 5]}}
