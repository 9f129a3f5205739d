"""Tests for gradcheck_ci.config: every validation rule, with the exact lines users will see."""

from __future__ import annotations

import collections
import json
import os
import re
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcheck_ci.config import (
    BUILTIN_LOSSES,
    Config,
    ConfigError,
    ConfigProblem,
    DataSpec,
    ModelSpec,
    format_problem,
    load_config,
    resolve_factory,
    resolve_reference,
)
from gradcheck_ci.config.kwargs import MAX_KWARGS_VALUES
from gradcheck_ci.config.nodes import Nodes

HEADER = "version: 1\nmodels:\n"
ENTRY = "  - name: m\n    factory: models/rnn.py:build_model\n"


def write(root, text: str, name: str = "gradcheck.yml", files=("models/rnn.py",)) -> str:
    for f in files:
        target = root / f
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("def build_model():\n    pass\n")
    path = root / name
    path.write_text(textwrap.dedent(text).lstrip("\n") if isinstance(text, str) else text)
    return str(path)


def load(root, text: str, **kwargs) -> Config:
    return load_config(write(root, text), **kwargs)


def problems(config: Config) -> list[tuple[int | None, str]]:
    return [(p.line, p.message) for p in config.problems]


def only_problem(config: Config) -> ConfigProblem:
    assert len(config.problems) == 1, config.problems
    return config.problems[0]


def error(root, text, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(root, text, **kwargs)
    return info.value


@pytest.fixture
def work(monkeypatch) -> collections.Counter:
    """The reader's work, counted instead of timed: "scalars" constructed and "mappings" walked."""
    counts: collections.Counter = collections.Counter()

    def counted(name, function):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)

        return wrapper

    constructor = yaml.constructor.SafeConstructor
    monkeypatch.setattr(
        constructor, "construct_object", counted("scalars", constructor.construct_object)
    )
    monkeypatch.setattr(Nodes, "walk_items", counted("mappings", Nodes.walk_items))
    return counts


def distinct_nodes(text: str) -> collections.Counter:
    """How many distinct mappings and scalar values (not keys) the file holds, aliases counted
    once."""
    counts: collections.Counter = collections.Counter()
    seen, todo = set(), [yaml.compose(text)]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            counts["mappings"] += 1
            todo += [value for _, value in node.value]
        elif isinstance(node, yaml.SequenceNode):
            todo += node.value
        else:
            counts["scalars"] += 1
    return counts


# ------------------------------------------------------------------------------------ valid files


def test_minimal_config_gets_builtin_defaults(tmp_path):
    config = load(tmp_path, HEADER + ENTRY)
    assert config.problems == []
    assert config.version == 1
    assert config.root == str(tmp_path)
    [m] = config.models
    assert m == ModelSpec(
        name="m",
        factory="models/rnn.py:build_model",
        kwargs={},
        data=DataSpec(),
        loss=None,
        params=["*"],
        precision="float64",
        seed=0,
        mode="auto",
        rtol=None,
        atol=None,
        directions=1,
        timeout=600.0,
        memory=8192,
        expect="pass",
        line=3,
        key_lines={"name": 3, "factory": 4},
    )
    assert isinstance(m.timeout, float)


def test_every_key(tmp_path):
    config = load(
        tmp_path,
        """
        version: 1
        models:
          - name: seed-rnn
            factory: models/rnn.py:build_model
            kwargs: {gradient_steps: 1, units: [3, 4], opts: {clip: null}}
            data:
              sequences: 3
              steps: 7
              features: 5
              classes: 4
              mask: random
            loss: binary_crossentropy
            params: ["RecurrentLayer#0.*", W]
            precision: float32
            seed: 12
            mode: directional
            rtol: 1.0e-4
            atol: 0
            directions: 3
            timeout: 30
            memory: 1024
            expect: fail
        """,
    )
    assert config.problems == []
    [m] = config.models
    assert m.kwargs == {"gradient_steps": 1, "units": [3, 4], "opts": {"clip": None}}
    assert m.data == DataSpec(sequences=3, steps=7, features=5, classes=4, mask="random")
    assert (m.loss, m.params, m.precision, m.seed, m.mode) == (
        "binary_crossentropy",
        ["RecurrentLayer#0.*", "W"],
        "float32",
        12,
        "directional",
    )
    assert (m.rtol, m.atol, m.directions, m.timeout, m.memory, m.expect) == (
        1e-4,
        0.0,
        3,
        30.0,
        1024,
        "fail",
    )
    assert isinstance(m.atol, float) and isinstance(m.timeout, float)
    assert m.line == 3
    assert m.key_lines == {
        "name": 3,
        "factory": 4,
        "kwargs": 5,
        "kwargs.gradient_steps": 5,
        "kwargs.units": 5,
        "kwargs.opts": 5,
        "data": 6,
        "data.sequences": 7,
        "data.steps": 8,
        "data.features": 9,
        "data.classes": 10,
        "data.mask": 11,
        "loss": 12,
        "params": 13,
        "precision": 14,
        "seed": 15,
        "mode": 16,
        "rtol": 17,
        "atol": 18,
        "directions": 19,
        "timeout": 20,
        "memory": 21,
        "expect": 22,
    }


def test_defaults_are_inherited_and_merged_keywise(tmp_path):
    config = load(
        tmp_path,
        """
        version: 1
        defaults:
          precision: float32
          seed: 5
          kwargs:
            num_units: 8
            gradient_steps: -1
          data: {steps: 20, mask: random}
          loss: squared_error
        models:
          - name: a
            factory: models/rnn.py:build_model
            kwargs:
              gradient_steps: 1
            data:
              sequences: 2
          - name: b
            factory: models/rnn.py:build_model
            seed: 7
            loss: null
        """,
    )
    assert config.problems == []
    a, b = config.models
    assert a.kwargs == {"num_units": 8, "gradient_steps": 1}
    assert a.data == DataSpec(sequences=2, steps=20, mask="random")
    assert (a.precision, a.seed, a.loss) == ("float32", 5, "squared_error")
    # inherited keys point at their line in defaults; given keys at the model's own line
    assert a.key_lines == {
        "precision": 3,
        "seed": 4,
        "kwargs": 13,
        "kwargs.num_units": 6,
        "kwargs.gradient_steps": 14,
        "data": 15,
        "data.steps": 8,
        "data.mask": 8,
        "data.sequences": 16,
        "loss": 9,
        "name": 11,
        "factory": 12,
    }
    assert (b.seed, b.loss, b.kwargs) == (7, None, {"num_units": 8, "gradient_steps": -1})
    assert b.key_lines["seed"] == 19 and b.key_lines["loss"] == 20 and b.key_lines["kwargs"] == 5


def test_empty_defaults_kwargs_and_data_are_accepted(tmp_path):
    config = load(
        tmp_path,
        HEADER.replace("models:", "defaults:\nmodels:") + ENTRY + "    kwargs:\n    data:\n",
    )
    assert config.problems == []
    assert config.models[0].kwargs == {} and config.models[0].data == DataSpec()


def test_models_keep_file_order(tmp_path):
    text = HEADER + "".join(
        f"  - name: m{i}\n    factory: models/rnn.py:build_model\n" for i in range(5)
    )
    config = load(tmp_path, text)
    assert [m.name for m in config.models] == [f"m{i}" for i in range(5)]
    assert [m.line for m in config.models] == [3, 5, 7, 9, 11]


def test_json_round_trip(tmp_path):
    config = load(
        tmp_path, HEADER + ENTRY + "    kwargs: {a: [1, {b: 2.5}]}\n    data: {steps: 3}\n"
    )
    m = config.models[0]
    d = json.loads(json.dumps(m.to_json()))
    assert d["data"] == {
        "sequences": 10,
        "steps": 3,
        "features": 2,
        "classes": 2,
        "mask": "full",
        "inputs": {},
    }
    assert ModelSpec.from_json(d) == m
    d["kwargs"]["a"].append(9)  # from_json copies: the spec shares nothing with the dict
    assert m.kwargs == {"a": [1, {"b": 2.5}]}


def test_yaml_12_exponent_floats(tmp_path):
    # PyYAML (YAML 1.1) would read 1e-4 as a string; users mean a number
    config = load(
        tmp_path,
        HEADER + ENTRY + "    rtol: 1e-4\n    atol: 5E-7\n"
        "    kwargs: {lr: 1e-3, big: 2.5e3, text: '1e-3'}\n",
    )
    assert config.problems == []
    m = config.models[0]
    assert (m.rtol, m.atol) == (1e-4, 5e-7)
    assert m.kwargs == {"lr": 1e-3, "big": 2500.0, "text": "1e-3"}


def test_ints_are_accepted_where_floats_are_expected(tmp_path):
    m = load(tmp_path, HEADER + ENTRY + "    rtol: 1\n    atol: 0\n    timeout: 5\n").models[0]
    assert (m.rtol, m.atol, m.timeout) == (1.0, 0.0, 5.0)
    assert all(isinstance(v, float) for v in (m.rtol, m.atol, m.timeout))


def test_x_keys_at_top_level_hold_anchors_and_merges_apply(tmp_path):
    config = load(
        tmp_path,
        """
        version: 1
        x-rnn: &rnn
          factory: models/rnn.py:build_model
          precision: float32
          kwargs: &kw {num_units: 4}
        models:
          - name: a
            <<: *rnn
            precision: float64
          - name: b
            <<: *rnn
            kwargs: *kw
        """,
    )
    assert config.problems == []
    a, b = config.models
    assert (a.factory, a.precision, a.kwargs) == (
        "models/rnn.py:build_model",
        "float64",
        {"num_units": 4},
    )
    assert a.key_lines["factory"] == 3 and a.key_lines["precision"] == 9
    assert (b.precision, b.kwargs) == ("float32", {"num_units": 4})


def test_merge_of_a_list_of_mappings(tmp_path):
    config = load(
        tmp_path,
        """
        version: 1
        x-a: &a {seed: 1, mode: full}
        x-b: &b {seed: 2, precision: float32}
        models:
          - name: m
            factory: models/rnn.py:build_model
            <<: [*a, *b]
        """,
    )
    m = config.models[0]
    assert (m.seed, m.mode, m.precision) == (1, "full", "float32")  # earlier sources win


def test_module_factory_need_not_exist_in_the_repository(tmp_path):
    config = load(tmp_path, HEADER + "  - name: m\n    factory: some_pkg.models.rnn:build\n")
    assert config.problems == []
    assert resolve_factory(config.models[0], config.root) == (
        "module",
        "some_pkg.models.rnn",
        "build",
    )


def test_resolve_factory_file(tmp_path):
    config = load(
        tmp_path, HEADER + "  - name: m\n    factory: ./models/../models/rnn.py:build_model\n"
    )
    assert config.problems == []
    assert resolve_factory(config.models[0], config.root) == (
        "file",
        os.path.join(str(tmp_path), "models", "rnn.py"),
        "build_model",
    )
    assert resolve_reference("a.b:f", "/x") == ("module", "a.b", "f")


def test_root_argument(tmp_path, monkeypatch):
    (tmp_path / "ci").mkdir()
    path = write(tmp_path, HEADER + ENTRY, name="ci/gradcheck.yml")
    config = load_config(path, root=str(tmp_path))
    assert config.problems == [] and config.root == str(tmp_path)
    assert config.rel_path() == "ci/gradcheck.yml"
    # without root, paths are relative to the file's directory, where models/rnn.py is not
    config = load_config(path)
    assert config.root == str(tmp_path / "ci") and config.rel_path() == "gradcheck.yml"
    # ... and the message says which --root finds it (DIR: the folder is not below the working one)
    assert problems(config) == [
        (
            4,
            "factory file 'models/rnn.py' not found in the repository (the repository root is ci/, "
            "the config's folder unless --root is given; with --root DIR the path is "
            "'models/rnn.py')",
        )
    ]
    monkeypatch.chdir(tmp_path)
    assert "with --root . the path is 'models/rnn.py'" in problems(load_config(path))[0][1]


def test_relative_config_path(tmp_path, monkeypatch):
    write(tmp_path, HEADER + ENTRY)
    monkeypatch.chdir(tmp_path)
    config = load_config("gradcheck.yml")
    assert config.path == "gradcheck.yml" and config.root == str(tmp_path)
    assert config.rel_path() == "gradcheck.yml" and config.models[0].name == "m"


# ------------------------------------------------------------------------------- ConfigError cases


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "nope.yml"))
    e = info.value
    assert (e.message, e.line, e.column) == ("file not found", None, None)
    assert str(e) == f"{tmp_path / 'nope.yml'}: file not found"


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(str(tmp_path))


def test_non_utf8_names_the_line_of_the_first_bad_byte(tmp_path):
    path = tmp_path / "gradcheck.yml"
    path.write_bytes(b"version: 1\nmodels:\n  - name: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    e = info.value
    assert (e.line, e.column) == (3, 14)
    assert "not valid UTF-8 (byte 0xe9)" in e.message
    assert str(e).endswith(":3:14: " + e.message)


def test_utf16_is_named(tmp_path):
    path = tmp_path / "gradcheck.yml"
    path.write_bytes((HEADER + ENTRY).encode("utf-16"))
    with pytest.raises(ConfigError, match="UTF-16"):
        load_config(str(path))


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "gradcheck.yml"
    write(tmp_path, "")
    path.write_bytes(("\ufeff" + HEADER + ENTRY).encode("utf-8"))
    assert load_config(str(path)).models[0].name == "m"


def test_yaml_syntax_error(tmp_path):
    e = error(tmp_path, "version: 1\nmodels:\n  - name: a: b\n")
    assert (e.line, e.column) == (3, 12)
    assert e.message == "YAML syntax error: mapping values are not allowed here"
    assert "Traceback" not in str(e)


def test_yaml_syntax_error_with_context_line(tmp_path):
    e = error(tmp_path, "version: 1\nmodels: [a, b\n\n")
    assert e.line == 4
    assert (
        e.message == "YAML syntax error: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence on line 2)"
    )


def test_tab_indentation_hint(tmp_path):
    e = error(tmp_path, "version: 1\nmodels:\n\t- name: a\n")
    assert e.line == 3
    assert "tabs" in e.message and "'\\t'" in e.message


def test_control_character(tmp_path):
    e = error(tmp_path, "version: 1\nmodels: \x07\n")
    assert (e.line, e.column) == (2, 9)
    assert "#x0007" in e.message


def test_two_documents(tmp_path):
    e = error(tmp_path, "version: 1\n---\nversion: 1\n")
    assert e.line == 2
    assert e.message == (
        "YAML syntax error: expected a single document in the stream, but found another document"
    )


def test_undefined_alias(tmp_path):
    e = error(tmp_path, HEADER + "  - *nothing\n")
    assert e.line == 3 and "undefined alias" in e.message


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file(tmp_path, text):
    e = error(tmp_path, text)
    assert "no content" in e.message and "version: 1" in e.message


@pytest.mark.parametrize(
    "text, line", [("- a\n- b\n", 1), ("just text\n", 1), ("# a comment\n\n42\n", 3)]
)
def test_top_level_not_a_mapping(tmp_path, text, line):
    e = error(tmp_path, text)
    assert e.line == line and e.message.startswith(
        "the file must be a mapping with 'version' and 'models'"
    )


def test_version_missing(tmp_path):
    e = error(tmp_path, "models:\n" + ENTRY)
    assert e.message == "missing 'version: 1' (the format version) at the top level"
    assert e.line == 1


def test_version_as_string_says_write_1(tmp_path):
    e = error(tmp_path, "version: '1'\nmodels:\n" + ENTRY)
    assert (e.line, e.column) == (1, 10)
    assert e.message == "version must be the number 1, not the string '1': write version: 1"


@pytest.mark.parametrize(
    "value, message",
    [
        ("2", "unsupported version 2: this gradcheck-ci reads version 1"),
        ("true", "version must be 1, got true (a boolean)"),
        ("1.0", "version must be 1, got 1.0 (a number)"),
        ("", "version must be 1, got an empty value"),
        ("[1]", "version must be 1, got a list"),
    ],
)
def test_version_wrong(tmp_path, value, message):
    e = error(tmp_path, f"# gradcheck\nversion: {value}\nmodels:\n" + ENTRY)
    assert e.message == message and e.line == 2


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("version: 1\n", 1, "missing 'models': a list of the models to check"),
        (
            "version: 1\nmodel:\n  - {name: a, factory: m.py:f}\n",
            2,
            "missing 'models': a list of the models to check (is 'model' meant to be 'models'?)",
        ),
        ("version: 1\nmodels:\n", 2, "models is empty; list at least one model (name and factory)"),
        (
            "version: 1\nmodels: []\n",
            2,
            "models is empty; list at least one model (name and factory)",
        ),
        (
            "version: 1\nmodels:\n  name: a\n",
            3,
            "models must be a list of model entries, got a mapping",
        ),
        (
            "version: 1\nmodels: seed-rnn\n",
            2,
            "models must be a list of model entries, got the string 'seed-rnn'",
        ),
    ],
)
def test_models_missing_or_wrong(tmp_path, text, line, message):
    e = error(tmp_path, text)
    assert (e.line, e.message) == (line, message)


def test_config_error_str():
    assert str(ConfigError("bad", "g.yml", 3, 5)) == "g.yml:3:5: bad"
    assert str(ConfigError("bad", "g.yml", 3)) == "g.yml:3: bad"
    assert str(ConfigError("bad", "g.yml")) == "g.yml: bad"


def test_format_problem():
    assert format_problem("gradcheck.yml", ConfigProblem("m", 12, 5)) == "gradcheck.yml:12:5: m"
    assert format_problem("gradcheck.yml", ConfigProblem("m", 12)) == "gradcheck.yml:12: m"
    assert format_problem("gradcheck.yml", ConfigProblem("m", None)) == "gradcheck.yml: m"


# ---------------------------------------------------------------------------------- duplicate keys


def test_duplicate_top_level_key(tmp_path):
    config = load(tmp_path, HEADER + ENTRY + "version: 1\n")
    p = only_problem(config)
    assert (p.line, p.column, p.model) == (5, 1, None)
    assert p.message == "duplicate key 'version' in the top level (first on line 1)"
    assert len(config.models) == 1


def test_duplicate_key_in_model(tmp_path):
    config = load(tmp_path, HEADER + ENTRY + "    seed: 1\n    seed: 2\n")
    assert problems(config) == [(6, "duplicate key 'seed' in the model entry (first on line 5)")]
    assert config.problems[0].model == "m"
    assert config.models == []


def test_duplicate_key_in_data_and_nested_kwargs(tmp_path):
    config = load(
        tmp_path,
        HEADER
        + ENTRY
        + """\
    data:
      steps: 1
      steps: 2
    kwargs:
      opts:
        a: 1
        a: 2
""",
    )
    assert problems(config) == [
        (7, "duplicate key 'steps' in data (first on line 6)"),
        (11, "duplicate key 'a' in kwargs.opts (first on line 10)"),
    ]


def test_duplicate_key_in_defaults_is_file_level(tmp_path):
    config = load(tmp_path, "version: 1\ndefaults:\n  seed: 1\n  seed: 2\nmodels:\n" + ENTRY)
    p = only_problem(config)
    assert (p.line, p.model) == (4, None) and "duplicate key 'seed' in defaults" in p.message
    assert config.models[0].seed == 1


# ----------------------------------------------------------------------------------- unknown keys


def test_unknown_key_in_data_suggests(tmp_path):
    config = load(tmp_path, HEADER + ENTRY + "    data:\n      stpes: 3\n")
    p = only_problem(config)
    assert (p.line, p.column, p.model) == (6, 7, "m")
    assert p.message == "unknown key 'stpes' in data (did you mean 'steps'?)"


def test_unknown_key_with_no_close_match_lists_the_keys_there(tmp_path):
    config = load(tmp_path, HEADER + ENTRY + "    data:\n      height: 3\n")
    assert only_problem(config).message == (
        "unknown key 'height' in data (the keys: sequences, steps, features, classes, mask, inputs)"
    )
    config = load(tmp_path, "version: 1\nextras: 1\nmodels:\n" + ENTRY)
    assert only_problem(config).message == (
        "unknown key 'extras' at the top level (the keys: version, defaults, models)"
    )


def test_unknown_key_in_model(tmp_path):
    config = load(tmp_path, HEADER + ENTRY + "    presicion: float32\n    steps: 3\n    zzz: 1\n")
    assert problems(config) == [
        (5, "unknown key 'presicion' in model 'm' (did you mean 'precision'?)"),
        (6, "unknown key 'steps' in model 'm' (it belongs under 'data')"),
        (
            7,
            "unknown key 'zzz' in model 'm' (the keys: name, factory, kwargs, inputs, output, "
            "data, loss, params, precision, seed, mode, rtol, atol, directions, timeout, memory, "
            "expect, allow, lasagne)",
        ),
    ]
    assert config.models == []


def test_unknown_top_level_keys(tmp_path):
    config = load(tmp_path, "version: 1\nmodel: []\nseed: 1\nx-anything: {a: 1}\nmodels:\n" + ENTRY)
    assert problems(config) == [
        (2, "unknown key 'model' at the top level (did you mean 'models'?)"),
        (
            3,
            "unknown key 'seed' at the top level (model settings go under 'defaults' or in an "
            "entry of 'models')",
        ),
    ]
    assert all(p.model is None for p in config.problems)
    assert len(config.models) == 1


def test_unknown_and_forbidden_keys_in_defaults(tmp_path):
    config = load(
        tmp_path,
        """
        version: 1
        defaults:
          sead: 1
          name: x
          factory: models/rnn.py:build_model
          data: {clases: 3}
        models:
          - name: m
            factory: models/rnn.py:build_model
        """,
    )
    assert problems(config) == [
        (3, "unknown key 'sead' in defaults (did you mean 'seed'?)"),
        (4, "name cannot be set in defaults; give it in each model entry"),
        (5, "factory cannot be set in defaults; give it in each model entry"),
        (6, "unknown key 'clases' in defaults.data (did you mean 'classes'?)"),
    ]
    assert [m.name for m in config.models] == ["m"]


# ------------------------------------------------------------------------------------ wrong types


@pytest.mark.parametrize(
    "line, message",
    [
        ("seed: true", "seed must be an integer from 0 to 4,294,967,295, got true (a boolean)"),
        ("seed: -1", "seed must be an integer from 0 to 4,294,967,295, got -1 (a number)"),
        ("seed: 1.5", "seed must be an integer from 0 to 4,294,967,295, got 1.5 (a number)"),
        (
            "seed: '3'",
            "seed must be an integer from 0 to 4,294,967,295, got the string '3' (write it "
            "without quotes)",
        ),
        ("seed: [1]", "seed must be an integer from 0 to 4,294,967,295, got a list"),
        ("seed:", "seed must be an integer from 0 to 4,294,967,295, got an empty value"),
        ("directions: 0", "directions must be an integer from 1 to 10,000, got 0 (a number)"),
        ("memory: 1023", "memory must be an integer >= 1024, got 1023 (a number)"),
        ("memory: 1024.0", "memory must be an integer >= 1024, got 1024.0 (a number)"),
        (
            "memory: 99999999999999999999",
            "memory must be an integer from 1024 to 16,777,216, got 99999999999999999999 (a "
            "number)",
        ),
        (
            "data: {sequences: 100000000000}",
            "data.sequences must be an integer from 1 to 2,147,483,647, got 100000000000 (a "
            "number)",
        ),
        (
            "seed: " + "9" * 5000,
            "seed: cannot read '" + "9" * 55 + "...': a number of 5,000 digits",
        ),
        ("timeout: 0", "timeout must be a number > 0, got 0 (a number)"),
        ("timeout: true", "timeout must be a number > 0, got true (a boolean)"),
        ("timeout: .inf", "timeout must be a finite number > 0, got .inf (a number)"),
        ("timeout: {a: 1}", "timeout must be a number > 0, got a mapping"),
        ("rtol: 0", "rtol must be a number > 0, got 0 (a number)"),
        ("rtol: .nan", "rtol must be a finite number > 0, got .nan (a number)"),
        ("rtol: 1e400", "rtol must be a finite number > 0, got 1e400 (a number)"),
        ("rtol: tight", "rtol must be a number > 0, got the string 'tight'"),
        ("atol: -1.0e-3", "atol must be a number >= 0, got -1.0e-3 (a number)"),
        (
            "precision: flaot32",
            "precision must be one of float64, float32, got the string 'flaot32' "
            "(did you mean 'float32'?)",
        ),
        (
            "precision: float16",
            "precision must be one of float64, float32, got the string 'float16' "
            "(did you mean 'float64'?)",
        ),
        ("precision: 32", "precision must be one of float64, float32, got 32 (a number)"),
        (
            "lasagne: '0.2'",
            "lasagne must be one of 0.1, master, auto, got the string '0.2' (did you mean '0.1'?)",
        ),
        (
            "mode: ful",
            "mode must be one of auto, full, directional, got the string 'ful' (did you mean "
            "'full'?)",
        ),
        (
            "expect: failure",
            "expect must be one of pass, fail, got the string 'failure' (did you mean 'fail'?)",
        ),
        ("expect: false", "expect must be one of pass, fail, got false (a boolean)"),
        ("data: {mask: none}", "data.mask must be one of full, random, got the string 'none'"),
        ("data: {steps: 0}", "data.steps must be an integer >= 1, got 0 (a number)"),
        ("data: {sequences: true}", "data.sequences must be an integer >= 1, got true (a boolean)"),
        ("data: {features: 0}", "data.features must be an integer >= 1, got 0 (a number)"),
        ("data: {classes: 1}", "data.classes must be an integer >= 2, got 1 (a number)"),
        (
            "data: [1, 2]",
            "data must be a mapping (sequences, steps, features, classes, mask, inputs), "
            "got a list",
        ),
        ("kwargs: [1, 2]", "kwargs must be a mapping of keyword arguments, got a list"),
        ("kwargs: units", "kwargs must be a mapping of keyword arguments, got the string 'units'"),
    ],
)
def test_wrong_values(tmp_path, line, message):
    config = load(tmp_path, HEADER + ENTRY + "    " + line + "\n")
    p = only_problem(config)
    assert p.message == message
    assert p.line == 5 and p.model == "m"
    assert config.models == []


def test_column_points_at_the_value(tmp_path):
    p = only_problem(load(tmp_path, HEADER + ENTRY + "    seed: true\n"))
    assert (p.line, p.column) == (5, 11)


def test_problem_in_defaults_uses_builtin_default(tmp_path):
    config = load(
        tmp_path,
        """
        version: 1
        defaults:
          seed: true
          precision: float32
          data: {steps: 0, features: 3}
          kwargs: 5
        models:
          - name: m
            factory: models/rnn.py:build_model
        """,
    )
    assert problems(config) == [
        (3, "defaults.seed must be an integer from 0 to 4,294,967,295, got true (a boolean)"),
        (5, "defaults.data.steps must be an integer >= 1, got 0 (a number)"),
        (6, "defaults.kwargs must be a mapping of keyword arguments, got 5 (a number)"),
    ]
    assert all(p.model is None for p in config.problems)
    [m] = config.models
    assert (m.seed, m.precision, m.data.steps, m.data.features, m.kwargs) == (
        0,
        "float32",
        100,
        3,
        {},
    )
    assert "seed" not in m.key_lines and "data.steps" not in m.key_lines
    assert m.key_lines["data.features"] == 5


def test_defaults_not_a_mapping(tmp_path):
    config = load(tmp_path, "version: 1\ndefaults: [1]\nmodels:\n" + ENTRY)
    assert problems(config) == [(2, "defaults must be a mapping, got a list")]
    assert len(config.models) == 1


# ---------------------------------------------------------------------------- entries and names


def test_missing_name_and_factory_name_the_entry_line(tmp_path):
    config = load(tmp_path, HEADER + ENTRY + "  - seed: 1\n  - name: n\n    seed: 2\n")
    assert problems(config) == [
        (5, "this model entry is missing required key 'name'"),
        (5, "this model entry is missing required key 'factory'"),
        (6, "model 'n' is missing required key 'factory'"),
    ]
    assert [p.model for p in config.problems] == [None, None, "n"]
    assert [m.name for m in config.models] == ["m"]


def test_entry_not_a_mapping(tmp_path):
    config = load(tmp_path, HEADER + ENTRY + "  - seed-rnn\n  - [1]\n")
    assert problems(config) == [
        (
            5,
            "a model entry must be a mapping with at least 'name' and 'factory', got the string "
            "'seed-rnn'",
        ),
        (6, "a model entry must be a mapping with at least 'name' and 'factory', got a list"),
    ]
    assert [m.name for m in config.models] == ["m"]


def test_duplicate_model_names(tmp_path):
    second = ENTRY.replace("  - ", "  - seed: 1\n    ")
    config = load(tmp_path, HEADER + ENTRY + "  - name: x\n    factory: a.b:c\n" + second)
    p = only_problem(config)
    assert (p.line, p.model) == (7, None)
    assert p.message == "duplicate model name 'm' (first used on line 3)"
    assert [m.name for m in config.models] == ["m", "x"]


@pytest.mark.parametrize(
    "value, message",
    [
        (
            "my model",
            "name 'my model' is not allowed: use only letters, digits, '.', '_' and '-' "
            "(it names report files and ids)",
        ),
        (
            "a/b",
            "name 'a/b' is not allowed: use only letters, digits, '.', '_' and '-' (it names "
            "report files and ids)",
        ),
        (
            "''",
            "name must be a non-empty string of letters, digits, '.', '_' and '-' (it names report "
            "files and ids), got the string ''",
        ),
        ("..", "name '..' is not allowed: it must not be only dots"),
        (
            "123",
            "name must be a non-empty string of letters, digits, '.', '_' and '-' (it names report "
            "files and ids), got 123 (a number) (quote it to make it a string)",
        ),
        ("x" * 101, "name is longer than 100 characters"),
    ],
)
def test_bad_names(tmp_path, value, message):
    config = load(tmp_path, HEADER + f"  - factory: models/rnn.py:build_model\n    name: {value}\n")
    p = only_problem(config)
    assert (p.line, p.message, p.model) == (4, message, None)


def test_good_names(tmp_path):
    config = load(
        tmp_path,
        HEADER
        + "".join(
            f"  - name: {n}\n    factory: models/rnn.py:build_model\n"
            for n in ["a.b-c_D9", "'123'", "-x"]
        ),
    )
    assert [m.name for m in config.models] == ["a.b-c_D9", "123", "-x"]


def test_problems_in_one_model_leave_others_valid(tmp_path):
    config = load(
        tmp_path,
        HEADER + ENTRY + "  - name: bad\n    factory: "
        "models/rnn.py:build_model\n    seed: x\n  - name: good\n    factory: "
        "models/rnn.py:build_model\n",
    )
    assert [m.name for m in config.models] == ["m", "good"]
    assert [(p.line, p.model) for p in config.problems] == [(7, "bad")]


# ----------------------------------------------------------------------------------------- factory


NAME = "is not a Python name (a function, a layer variable, or Class.attribute)"


@pytest.mark.parametrize(
    "value, message",
    [
        (
            "models/rnn.py",
            "factory must look like 'path/to/file.py:function' or "
            "'package.module:function', got 'models/rnn.py'",
        ),
        (
            ":build",
            "factory must look like 'path/to/file.py:function' or 'package.module:function', "
            "got ':build'",
        ),
        ("models/rnn.py:", "factory: '' after ':' " + NAME),
        ("models/rnn.py:build-model", "factory: 'build-model' after ':' " + NAME),
        ("models/rnn.py:class", "factory: 'class' after ':' " + NAME),
        ("models/rnn.py:Model.build.more", "factory: 'Model.build.more' after ':' " + NAME),
        ("models/rnn.py:Model.build", None),
        (
            "/abs/models/rnn.py:f",
            "factory path '/abs/models/rnn.py' is absolute; write it relative to "
            "the repository root",
        ),
        ("../other/rnn.py:f", "factory path escapes the repository root: '../other/rnn.py'"),
        (
            "models/../../rnn.py:f",
            "factory path escapes the repository root: 'models/../../rnn.py'",
        ),
        ("models\\rnn.py:f", "factory path 'models\\\\rnn.py' uses '\\'; write paths with '/'"),
        ("./models/./gone.py:f", "factory file 'models/gone.py' not found in the repository"),
        (
            "models/rn.py:f",
            "factory file 'models/rn.py' not found in the repository (did you mean "
            "'models/rnn.py'?)",
        ),
        (
            "models/rnn:f",
            "factory path 'models/rnn' must name a .py file (did you mean 'models/rnn.py'?)",
        ),
        ("models:f", None),
        (
            "my-models.rnn:f",
            "factory: 'my-models.rnn' is neither a .py file path nor a dotted module name",
        ),
        (
            "models..rnn:f",
            "factory: 'models..rnn' is neither a .py file path nor a dotted module name",
        ),
        ("a:b:f", "factory: 'a:b' is neither a .py file path nor a dotted module name"),
        (
            42,
            "factory must be a string 'path/to/file.py:function' or 'package.module:function', "
            "got 42 (a number) (quote it to make it a string)",
        ),
    ],
)
def test_factory(tmp_path, value, message):
    config = load(
        tmp_path, HEADER + f"  - name: m\n    factory: {yaml.safe_dump(value).splitlines()[0]}\n"
    )
    if message is None:
        assert config.problems == [] and config.models[0].factory == value
        return
    p = only_problem(config)
    assert (p.line, p.column, p.message) == (4, 14, message)


def test_factory_directory_is_not_a_file(tmp_path):
    (tmp_path / "pkg.py").mkdir()
    config = load(tmp_path, HEADER + "  - name: m\n    factory: pkg.py:f\n")
    assert problems(config) == [(4, "factory file 'pkg.py' not found in the repository")]


# -------------------------------------------------------------------------------------------- loss


@pytest.mark.parametrize("loss", BUILTIN_LOSSES + ("models/rnn.py:my_loss", "pkg.losses:custom"))
def test_good_losses(tmp_path, loss):
    assert load(tmp_path, HEADER + ENTRY + f"    loss: '{loss}'\n").models[0].loss == loss


@pytest.mark.parametrize(
    "value, message",
    [
        (
            "categorical_crossentropi",
            "unknown loss 'categorical_crossentropi' (did you mean 'categorical_crossentropy'?)",
        ),
        (
            "mse",
            "unknown loss 'mse' (use one of categorical_crossentropy, binary_crossentropy, "
            "squared_error, or 'path/to/file.py:function')",
        ),
        ("'losses/x.py:f'", "loss file 'losses/x.py' not found in the repository"),
        ("'../x.py:f'", "loss path escapes the repository root: '../x.py'"),
        ("'pkg:not a name'", "loss: 'not a name' after ':' is not a Python function name"),
        (
            "''",
            "loss must be a loss name (categorical_crossentropy, binary_crossentropy, "
            "squared_error) or 'module:function', got the string ''",
        ),
        (
            "3",
            "loss must be a loss name (categorical_crossentropy, binary_crossentropy, "
            "squared_error) or 'module:function', got 3 (a number)",
        ),
    ],
)
def test_bad_losses(tmp_path, value, message):
    config = load(tmp_path, HEADER + ENTRY + f"    loss: {value}\n")
    assert problems(config) == [(5, message)]


# ------------------------------------------------------------------------------------------ params


def test_params_single_string_and_list(tmp_path):
    config = load(
        tmp_path,
        HEADER
        + ENTRY
        + "    params: 'Dense*'\n"
        + ENTRY.replace("name: m", "name: n")
        + "    params: [a.W, 'b.*']\n",
    )
    assert [m.params for m in config.models] == [["Dense*"], ["a.W", "b.*"]]


@pytest.mark.parametrize(
    "value, line, message",
    [
        ("[]", 5, "params is empty; use ['*'] to check every parameter"),
        (
            "['']",
            5,
            "params[0] must be a non-empty string (a parameter id or glob), got the string ''",
        ),
        (
            "\n      - a\n      - 3",
            7,
            "params[1] must be a non-empty string (a parameter id or glob), "
            "got 3 (a number) (quote it to make it a string)",
        ),
        (
            "{a: 1}",
            5,
            "params must be a list of parameter ids or globs such as ['*'], got a mapping",
        ),
        (
            "",
            5,
            "params must be a list of parameter ids or globs such as ['*'], got an empty value",
        ),
    ],
)
def test_bad_params(tmp_path, value, line, message):
    assert problems(load(tmp_path, HEADER + ENTRY + f"    params: {value}\n")) == [(line, message)]


# ------------------------------------------------------------------------------------------ kwargs


@pytest.mark.parametrize(
    "value, message",
    [
        (
            "{1: a}",
            "keys in kwargs must be strings, got 1 (a number) (quote it to make it a string)",
        ),
        (
            "{a: {true: 1}}",
            "keys in kwargs.a must be strings, got true (a boolean) (quote it to make it a string)",
        ),
        ("{d: 2024-01-02}", "kwargs.d: '2024-01-02' reads as a date; quote it to make it a string"),
        ("{d: 2024-13-45}", "kwargs.d: '2024-13-45' reads as a date; quote it to make it a string"),
        ("{b: !!binary aGVsbG8=}", "kwargs.b: unsupported YAML tag '!!binary'"),
        ("{c: !custom 1}", "kwargs.c: unsupported YAML tag '!custom'"),
        (
            "{c: !!python/object:os.system x}",
            "kwargs.c: unsupported YAML tag '!!python/object:os.system'",
        ),
        ("{s: !!set {a, b}}", "kwargs.s: unsupported YAML tag '!!set'"),
        ("{o: !!omap [a: 1]}", "kwargs.o: unsupported YAML tag '!!omap'"),
        ("{h: 0x_}", "kwargs.h: cannot read '0x_': invalid literal for int() with base 16: ''"),
        ("{[a]: 1}", "keys in kwargs must be plain names, got a list"),
    ],
)
def test_bad_kwargs(tmp_path, value, message):
    config = load(tmp_path, HEADER + ENTRY + f"    kwargs: {value}\n")
    assert problems(config) == [(5, message)]
    assert config.models == []


def test_recursive_alias_in_kwargs(tmp_path):
    config = load(tmp_path, HEADER + ENTRY + "    kwargs: {a: &x [1, *x]}\n")
    assert problems(config) == [(5, "kwargs.a[1] refers to itself through an alias")]


def test_recursive_merge_does_not_hang(tmp_path):
    config = load(tmp_path, HEADER + ENTRY + "    kwargs: &k {a: 1, <<: *k}\n")
    assert problems(config) == [
        (5, "'<<' in kwargs must be followed by an alias of another mapping (or a list of them)")
    ]


def test_alias_bomb_is_bounded(tmp_path, work):
    lines = ["version: 1", "x-0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"x-{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    lines += [
        "models:",
        "  - name: m",
        "    factory: models/rnn.py:build_model",
        "    kwargs: {bomb: *a9}",
    ]
    config = load(tmp_path, "\n".join(lines) + "\n")
    assert work["scalars"] <= MAX_KWARGS_VALUES  # the budget stops the read, not 9**10 values later
    [p] = config.problems
    assert p.line == 11 and "too large" in p.message


def test_merge_bomb_is_bounded(tmp_path, work):
    lines = ["version: 1", "x-0: &m0 {a: 1}"]
    lines += [f"x-{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}" for i in range(1, 40)]
    lines += [
        "models:",
        "  - name: m",
        "    factory: models/rnn.py:build_model",
        "    kwargs: {<<: *m39}",
    ]
    text = "\n".join(lines) + "\n"
    config = load(tmp_path, text)
    # each walked once, not 2**39 times
    assert work["mappings"] == distinct_nodes(text)["mappings"] == 43
    assert config.problems == [] and len(config.models[0].kwargs) == 40


def test_deep_kwargs(tmp_path):
    config = load(tmp_path, HEADER + ENTRY + "    kwargs: {a: " + "[" * 70 + "]" * 70 + "}\n")
    [p] = config.problems
    assert p.line == 5 and "nested more than 64 levels deep" in p.message


def test_problem_from_merged_mapping_applies_to_every_model(tmp_path):
    config = load(
        tmp_path,
        """
        version: 1
        x-base: &base {seed: 1, seed: 2}
        models:
          - name: a
            factory: models/rnn.py:build_model
            <<: *base
          - name: b
            factory: models/rnn.py:build_model
            <<: *base
        """,
    )
    assert [(p.line, p.model) for p in config.problems] == [(2, "a"), (2, "b")]
    assert config.models == []


def test_unsupported_tags_in_structure(tmp_path):
    config = load(tmp_path, HEADER + ENTRY + "    data: !!set {steps}\n    seed: !thing 3\n")
    assert problems(config) == [
        (5, "data: unsupported YAML tag '!!set'"),
        (5, "data.steps must be an integer >= 1, got an empty value"),
        (6, "seed: unsupported YAML tag '!thing'"),
    ]


def test_alias_of_a_whole_entry_is_a_duplicate(tmp_path):
    config = load(
        tmp_path, HEADER + "  - &m {name: m, factory: 'models/rnn.py:build_model'}\n  - *m\n"
    )
    assert problems(config) == [(3, "duplicate model name 'm' (first used on line 3)")]
    assert len(config.models) == 1


# ------------------------------------------------------------------------------- misc and limits


def test_two_hundred_models_cost_a_bounded_work_per_node(tmp_path, work):
    entry = """\
  - name: m{i}
    factory: models/rnn.py:build_model
    kwargs: {{gradient_steps: 1, num_units: 32, grad_clipping: 100}}
    data:
      sequences: 10
      steps: 100
      mask: random
    loss: categorical_crossentropy
    params: ["*"]
    precision: float32
    seed: {i}
    rtol: 1.0e-4
    timeout: 600
"""
    text = HEADER + "".join(entry.format(i=i) for i in range(200))
    config = load_config(write(tmp_path, text))
    assert len(config.models) == 200 and config.problems == []
    # Linear in the file, whatever the machine's load: every mapping is walked once, and every value
    # is constructed at most twice (a look for an empty value, then the read).
    nodes = distinct_nodes(text)
    assert work["mappings"] == nodes["mappings"] == 601
    assert nodes["scalars"] <= work["scalars"] <= 2 * nodes["scalars"]


# ------------------------------------------------------------------------------ property tests

YAMLISH = st.lists(
    st.sampled_from(
        list("abcmnoprstvy019 :-_.,'\"#&*!|>[]{}?%@`\\\t\n")
        + [
            "version",
            "models",
            "name",
            "factory",
            "defaults",
            "data",
            "kwargs",
            "<<",
            ": ",
            "\n  - ",
            "\n    ",
            "1",
            "true",
            "null",
            "~",
            "&a ",
            "*a",
            "!!set ",
            "!!str ",
            "!!binary ",
            "---",
            "...",
            "é",
            "\x00",
            "\ufeff",
            "\x85",
            "\u2028",
        ]
    ),
    max_size=80,
).map("".join)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**30),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "float32",
            "auto",
            "full",
            "fail",
            "models/rnn.py:build_model",
            "a.b:c",
            "../x.py:f",
            "*",
            "random",
            "1e-3",
            "2024-01-01",
            "0x_",
            "mse",
        ]
    ),
)
NESTED = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.one_of(
                st.sampled_from(
                    [
                        "version",
                        "models",
                        "defaults",
                        "name",
                        "factory",
                        "kwargs",
                        "data",
                        "loss",
                        "params",
                        "precision",
                        "seed",
                        "mode",
                        "rtol",
                        "atol",
                        "directions",
                        "timeout",
                        "memory",
                        "expect",
                        "steps",
                        "classes",
                        "mask",
                        "sequences",
                        "features",
                    ]
                ),
                st.text(max_size=5),
                st.integers(0, 3),
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=25,
)
MODEL_ENTRY = st.fixed_dictionaries(
    {
        "name": st.one_of(st.sampled_from(["a", "b", "c"]), SCALARS),
        "factory": st.one_of(st.sampled_from(["models/rnn.py:build_model", "pkg.m:f"]), SCALARS),
    },
    optional={
        k: NESTED
        for k in [
            "kwargs",
            "data",
            "loss",
            "params",
            "precision",
            "seed",
            "mode",
            "rtol",
            "atol",
            "directions",
            "timeout",
            "memory",
            "expect",
            "extra",
        ]
    },
)
SEMI_VALID = st.fixed_dictionaries(
    {
        "version": st.one_of(st.just(1), SCALARS),
        "models": st.one_of(st.lists(MODEL_ENTRY, max_size=4), NESTED),
    },
    optional={"defaults": st.one_of(NESTED, MODEL_ENTRY)},
)


UNLOCATED_ERRORS = (
    "file has no content",
    "YAML is nested too deeply",
    "cannot parse YAML",
    "YAML syntax error",
)


def check_never_crashes(root, text: str) -> None:
    path = root / "gradcheck.yml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        config = load_config(str(path))
    except ConfigError as e:
        assert e.message
        assert e.line is None or e.line >= 1
        assert (e.line is None) == (e.column is None)  # located errors carry both
        if e.line is None:  # only errors about the file as a whole have no place in it
            assert e.message.startswith(UNLOCATED_ERRORS), e.message
        str(e)
        return
    assert isinstance(config, Config)
    for p in config.problems:
        assert isinstance(p.line, int) and p.line >= 1, p
        assert p.message
    names = [m.name for m in config.models]
    assert len(names) == len(set(names))
    for m in config.models:
        assert ModelSpec.from_json(json.loads(json.dumps(m.to_json()))) == m


@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=YAMLISH)
def test_random_yamlish_text_never_crashes(tmp_path, text):
    check_never_crashes(tmp_path, text)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.one_of(NESTED, SEMI_VALID), flow=st.booleans())
def test_random_dumped_data_never_crashes(tmp_path, data, flow):
    (tmp_path / "models").mkdir(exist_ok=True)
    (tmp_path / "models" / "rnn.py").write_text("")
    check_never_crashes(tmp_path, yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True))


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=SEMI_VALID,
    cut=st.integers(0, 400),
    junk=st.sampled_from(["", ":", "- ", "&x", "*x", "  ", "\t", "]"]),
)
def test_damaged_configs_never_crash(tmp_path, data, cut, junk):
    text = yaml.safe_dump(data)
    check_never_crashes(tmp_path, text[:cut] + junk + text[cut:])


class _Dumper(yaml.SafeDumper):
    """Quotes strings such as '1e-3' that the config loader reads as floats (YAML 1.2)."""


_Dumper.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)

# Characters PyYAML's dumper writes unquoted but its reader treats as line breaks or rejects.
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=8)
JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**9), 10**9),
        st.floats(allow_nan=False, allow_infinity=False),
        TEXT,
    ),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(TEXT.filter(lambda k: k and k != "<<"), inner, max_size=3)
    ),
    max_leaves=10,
)
VALID_MODEL = st.fixed_dictionaries(
    {
        "name": st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,20}", fullmatch=True),
        "factory": st.sampled_from(
            ["models/rnn.py:build_model", "pkg.mod:make", "./models/rnn.py:f"]
        ),
    },
    optional={
        "kwargs": st.dictionaries(TEXT.filter(lambda k: k and k != "<<"), JSON_VALUES, max_size=4),
        "data": st.fixed_dictionaries(
            {},
            optional={
                "sequences": st.integers(1, 99),
                "steps": st.integers(1, 10**6),
                "features": st.integers(1, 99),
                "classes": st.integers(2, 99),
                "mask": st.sampled_from(["full", "random"]),
            },
        ),
        "loss": st.sampled_from(list(BUILTIN_LOSSES) + ["pkg.losses:l", None]),
        "params": st.lists(TEXT.filter(bool), min_size=1, max_size=3),
        "precision": st.sampled_from(["float64", "float32"]),
        "seed": st.integers(0, 2**32 - 1),
        "mode": st.sampled_from(["auto", "full", "directional"]),
        "rtol": st.floats(min_value=1e-300, max_value=1e300),
        "atol": st.floats(min_value=0, max_value=1e300),
        "directions": st.integers(1, 50),
        "timeout": st.one_of(st.integers(1, 10**6), st.floats(1e-3, 1e6)),
        "memory": st.integers(1024, 10**6),
        "expect": st.sampled_from(["pass", "fail"]),
    },
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(models=st.lists(VALID_MODEL, min_size=1, max_size=4, unique_by=lambda m: m["name"]))
def test_valid_models_load_exactly(tmp_path, models):
    (tmp_path / "models").mkdir(exist_ok=True)
    (tmp_path / "models" / "rnn.py").write_text("")
    path = tmp_path / "gradcheck.yml"
    path.write_text(
        yaml.dump({"version": 1, "models": models}, Dumper=_Dumper, allow_unicode=True),
        encoding="utf-8",
    )
    config = load_config(str(path))
    assert config.problems == []
    assert len(config.models) == len(models)
    for spec, given_model in zip(config.models, models, strict=True):
        expected = ModelSpec(
            name=given_model["name"],
            factory=given_model["factory"],
            data=DataSpec(**given_model.get("data", {})),
        )
        for key in (
            "kwargs",
            "loss",
            "params",
            "precision",
            "seed",
            "mode",
            "rtol",
            "atol",
            "directions",
            "timeout",
            "memory",
            "expect",
        ):
            if key in given_model:
                setattr(expected, key, given_model[key])
        expected.line, expected.key_lines = spec.line, spec.key_lines
        assert spec == expected
        assert set(given_model) <= set(spec.key_lines)
        assert ModelSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec
