"""The keys for factories as real repositories write them: `inputs:` (InputLayers made for the
factory's arguments, names the user chooses, each a section of fixed keys), `output:` (which
returned value is the output layer) and `data.inputs` (the range of an integer input). Every message
as users see it."""

from __future__ import annotations

import json

import pytest

from gradcheck_ci.config import ModelSpec, format_problem
from gradcheck_ci.config.spec import InputRange, InputSpec
from tests.unit.test_config import ENTRY, HEADER, load


def messages(config) -> list[str]:
    return [format_problem("gradcheck.yml", p) for p in config.problems]


def test_inputs_output_and_integer_ranges_are_read(tmp_path):
    config = load(
        tmp_path,
        HEADER
        + ENTRY
        + (
            "    inputs:\n"
            "      incoming: {shape: [null, null, 50], dtype: float32}\n"
            "      mask: {shape: [null, null], mask: true}\n"
            "    output: l_out\n"
            "    data: {inputs: {word_ids: {high: 5000}, offsets: {low: -3, high: 4}}}\n"
        ),
    )
    assert config.problems == []
    [m] = config.models
    assert m.inputs == {
        "incoming": InputSpec([None, None, 50], "float32", False),
        "mask": InputSpec([None, None], None, True),
    }
    assert m.output == "l_out"
    assert m.data.inputs == {
        "word_ids": InputRange(high=5000),
        "offsets": InputRange(high=4, low=-3),
    }
    assert m.key_lines["inputs.mask.mask"] == 7 and m.key_lines["data.inputs.word_ids"] == 9
    assert ModelSpec.from_json(json.loads(json.dumps(m.to_json()))) == m


@pytest.mark.parametrize("output", ["0", "3", "'1'", "out"])
def test_output_is_an_index_or_a_name(tmp_path, output):
    [m] = load(tmp_path, HEADER + ENTRY + f"    output: {output}\n").models
    assert m.output == (int(output) if output.isdigit() else output.strip("'"))


def test_a_model_takes_the_inputs_of_defaults_name_by_name(tmp_path):
    config = load(
        tmp_path,
        "version: 1\ndefaults:\n"
        "  inputs: {mask: {shape: [null, null], mask: true}, x: {shape: [null, 3], "
        "dtype: float32}}\nmodels:\n" + ENTRY + "    inputs: {x: {shape: [null, 7]}}\n",
    )
    [m] = config.models
    # x is the model's own, whole: its dtype does not come from defaults' x
    assert m.inputs == {"mask": InputSpec([None, None], None, True), "x": InputSpec([None, 7])}


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "    inputs: [x]\n",
            "gradcheck.yml:5:13: inputs must be a mapping of names, each a mapping of shape, "
            "dtype, mask; got a list",
        ),
        (
            "    inputs: {1x: {shape: [null]}}\n",
            "gradcheck.yml:5:14: inputs: '1x' is not a Python argument name (the factory's "
            "argument that receives the InputLayer)",
        ),
        (
            "    inputs: {x: {dtype: int32}}\n",
            "gradcheck.yml:5:17: inputs.x is missing required key 'shape'",
        ),
        (
            "    inputs: {x: {shape: 3}}\n",
            "gradcheck.yml:5:25: inputs.x.shape must be a list of sizes (integers >= 1, or null to "
            "fill from `data`), such as [null, null, 50], got 3 (a number)",
        ),
        (
            "    inputs: {x: {shape: []}}\n",
            "gradcheck.yml:5:25: inputs.x.shape is empty; an input has at least one dimension, "
            "e.g. [null, 50]",
        ),
        (
            "    inputs: {x: {shape: [null, 0]}}\n",
            "gradcheck.yml:5:32: inputs.x.shape[1] must be an integer >= 1, or null to fill it "
            "from `data`, got 0 (a number)",
        ),
        (
            "    inputs: {x: {shape: [null, 99999999999]}}\n",
            "gradcheck.yml:5:32: inputs.x.shape[1] must be an integer from 1 to 2,147,483,647, or "
            "null to fill it from `data`, got 99999999999 (a number)",
        ),
        (
            "    inputs: {x: {shape: [null], dtype: flaot32}}\n",
            "gradcheck.yml:5:40: inputs.x.dtype must be one of float32, float64, int8, int16, "
            "int32, int64, uint8, uint16, uint32, uint64, got the string 'flaot32' (did you mean "
            "'float32'?)",
        ),
        (
            "    inputs: {x: {shape: [null], shpae: 1}}\n",
            "gradcheck.yml:5:33: unknown key 'shpae' in inputs.x (did you mean 'shape'?)",
        ),
        (
            "    inputs: {m: {shape: [null, null, 2], mask: true}}\n",
            "gradcheck.yml:5:17: inputs.m: a mask has 2 dimensions (sequences, steps); this shape "
            "has 3",
        ),
        (
            "    inputs: {m: {shape: [null, null], mask: yes please}}\n",
            "gradcheck.yml:5:45: inputs.m.mask must be true or false, got the string 'yes please'",
        ),
        (
            "    inputs: {x: {shape: [null]}}\n    kwargs: {x: 3}\n",
            "gradcheck.yml:5: 'x' is in both inputs and kwargs (line 6): the factory's argument "
            "gets either the InputLayer or the keyword argument; remove one",
        ),
        (
            "    output: -1\n",
            "gradcheck.yml:5:13: output must be an index >= 0 (of the tuple or list the factory "
            "returns), a dict key or a layer name, got -1 (a number)",
        ),
        (
            "    output: [1]\n",
            "gradcheck.yml:5:13: output must be an index >= 0 (of the tuple or list the factory "
            "returns), a dict key or a layer name, got a list",
        ),
        (
            "    data: {inputs: {ids: {low: 5}}}\n",
            "gradcheck.yml:5:26: data.inputs.ids is missing required key 'high'",
        ),
        (
            "    data: {inputs: {ids: {low: 5, high: 5}}}\n",
            "gradcheck.yml:5:26: data.inputs.ids: low (5) must be below high (5): integers are "
            "drawn from low <= value < high",
        ),
        (
            "    data: {inputs: {ids: {high: 2.5}}}\n",
            "gradcheck.yml:5:33: data.inputs.ids.high must be an integer, got 2.5 (a number)",
        ),
        (
            "    data: {inputs: {a.b: {high: 2}}}\n",
            "gradcheck.yml:5:21: data.inputs: 'a.b' is not an input name (an InputLayer's name, "
            "its input variable's name, an `inputs` argument name or a label such as InputLayer#0; "
            "no dots)",
        ),
    ],
)
def test_invalid_inputs_output_and_ranges(tmp_path, text, message):
    config = load(tmp_path, HEADER + ENTRY + text)
    assert messages(config) == [message]
    assert config.models == []  # the entry is not run; its problem is reported


def test_a_bad_input_in_defaults_is_reported_once_and_models_keep_theirs(tmp_path):
    config = load(
        tmp_path,
        "version: 1\ndefaults:\n  inputs: {x: {shape: nope}}\nmodels:\n"
        + ENTRY
        + "    inputs: {y: {shape: [null, 2]}}\n",
    )
    assert messages(config) == [
        "gradcheck.yml:3:23: defaults.inputs.x.shape must be a list of sizes (integers >= 1, or "
        "null to fill from `data`), such as [null, null, 50], got the string 'nope'"
    ]
    [m] = config.models
    assert m.inputs == {"y": InputSpec([None, 2])}
