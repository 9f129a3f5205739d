"""Synthetic random-sequence data for a built model: one array per InputLayer, shaped from `data:`."""
from __future__ import annotations

from typing import Any

import numpy as np

from .config import DataSpec
from .loading import BuiltModel, InputInfo, ModelLoadError


def input_shape(info: InputInfo, data: DataSpec,
                fallback: tuple[str, int | None] | None = None) -> tuple[int, ...]:
    """Fill the None dimensions of an InputLayer's shape from `data`.

    A shape `data` cannot fill is an error located at the InputLayer in the user's code (or at `fallback`,
    the config's `data` line, when the layer was not built by the repository's code).
    """
    shape = list(info.layer.shape)
    ndim = len(shape)
    if info.kind == "mask" and ndim != 2:
        raise _shape_error(info, f"mask input has {ndim} dimensions, expected (sequences, steps)", fallback)
    if info.kind == "mask":
        fills = [data.sequences, data.steps]
    elif ndim == 3:
        fills = [data.sequences, data.steps, data.features]
    elif ndim == 2:
        fills = [data.sequences, data.features]
    elif ndim == 1:
        fills = [data.sequences]
    elif ndim == 4:  # images: (batch, channels, height, width)
        fills = [data.sequences, data.features, data.steps, data.steps]
    else:  # the batch dimension is always `sequences`; other sizes must be in the InputLayer's shape
        fills = [data.sequences] + [None] * (ndim - 1) if ndim else []
    for axis, size in enumerate(shape):
        if size is None:
            if fills[axis] is None:
                raise _shape_error(info, f"cannot fill dimension {axis} of a {ndim}-D input from `data` "
                                   "(it fills 1-D (sequences), 2-D (sequences, features), 3-D (sequences, "
                                   "steps, features) and 4-D (sequences, features, steps, steps) inputs; "
                                   "give the other sizes in the InputLayer's shape)", fallback)
            shape[axis] = fills[axis]
        elif not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
            raise _shape_error(info, f"dimension {axis} has size {size!r}; sizes must be positive integers "
                               "(or None, filled from `data`)", fallback)
    return tuple(int(s) for s in shape)


def _shape_error(info: InputInfo, why: str, fallback: tuple[str, int | None] | None = None) -> ModelLoadError:
    site = info.site
    file, line = (site.file, site.line) if site else (fallback or (None, None))
    return ModelLoadError(f"input {info.label} with shape {tuple(info.layer.shape)}: {why}", file, line, kind="data")


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
