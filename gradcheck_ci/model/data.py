"""The synthetic random-sequence arrays and targets a model is checked on, drawn at the input shapes
the build fixed (shapes.py)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import DataSpec, ModelSpec
from ..core.errors import ModelLoadError
from ..platform.functions import compile_function
from ..platform.givens import param_inputs
from .built import BuiltModel

# ---------------------------------------------------------------- synthetic arrays


def make_inputs(
    model: BuiltModel, data: DataSpec, rng: np.random.RandomState, float_dtype: str | None = None
) -> list[np.ndarray]:
    """One array per input, in each input variable's own dtype: a float32 input (T.ftensor3) gets
    float32 data in a float64 check, as it would in training (`float_dtype`, the run's precision, is
    therefore not used: Theano refuses data of another dtype); integers lie in the input's range
    (shapes.resolve_integer_ranges). Each array has its input's shape as the build fixed it from
    `data` (model.shapes)."""
    arrays = []
    for info, shape in zip(model.inputs, model.shapes, strict=True):
        dtype = info.dtype
        if info.kind == "mask":
            arrays.append(make_mask(shape, data.mask, rng).astype(dtype))
        elif info.is_integer:
            low, high = info.integers or (0, max(data.classes, 2))
            arrays.append(rng.randint(low, high, size=shape).astype(dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(dtype))
    return arrays


def make_mask(shape: tuple[int, ...], kind: str, rng: np.random.RandomState) -> np.ndarray:
    sequences, steps = shape
    if kind == "full":
        return np.ones(shape)
    # random lengths, but keep one full sequence so the last steps always carry gradient
    lengths = rng.randint(1, steps + 1, size=sequences)
    lengths[0] = steps
    return (np.arange(steps)[None, :] < lengths[:, None]).astype(float)


def make_targets(
    kind: str, rows: int, units: int, data: DataSpec, rng: np.random.RandomState, float_dtype: str
) -> np.ndarray:
    """Targets for the flattened (rows, units) prediction."""
    if kind == "labels":
        return rng.randint(0, min(data.classes, units), size=rows).astype("int32")
    if kind == "binary":
        return rng.randint(0, 2, size=(rows, units)).astype(float_dtype)
    return rng.standard_normal((rows, units)).astype(float_dtype)


# ---------------------------------------------------------------- the check's data


def check_data(
    model: BuiltModel, prediction: Any, target_kind: str, spec: ModelSpec, config_file: str
) -> list[np.ndarray]:
    """The synthetic inputs and targets of a check, drawn from `spec.seed` (inputs first, then
    targets); `prediction` and `target_kind` are the objective's (objective.py)."""
    rng = np.random.RandomState(spec.seed)
    data = make_inputs(model, spec.data, rng, spec.precision)
    rows, units = prediction_shape(model, prediction, data)
    if target_kind == "labels" and spec.data.classes > units:
        raise ModelLoadError(
            f"data.classes is {spec.data.classes} but the output has {units} units",
            config_file,
            spec.key_lines.get("data.classes", spec.line),
            kind="data",
        )
    data.append(make_targets(target_kind, rows, units, spec.data, rng, spec.precision))
    return data


def prediction_shape(model: BuiltModel, prediction: Any, data: list[np.ndarray]) -> tuple[int, int]:
    """(rows, units) of the model's prediction on the inputs in `data`: what the targets must
    match."""
    import lasagne

    shape = lasagne.layers.get_output_shape(
        model.output,
        {info.layer: array.shape for info, array in zip(model.inputs, data, strict=True)},
    )
    if all(isinstance(s, int) for s in shape) and len(shape) >= 1:
        units = shape[-1] if len(shape) > 1 else 1
        return int(np.prod(shape)) // units, units
    # Some layers cannot infer their shape statically: evaluate it (one more small compile).
    # Parameters are inputs here too, so the function cache can keep this function without their
    # values.
    symbolic, givens = param_inputs([p.variable for p in model.params])
    inputs = [info.layer.input_var for info in model.inputs] + symbolic
    shape_fn = compile_function(inputs, prediction.shape, givens)
    base = [np.asarray(p.variable.get_value()) for p in model.params]
    rows, units = (int(s) for s in shape_fn(*data, *base))
    return rows, units
