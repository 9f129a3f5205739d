"""The model side without Theano (gradcheck_ci/model/call.py and shapes.py): kwargs that do not fit
the factory, and the input shapes the synthetic data can and cannot fill."""

from __future__ import annotations

import pytest

from gradcheck_ci.config import DataSpec
from gradcheck_ci.config.spec import InputRange
from gradcheck_ci.core.errors import ModelLoadError
from gradcheck_ci.model.built import BuiltModel, InputInfo
from gradcheck_ci.model.call import call_factory, kwargs_error
from gradcheck_ci.model.factory import Factory
from gradcheck_ci.model.shapes import data_overrides, data_summary, input_shape, shape_inputs
from gradcheck_ci.usercode import sites
from tests.samples import spec


def test_kwargs_that_do_not_fit_point_at_the_offending_kwarg():
    import inspect

    def build(num_units=2, depth=1):
        pass

    try:
        inspect.signature(build).bind(units=3)
    except TypeError as exc:
        error = kwargs_error(
            exc,
            inspect.signature(build),
            Factory(build, None),
            spec(kwargs={"units": 3}),
            "gradcheck.yml",
        )
    assert (error.file, error.line, error.kind) == ("gradcheck.yml", 8, "config")
    assert (
        "unexpected keyword argument 'units' (did you mean 'num_units'?); it accepts: num_units, "
        "depth" in error.message
    )


def test_a_number_quoted_in_kwargs_is_named_beside_the_factorys_type_error(tmp_path):
    def build(units=2, name="net"):
        return units + 1  # str + int: the factory's TypeError

    with pytest.raises(ModelLoadError) as raised:
        call_factory(
            Factory(build, None),
            spec(kwargs={"units": "5", "name": "12"}),
            str(tmp_path),
            "gradcheck.yml",
        )
    assert raised.value.message.endswith(
        "; in kwargs, units is the string '5' (gradcheck.yml:8), name is the string '12' "
        "(gradcheck.yml:3): without quotes, YAML reads a number"
    )

    def fails(units=2):
        raise TypeError("not about the kwargs")

    for kwargs in ({"units": 5}, {"units": "five"}, {"units": "nan"}):
        with pytest.raises(ModelLoadError) as raised:
            call_factory(Factory(fails, None), spec(kwargs=kwargs), str(tmp_path), "gradcheck.yml")
        assert "YAML" not in raised.value.message, kwargs


def test_a_mapping_in_kwargs_is_an_object_with_its_keys_as_attributes_too(tmp_path):
    """Builders that take an argparse Namespace or a config object get one from a YAML mapping."""

    def build(args, config):
        assert args.vocab_size == args["vocab_size"] == vars(args)["vocab_size"] == 50
        assert hasattr(args, "hidden") and not hasattr(args, "missing")
        assert getattr(args, "dropout", 0.0) == 0.0 and isinstance(config, dict)
        return config.layers[0].units + config["layers"][1]["units"]

    given = spec(
        kwargs={
            "args": {"vocab_size": 50, "hidden": 8},
            "config": {"layers": [{"units": 3}, {"units": 4}]},
        }
    )
    value, _ = call_factory(Factory(build, None), given, str(tmp_path), "gradcheck.yml")
    assert value == 7
    assert given.kwargs["args"] == {"vocab_size": 50, "hidden": 8}  # the spec is unchanged

    def iterate(options):  # a key named like one of dict's methods keeps the method
        return sorted(options.values()), options.items is not None, options.depth

    value, _ = call_factory(
        Factory(iterate, None),
        spec(kwargs={"options": {"values": 1, "depth": 2}}),
        str(tmp_path),
        "gradcheck.yml",
    )
    assert value == ([1, 2], True, 2)


def test_a_key_the_factory_reads_that_kwargs_do_not_give_is_a_config_error_at_its_mapping(
    tmp_path,
):
    def by_key(hp):
        return hp["n_in"] + hp["n_out"]

    def by_attribute(args):
        return args.n_in + args.n_hidden

    def tolerant(args, hp):  # what code does to read an optional setting still works
        try:
            extra = hp["extra"]
        except KeyError:
            extra = 0
        return getattr(args, "dropout", 0.5) + extra + hasattr(args, "missing")

    given = spec(
        kwargs={"hp": {"n_in": 4}, "args": {"n_in": 4}},
        key_lines={"kwargs": 7, "kwargs.hp": 8, "kwargs.args": 9},
    )
    for factory, name, path, line, kind in (
        (by_key, "n_out", "kwargs.hp", 8, "KeyError"),
        (by_attribute, "n_hidden", "kwargs.args", 9, "AttributeError"),
    ):
        arguments = {"hp": given.kwargs["hp"]} if path.endswith("hp") else {}
        one = spec(kwargs=arguments or {"args": given.kwargs["args"]}, key_lines=given.key_lines)
        with pytest.raises(ModelLoadError) as raised:
            call_factory(Factory(factory, None), one, str(tmp_path), "ci/gradcheck.yml")
        error = raised.value
        assert (error.file, error.line, error.kind) == ("ci/gradcheck.yml", line, "config")
        assert error.message.startswith(
            f"{kind}: {name!r} (building model 'net'): the factory reads"
        )
        assert error.message.endswith(
            f"reads {name!r} from `{path}`, which ci/gradcheck.yml does not give; add "
            f"`{name}: ...` there"
        )
    value, _ = call_factory(Factory(tolerant, None), given, str(tmp_path), "gradcheck.yml")
    assert value == 0.5


def test_an_input_variable_given_an_inputlayer_by_inputs_is_a_config_error_at_its_line(tmp_path):
    from gradcheck_ci.config.spec import InputSpec

    class InputLayer:  # what `inputs:` makes, where the code wants a Theano variable
        pass

    def build(input_var=None):
        return input_var.ndim  # as InputLayer(shape, input_var=input_var) reads it

    given = spec(inputs={"input_var": InputSpec([None, 3])}, key_lines={"inputs.input_var": 9})
    with pytest.raises(ModelLoadError) as raised:
        call_factory(
            Factory(build, None), given, str(tmp_path), "gradcheck.yml", {"input_var": InputLayer()}
        )
    error = raised.value
    assert (error.file, error.line, error.kind) == ("gradcheck.yml", 9, "config")
    assert "`inputs:` makes an InputLayer for input_var, but the code uses it as a Theano " in (
        error.message
    )


def test_a_whole_number_written_as_a_float_is_named_where_the_code_needs_an_integer(tmp_path):
    def build(width=8):
        return list(range(width))

    given = spec(kwargs={"width": 8.0}, key_lines={"kwargs": 7, "kwargs.width": 9})
    with pytest.raises(ModelLoadError) as raised:
        call_factory(Factory(build, None), given, str(tmp_path), "gradcheck.yml")
    error = raised.value
    assert (error.file, error.line, error.kind) == ("gradcheck.yml", 9, "config")
    assert error.message.endswith(
        "in kwargs, width is the float 8.0, where the code needs an integer: write 8"
    )
    assert "Python 2" not in error.message  # the float came from YAML, not from `/`


# ------------------------------------------------------------------------------------ data shapes


class FakeLayer:
    def __init__(self, shape):
        self.shape = shape


@pytest.mark.parametrize(
    "shape, kind, message",
    [
        ((None, 2, None, None, None), "other", "cannot fill dimension 2 of a 5-D input"),
        ((None, None, 1), "mask", "mask input has 3 dimensions, expected (sequences, steps)"),
        ((None, 0), "matrix", "dimension 1 has size 0"),
    ],
)
def test_input_shapes_data_cannot_fill(shape, kind, message):
    info = InputInfo(FakeLayer(shape), kind, "InputLayer#0", sites.CallSite("models/net.py", 6))
    with pytest.raises(ModelLoadError) as caught:
        input_shape(info, DataSpec())
    assert message in caught.value.message
    assert (caught.value.file, caught.value.line, caught.value.kind) == ("models/net.py", 6, "data")
    unlocated = InputInfo(FakeLayer(shape), kind, "InputLayer#0", None)
    with pytest.raises(ModelLoadError) as caught:
        input_shape(unlocated, DataSpec(), fallback=("gradcheck.yml", 9))
    assert (caught.value.file, caught.value.line) == ("gradcheck.yml", 9)


def test_input_shapes_data_fills():
    def shape(s, kind="matrix"):
        return input_shape(
            InputInfo(FakeLayer(s), kind, "in", None), DataSpec(sequences=3, steps=7, features=5)
        )

    assert shape((None, None, None), "sequence") == (3, 7, 5)
    assert shape((None, None), "mask") == (3, 7)
    assert shape((None, 4)) == (3, 4)


class FakeVariable:
    def __init__(self, dtype, name=None):
        self.dtype = dtype
        self.name = name


class FakeInput(FakeLayer):
    def __init__(self, shape, dtype="float64", name=None, variable=None):
        super().__init__(shape)
        self.name = name
        self.input_var = FakeVariable(dtype, variable)


def test_integer_matrices_are_token_ids_filled_with_steps():
    data = DataSpec(sequences=3, steps=7, features=5)
    ids = InputInfo(FakeInput((None, None), "int32"), "matrix", "InputLayer#0", None)
    assert input_shape(ids, data) == (3, 7)
    floats = InputInfo(FakeInput((None, None), "float32"), "matrix", "InputLayer#0", None)
    assert input_shape(floats, data) == (3, 5)
    assert ids.is_integer and not floats.is_integer
    named = InputInfo(
        FakeInput((None,), "int32", name="l_ids", variable="item_ids"), "other", "l_ids", None
    )
    assert named.names() == ["l_ids", "l_ids", "item_ids"]


def test_a_fixed_shape_that_wins_over_data_written_in_gradcheck_yml_is_a_notice():
    fixed = InputInfo(
        FakeInput((100, 55, 2)), "sequence", "InputLayer#0", sites.CallSite("protein.py", 16)
    )
    free = InputInfo(
        FakeInput((None, None, 2)), "sequence", "InputLayer#1", sites.CallSite("protein.py", 17)
    )
    built = BuiltModel(None, [], {}, {}, [fixed, free], [])
    given = spec(
        data=DataSpec(sequences=8, steps=20),
        key_lines={"data": 9, "data.sequences": 9, "data.steps": 9},
    )
    [notice] = data_overrides(built.inputs, given, "gradcheck.yml")
    assert (notice.code, notice.file, notice.line) == ("data-override", "protein.py", 16)
    assert notice.message == (
        "input InputLayer#0 has the fixed shape (100, 55, 2), so it is checked at that size, "
        "not at data.sequences: 8, data.steps: 20 (gradcheck.yml:9); a None dimension in the "
        "InputLayer's shape takes its size from `data`"
    )
    # sizes gradcheck.yml does not write are no news: the built-in defaults are not the user's
    # request
    assert (
        data_overrides(built.inputs, spec(data=DataSpec(sequences=8, steps=20)), "gradcheck.yml")
        == []
    )
    assert data_summary(built.inputs, given) == {
        "shapes": {"InputLayer#0": [100, 55, 2], "InputLayer#1": [8, 20, 2]},
        "dtypes": {"InputLayer#0": "float64", "InputLayer#1": "float64"},
    }


def test_the_missing_arguments_message_names_the_config_file_it_read():
    def build(incoming):
        pass

    import inspect

    signature = inspect.signature(build)
    given = spec(kwargs={}, key_lines={"kwargs": 7})
    try:
        signature.bind(**given.kwargs)
    except TypeError as exc:
        error = kwargs_error(exc, signature, Factory(build, None), given, "ci/mistakes.yml")
    assert "needs arguments that ci/mistakes.yml does not give: incoming" in error.message


def test_a_factory_that_needs_layers_or_variables_is_told_what_to_write():
    import inspect

    def build_tagger(incoming, input_var, num_units, mask=None):
        pass

    signature = inspect.signature(build_tagger)
    given = spec(kwargs={"num_units": 3}, key_lines={"kwargs": 7})
    try:
        signature.bind(**given.kwargs)
    except TypeError as exc:
        error = kwargs_error(exc, signature, Factory(build_tagger, None), given, "gradcheck.yml")
    assert (error.file, error.line, error.kind) == ("gradcheck.yml", 3, "config")
    assert error.message == (
        "factory 'models/net.py:build' needs arguments that gradcheck.yml does not give: incoming, "
        "input_var. A Theano input variable such as 'input_var' can be null (`kwargs: {input_var: "
        "null}`): an InputLayer given input_var=None makes its own. An argument that takes a layer "
        "goes in `inputs:` and gradcheck-ci makes the InputLayer, e.g. `inputs: {incoming: {shape: "
        "[null, null, 8]}}` (null sizes come from `data`; a mask: `{shape: [null, null], mask: "
        "true}`); any other value goes in `kwargs:`"
    )


def test_an_input_argument_the_factory_does_not_take_is_blamed_on_its_line():
    import inspect

    from gradcheck_ci.config.spec import InputSpec

    def build_BiLSTM(incoming, num_units, mask=None):
        pass

    signature = inspect.signature(build_BiLSTM)
    given = spec(
        kwargs={"num_units": 3},
        inputs={"incomig": InputSpec([None, None, 4])},
        key_lines={"kwargs": 7, "inputs": 8, "inputs.incomig": 9},
    )
    try:
        signature.bind(incomig=None, **given.kwargs)
    except TypeError as exc:
        error = kwargs_error(exc, signature, Factory(build_BiLSTM, None), given, "gradcheck.yml")
    assert (error.file, error.line) == ("gradcheck.yml", 9)
    assert error.message.startswith("kwargs and inputs do not fit factory 'models/net.py:build': ")
    assert (
        "unexpected keyword argument 'incomig' (did you mean 'incoming'?); it accepts: incoming, "
        "num_units, mask" in error.message
    )


def test_the_build_shapes_its_inputs_once_into_the_record_the_check_reads():
    ids = InputInfo(FakeInput((None, None), "int32", name="ids"), "matrix", "ids", None)
    fixed = InputInfo(
        FakeInput((100, 55, 2)), "sequence", "InputLayer#0", sites.CallSite("protein.py", 16)
    )
    given = spec(
        data=DataSpec(sequences=8, steps=20, inputs={"ids": InputRange(high=50, low=3)}),
        key_lines={"data": 9, "data.sequences": 9},
    )
    shaped = shape_inputs([ids, fixed], [], given, "gradcheck.yml")
    assert shaped.shapes == [(8, 20), (100, 55, 2)]
    assert shaped.summary == data_summary([ids, fixed], given)
    assert [n.code for n in shaped.notices] == ["data-override"]
    assert ids.integers == (3, 50)


def test_an_input_data_cannot_shape_is_reported_before_a_range_for_no_input():
    # two faults in one model: the shape error has always come first, and still does
    odd = InputInfo(FakeInput((None, 2, None, None, None)), "other", "InputLayer#0", None)
    given = spec(
        data=DataSpec(inputs={"missing": InputRange(high=5)}),
        key_lines={"data": 9, "data.inputs.missing": 11},
    )
    with pytest.raises(ModelLoadError) as caught:
        shape_inputs([odd], [], given, "gradcheck.yml")
    assert "cannot fill dimension 2 of a 5-D input" in caught.value.message
    assert (caught.value.file, caught.value.line) == ("gradcheck.yml", 9)
