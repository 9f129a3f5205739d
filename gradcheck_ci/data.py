"""Synthetic random-sequence data for a built model: one array per InputLayer, shaped from `data:` (by
model.input_shape), and targets for the loss."""
from __future__ import annotations

from typing import Any

import numpy as np

from .config import DataSpec
from .model import BuiltModel, InputInfo, input_shape


def make_inputs(model: BuiltModel, data: DataSpec, rng: np.random.RandomState, float_dtype: str) -> list[np.ndarray]:
    arrays = []
    for info in model.inputs:
        shape = input_shape(info, data)
        dtype = str(info.layer.input_var.dtype)
        if info.kind == "mask":
            arrays.append(make_mask(shape, data.mask, rng).astype(dtype))
        elif dtype.startswith("int") or dtype.startswith("uint"):
            arrays.append(rng.randint(0, _integer_range(model, info, data), size=shape).astype(dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(float_dtype if dtype.startswith("float") else dtype))
    return arrays


def make_mask(shape: tuple[int, ...], kind: str, rng: np.random.RandomState) -> np.ndarray:
    sequences, steps = shape
    if kind == "full":
        return np.ones(shape)
    # random lengths, but keep one full sequence so the last steps always carry gradient
    lengths = rng.randint(1, steps + 1, size=sequences)
    lengths[0] = steps
    return (np.arange(steps)[None, :] < lengths[:, None]).astype(float)


def _integer_range(model: BuiltModel, info: InputInfo, data: DataSpec) -> int:
    """Index inputs feed an EmbeddingLayer: stay below its vocabulary size."""
    for layer in model.layers:
        if getattr(layer, "input_layer", None) is info.layer and hasattr(layer, "input_size"):
            return int(layer.input_size)
    return max(data.classes, 2)


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
