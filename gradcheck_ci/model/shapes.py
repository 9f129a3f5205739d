"""The shape of each InputLayer's array under `data:` (input_shape; sizes the model fixes win over
`data:`, with a notice) and the integer ranges its embeddings allow: checked once, while the model
is built (shape_inputs), and carried on the BuiltModel for the check's data (data.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import DataSpec, ModelSpec
from ..core.errors import ModelLoadError
from ..core.results import Notice
from ..core.suggest import did_you_mean, with_hint
from .built import InputInfo

# Layers that only rearrange their input: an integer input reaching an EmbeddingLayer through them
# still holds its indices.
_REARRANGING = (
    "ReshapeLayer",
    "DimshuffleLayer",
    "FlattenLayer",
    "SliceLayer",
    "PadLayer",
    "ConcatLayer",
)


@dataclass
class InputShapes:
    """What the build keeps of `data:` for its inputs (in the order of BuiltModel.inputs)."""

    shapes: list[tuple[int, ...]]  # the shape each input's array is drawn at
    summary: dict[str, Any]  # the ModelResult's `data`
    notices: list[Notice]  # fixed sizes that win over a `data:` size the user wrote


def shape_inputs(
    inputs: list[InputInfo], layers: list[Any], spec: ModelSpec, config_file: str
) -> InputShapes:
    """Check that `data` can shape every input and give each integer input its range (errors in that
    order, before compiling); then the shapes, the summary and the notices, asked once here."""
    indexed = index_inputs(inputs, layers)
    check_input_shapes(inputs, spec, config_file)
    shaped = InputShapes(
        [input_shape(info, spec.data) for info in inputs],
        data_summary(inputs, spec),
        indexed + data_overrides(inputs, spec, config_file),
    )
    resolve_integer_ranges(inputs, layers, spec, config_file)
    return shaped


def index_inputs(inputs: list[InputInfo], layers: list[Any]) -> list[Notice]:
    """An input of floats that feeds an EmbeddingLayer (an InputLayer given no input_var, which
    Lasagne makes a float variable of; the code's callers pass an integer one) would stop the build
    of the forward pass ('index must be integers'): it is checked with int32 indices instead, and a
    notice says so at the InputLayer."""
    notices = []
    for info in inputs:
        variable = getattr(info.layer, "input_var", None)
        if variable is None or info.is_integer or not embedding_sizes(info.layer, layers):
            continue
        import theano.tensor as T

        dtype = str(variable.dtype)
        info.layer.input_var = T.TensorType("int32", variable.broadcastable)(variable.name)
        site = info.site
        notices.append(
            Notice(
                f"input {info.label} holds {dtype} but feeds an EmbeddingLayer, which takes "
                "integer indices (the InputLayer was given no input_var, or a float one): it is "
                "checked with int32 indices, as the code's callers must pass them",
                "integer-input",
                site.file if site else None,
                site.line if site else None,
            )
        )
    return notices


# ---------------------------------------------------------------- input shapes under `data`


def check_input_shapes(inputs: list[InputInfo], spec: ModelSpec, config_file: str) -> None:
    """Fail before compiling when `data` cannot shape an input."""
    if not inputs:
        raise ModelLoadError(
            f"model {spec.name!r} has no InputLayer: nothing to feed the synthetic data to",
            config_file,
            spec.line,
            kind="data",
        )
    for info in inputs:
        input_shape(info, spec.data, fallback=(config_file, spec.key_lines.get("data", spec.line)))


def fill_keys(info: InputInfo) -> list[str | None]:
    """The `data` key that fills each dimension of an input when its size is None (None: no key
    can)."""
    ndim = len(info.layer.shape)
    # a mask, or token ids (sequences, steps)
    if info.kind == "mask" or (ndim == 2 and info.is_integer):
        return ["sequences", "steps"] if ndim == 2 else [None] * ndim
    known: dict[int, list[str | None]] = {
        1: ["sequences"],
        2: ["sequences", "features"],
        3: ["sequences", "steps", "features"],
        4: ["sequences", "features", "steps", "steps"],
    }
    return known.get(ndim, ["sequences"] + [None] * (ndim - 1) if ndim else [])


def input_shape(
    info: InputInfo, data: DataSpec, fallback: tuple[str, int | None] | None = None
) -> tuple[int, ...]:
    """Fill the None dimensions of an InputLayer's shape from `data`.

    A shape `data` cannot fill is an error located at the InputLayer in the user's code (or at
    `fallback`, the config's `data` line, when the layer was not built by the repository's code).
    """
    shape = list(info.layer.shape)
    ndim = len(shape)
    if info.kind == "mask" and ndim != 2:
        raise _shape_error(
            info, f"mask input has {ndim} dimensions, expected (sequences, steps)", fallback
        )
    keys = fill_keys(info)
    for axis, size in enumerate(shape):
        if size is None:
            if keys[axis] is None:
                raise _shape_error(
                    info,
                    f"cannot fill dimension {axis} of a {ndim}-D input from "
                    f"`data` "
                    "(it fills 1-D (sequences), 2-D (sequences, features), 3-D "
                    "(sequences, steps, features) and 4-D (sequences, features, "
                    "steps, steps) inputs; give the other sizes in the InputLayer's "
                    "shape)",
                    fallback,
                )
            shape[axis] = getattr(data, str(keys[axis]))
        elif not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
            raise _shape_error(
                info,
                f"dimension {axis} has size {size!r}; sizes must be positive "
                f"integers "
                "(or None, filled from `data`)",
                fallback,
            )
    return tuple(int(s) for s in shape)


def _shape_error(
    info: InputInfo, why: str, fallback: tuple[str, int | None] | None = None
) -> ModelLoadError:
    site = info.site
    file, line = (site.file, site.line) if site else (fallback or (None, None))
    return ModelLoadError(
        f"input {info.label} with shape {tuple(info.layer.shape)}: {why}", file, line, kind="data"
    )


def data_summary(inputs: list[InputInfo], spec: ModelSpec) -> dict[str, Any]:
    """The ModelResult's `data`: the shape and dtype each input is checked at, by input label."""
    return {
        "shapes": {info.label: list(input_shape(info, spec.data)) for info in inputs},
        "dtypes": {info.label: info.dtype for info in inputs},
    }


def data_overrides(inputs: list[InputInfo], spec: ModelSpec, config_file: str) -> list[Notice]:
    """A notice for every input whose fixed shape wins over a `data:` size the user wrote in
    gradcheck.yml."""
    notices = []
    for info in inputs:
        overridden = []
        for key, size in zip(fill_keys(info), info.layer.shape, strict=True):
            wanted = getattr(spec.data, key) if key else None
            written = key is not None and f"data.{key}" in spec.key_lines
            if (
                written
                and size is not None
                and size != wanted
                and f"data.{key}: {wanted}" not in overridden
            ):
                overridden.append(f"data.{key}: {wanted}")
        if not overridden:
            continue
        line = spec.key_lines[f"data.{overridden[0].split(':')[0][5:]}"]
        site = info.site
        notices.append(
            Notice(
                f"input {info.label} has the fixed shape {_shape_text(info.layer.shape)}, so it is "
                f"checked at that size, not at {', '.join(overridden)} ({config_file}:{line}); a "
                f"None dimension in the InputLayer's shape "
                "takes its size from `data`",
                "data-override",
                site.file if site else config_file,
                site.line if site else line,
            )
        )
    return notices


def _shape_text(shape: Any) -> str:
    return (
        "("
        + ", ".join("None" if s is None else str(s) for s in shape)
        + ("," if len(shape) == 1 else "")
        + ")"
    )


# ---------------------------------------------------------------- integer inputs


def resolve_integer_ranges(
    inputs: list[InputInfo], layers: list[Any], spec: ModelSpec, config_file: str
) -> None:
    """Give every integer input its range: `data.inputs`, else the EmbeddingLayer it feeds, else an
    error that says what to write. `data.inputs` names no input: a configuration error."""
    # asked once, for the messages and the ranges
    names = {id(info): info.names() for info in inputs}
    for name in spec.data.inputs:
        named = [info for info in inputs if name in names[id(info)]]
        if named and not named[0].is_integer:
            raise ModelLoadError(
                f"data.inputs.{name}: input {named[0].label} holds "
                f"{named[0].dtype} values; a range "
                "is for inputs of integers (T.imatrix, T.ivector...)",
                config_file,
                spec.key_lines.get(f"data.inputs.{name}", spec.line),
                kind="config",
            )
        if not named:
            known = [n for info in inputs for n in names[id(info)]]
            raise ModelLoadError(
                with_hint(
                    f"data.inputs.{name}: model {spec.name!r} has no input called {name!r}",
                    did_you_mean(name, known),
                )
                + f" (its inputs: "
                f"{', '.join(known)})",
                config_file,
                spec.key_lines.get(f"data.inputs.{name}", spec.line),
                kind="config",
            )
    for info in inputs:
        if not info.is_integer or info.kind == "mask":
            continue
        given = next((spec.data.inputs[n] for n in names[id(info)] if n in spec.data.inputs), None)
        if given is not None:
            info.integers = (given.low, given.high)
            continue
        sizes = embedding_sizes(info.layer, layers)
        if sizes:
            info.integers = (0, min(sizes))
            continue
        where = f" ({info.site.file}:{info.site.line})" if info.site else ""
        name = getattr(info.layer.input_var, "name", None) or info.label
        raise ModelLoadError(
            f"input {info.label}{where} holds integers ({info.dtype}) and feeds no EmbeddingLayer, "
            f"so gradcheck-ci cannot tell which values are valid: give their range in the model's "
            f"entry, e.g. `data: {{inputs: {{{name}: {{low: 0, high: 10}}}}}}` (values are drawn "
            f"from low <= value < high)",
            config_file,
            spec.line,
            kind="data",
        )


def embedding_sizes(input_layer: Any, layers: list[Any]) -> list[int]:
    """input_size of every EmbeddingLayer the input reaches directly or through layers that only
    rearrange it."""
    sizes = []
    frontier = [input_layer]
    seen: set[int] = set()
    while frontier:
        current = frontier.pop()
        for consumer in (layer for layer in layers if any(i is current for i in _incoming(layer))):
            if id(consumer) in seen:
                continue
            seen.add(id(consumer))
            from lasagne.layers import EmbeddingLayer  # (only a model's layers have consumers)

            if isinstance(consumer, EmbeddingLayer) or (
                hasattr(consumer, "input_size") and hasattr(consumer, "output_size")
            ):
                sizes.append(int(consumer.input_size))
            elif type(consumer).__name__ in _REARRANGING:
                frontier.append(consumer)
    return sizes


def _incoming(layer: Any) -> list[Any]:
    if hasattr(layer, "input_layers"):
        return list(layer.input_layers)
    incoming = getattr(layer, "input_layer", None)
    return [incoming] if incoming is not None else []
