"""The data a model is checked on: the shape of each InputLayer's array under `data:` (input_shape;
sizes the model fixes win over `data:`, with a notice), the integer ranges its embeddings allow, and
the synthetic random-sequence arrays and targets themselves."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import DataSpec, ModelSpec
from ..core.errors import ModelLoadError
from ..core.results import Notice
from ..core.suggest import did_you_mean, with_hint
from ..platform.functions import compile_function
from .built import BuiltModel, InputInfo

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


def data_summary(model: BuiltModel, spec: ModelSpec) -> dict[str, Any]:
    """The ModelResult's `data`: the shape and dtype each input is checked at, by input label."""
    return {
        "shapes": {info.label: list(input_shape(info, spec.data)) for info in model.inputs},
        "dtypes": {info.label: info.dtype for info in model.inputs},
    }


def data_overrides(model: BuiltModel, spec: ModelSpec, config_file: str) -> list[Notice]:
    """A notice for every input whose fixed shape wins over a `data:` size the user wrote in
    gradcheck.yml."""
    notices = []
    for info in model.inputs:
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
    for name in spec.data.inputs:
        named = [info for info in inputs if name in info.names()]
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
            known = [n for info in inputs for n in info.names()]
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
        given = next((spec.data.inputs[n] for n in info.names() if n in spec.data.inputs), None)
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
    from lasagne.layers import EmbeddingLayer

    sizes = []
    frontier = [input_layer]
    seen: set[int] = set()
    while frontier:
        current = frontier.pop()
        for consumer in (layer for layer in layers if any(i is current for i in _incoming(layer))):
            if id(consumer) in seen:
                continue
            seen.add(id(consumer))
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


# ---------------------------------------------------------------- synthetic arrays


def make_inputs(
    model: BuiltModel, data: DataSpec, rng: np.random.RandomState, float_dtype: str | None = None
) -> list[np.ndarray]:
    """One array per input, in each input variable's own dtype: a float32 input (T.ftensor3) gets
    float32 data in a float64 check, as it would in training (`float_dtype`, the run's precision, is
    therefore not used: Theano refuses data of another dtype); integers lie in the input's range
    (resolve_integer_ranges)."""
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
    symbolic, givens = model.param_inputs()
    inputs = [info.layer.input_var for info in model.inputs] + symbolic
    shape_fn = compile_function(inputs, prediction.shape, givens)
    base = [np.asarray(p.variable.get_value()) for p in model.params]
    rows, units = (int(s) for s in shape_fn(*data, *base))
    return rows, units
