"""Synthetic random-sequence data for a built model: one array per InputLayer, shaped from `data:` (by
model.input_shape), and targets for the loss."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..config import DataSpec
from .build import BuiltModel, input_shape


def make_inputs(model: BuiltModel, data: DataSpec, rng: np.random.RandomState,
                float_dtype: str | None = None) -> list[np.ndarray]:
    """One array per input, in each input variable's own dtype: a float32 input (T.ftensor3) gets float32 data
    in a float64 check, as it would in training (`float_dtype`, the run's precision, is therefore not used:
    Theano refuses data of another dtype); integers lie in the input's range (model.resolve_integer_ranges)."""
    arrays = []
    for info in model.inputs:
        shape = input_shape(info, data)
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


def make_targets(kind: str, rows: int, units: int, data: DataSpec, rng: np.random.RandomState,
                 float_dtype: str) -> np.ndarray:
    """Targets for the flattened (rows, units) prediction."""
    if kind == "labels":
        return rng.randint(0, min(data.classes, units), size=rows).astype("int32")
    if kind == "binary":
        return rng.randint(0, 2, size=(rows, units)).astype(float_dtype)
    return rng.standard_normal((rows, units)).astype(float_dtype)


def stable_seed(*parts: Any) -> int:
    """A seed that depends only on its parts (not on PYTHONHASHSEED), for reproducible directions."""
    import zlib

    return zlib.crc32("\x00".join(str(p) for p in parts).encode()) & 0x7FFFFFFF
