"""The model side without Theano (gradcheck_ci/model.py): kwargs that do not fit the factory, and the input
shapes the synthetic data can and cannot fill."""
from __future__ import annotations

import pytest

from gradcheck_ci import blame, model
from gradcheck_ci.config import DataSpec
from gradcheck_ci.errors import ModelLoadError
from tests.samples import spec


def test_kwargs_that_do_not_fit_point_at_the_offending_kwarg():
    import inspect

    def build(num_units=2, depth=1):
        pass

    try:
        inspect.signature(build).bind(units=3)
    except TypeError as exc:
        error = model.kwargs_error(exc, inspect.signature(build), build, spec(kwargs={"units": 3}), "/nowhere",
                                   "gradcheck.yml")
    assert (error.file, error.line, error.kind) == ("gradcheck.yml", 8, "config")
    assert ("unexpected keyword argument 'units' (did you mean 'num_units'?); it accepts: num_units, depth"
            in error.message)


# ------------------------------------------------------------------------------------ data shapes

class FakeLayer:
    def __init__(self, shape):
        self.shape = shape


@pytest.mark.parametrize("shape, kind, message", [
    ((None, 2, None, None, None), "other", "cannot fill dimension 2 of a 5-D input"),
    ((None, None, 1), "mask", "mask input has 3 dimensions, expected (sequences, steps)"),
    ((None, 0), "matrix", "dimension 1 has size 0"),
])
def test_input_shapes_data_cannot_fill(shape, kind, message):
    info = model.InputInfo(FakeLayer(shape), kind, "InputLayer#0", blame.CallSite("models/net.py", 6))
    with pytest.raises(ModelLoadError) as caught:
        model.input_shape(info, DataSpec())
    assert message in caught.value.message
    assert (caught.value.file, caught.value.line, caught.value.kind) == ("models/net.py", 6, "data")
    unlocated = model.InputInfo(FakeLayer(shape), kind, "InputLayer#0", None)
    with pytest.raises(ModelLoadError) as caught:
        model.input_shape(unlocated, DataSpec(), fallback=("gradcheck.yml", 9))
    assert (caught.value.file, caught.value.line) == ("gradcheck.yml", 9)


def test_input_shapes_data_fills():
    def shape(s, kind="matrix"):
        return model.input_shape(model.InputInfo(FakeLayer(s), kind, "in", None), DataSpec(sequences=3, steps=7,
                                                                                            features=5))
    assert shape((None, None, None), "sequence") == (3, 7, 5)
    assert shape((None, None), "mask") == (3, 7)
    assert shape((None, 4)) == (3, 4)
