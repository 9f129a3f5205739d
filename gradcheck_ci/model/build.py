"""The model under check: build the Lasagne graph from its factory, and describe it (inputs, parameters,
labels, where each layer was constructed); select the parameters to check.

Runs inside a worker process after `compat.prepare()`. Errors are raised as `ModelLoadError` carrying the
file and line to blame: the user's code for things their code did, gradcheck.yml for things the config did.
"""
from __future__ import annotations

import fnmatch
import inspect
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import DataSpec, ModelSpec
from ..core.errors import ModelLoadError
from ..core.results import Notice, ParamResult
from ..core.suggest import did_you_mean, with_hint
from ..usercode.blame import user_code_error
from ..usercode.importer import FACTORY, import_function
from ..usercode.sites import CallSite, call_noting_return, definition_site, recording_call_sites
from .returned import output_layer, refuse_training_script

IMPORT_SECONDS = 60.0  # the longest a factory's module may take to import (at most half the model's timeout)
# Layers that only rearrange their input: an integer input reaching an EmbeddingLayer through them still
# holds its indices.
_REARRANGING = ("ReshapeLayer", "DimshuffleLayer", "FlattenLayer", "SliceLayer", "PadLayer", "ConcatLayer")


@dataclass
class ParamInfo:
    id: str
    variable: Any  # theano shared variable
    layer: Any
    layer_label: str
    site: CallSite | None

    def result(self, **measured: Any) -> ParamResult:
        """This parameter's ParamResult: its id, layer and call site, and the `measured` ParamResult fields."""
        return ParamResult(id=self.id, layer=self.layer_label, file=self.site.file if self.site else None,
                           line=self.site.line if self.site else None, **measured)


@dataclass
class InputInfo:
    layer: Any
    kind: str  # sequence | matrix | mask | other
    label: str
    site: CallSite | None
    integers: tuple[int, int] | None = None  # an integer input's values: low <= value < high

    @property
    def dtype(self) -> str:
        """The input variable's dtype ('floatX' when the layer has none, as in tests)."""
        return str(getattr(getattr(self.layer, "input_var", None), "dtype", "floatX"))

    @property
    def is_integer(self) -> bool:
        return self.dtype.startswith(("int", "uint"))

    def names(self) -> list[str]:
        """What `data.inputs` may call it: its label, its InputLayer's name, its input variable's name."""
        variable = getattr(self.layer, "input_var", None)
        return [n for n in (self.label, getattr(self.layer, "name", None), getattr(variable, "name", None)) if n]


@dataclass
class BuiltModel:
    output: Any
    layers: list[Any]
    labels: dict[int, str]  # id(layer) -> "name" or "ClassName#k"
    sites: dict[int, CallSite]  # id(layer) -> where the user's code constructed it
    inputs: list[InputInfo]
    params: list[ParamInfo]  # the parameters selected by the spec's `params`
    all_params: list[ParamInfo] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)  # what the user should know about how it was built

    def label(self, layer: Any) -> str:
        return self.labels.get(id(layer), type(layer).__name__)

    def site(self, layer: Any) -> CallSite | None:
        return self.sites.get(id(layer))


# ---------------------------------------------------------------- building

def seed_everything(seed: int) -> None:
    """Seed the generators a factory may draw from: Lasagne's initialisers, numpy's and Python's global ones.

    Lasagne 0.1 initialises weights from `lasagne.random.get_rng()`, numpy's global generator unless set,
    so without this every run would check the model at different weights and report different numbers.
    """
    import random

    import lasagne

    random.seed(seed)
    np.random.seed(seed % 2**32)
    lasagne.random.set_rng(np.random.RandomState(seed % 2**32))


def build_model(spec: ModelSpec, root: str, config_file: str,
                progress: Callable[[str], None] = lambda message: None) -> BuiltModel:
    import lasagne

    root = os.path.realpath(root)
    progress("importing the model's module")
    sys.argv = [spec.factory.rpartition(":")[0]]  # a script that parses its arguments sees none, not the worker's
    factory = import_function(FACTORY, spec.factory, root, config_file, spec.key_lines.get("factory", spec.line),
                              import_seconds=import_limit(spec))
    notices = kept_precision(factory, spec, root)
    refuse_training_script(factory, spec, root, config_file)
    seed_everything(spec.seed)
    progress("calling the factory")
    with recording_call_sites(root) as sites:
        made = make_factory_inputs(spec, config_file, sites)
        value, return_line = call_factory(factory, spec, root, config_file, made)
    output = output_layer(value, spec, factory, root, config_file, return_line, sites)
    layers = lasagne.layers.get_all_layers(output)
    labels = layer_labels(layers)
    masks = {id(made[name]) for name, given in spec.inputs.items() if given.mask}
    inputs = describe_inputs(layers, labels, sites, masks)
    unused = [name for name in made if not any(info.layer is made[name] for info in inputs)]
    if unused:
        raise ModelLoadError(f"the InputLayer made for `inputs: {unused[0]}` does not reach the output layer "
                             f"{labels[id(output)]}: the factory did not use its argument {unused[0]!r}",
                             config_file, spec.key_lines.get(f"inputs.{unused[0]}", spec.line), kind="config")
    all_params = describe_params(layers, labels, sites)
    if not all_params:
        output_site = sites.get(id(output))
        file, line = ((output_site.file, output_site.line) if output_site
                      else definition_site(factory, root) or (config_file, spec.line))
        raise ModelLoadError(f"model {spec.name!r} has no trainable parameters: nothing to check (the layers "
                             f"{', '.join(labels[id(layer)] for layer in layers[:8])} have none, or all are fixed "
                             "with trainable=False)", file, line)
    check_input_shapes(inputs, spec, config_file)
    resolve_integer_ranges(inputs, layers, spec, config_file)
    params = select_params(all_params, spec, config_file)
    return BuiltModel(output, layers, labels, sites, inputs, params, all_params, notices)


def kept_precision(factory: Callable[..., Any], spec: ModelSpec, root: str) -> list[Notice]:
    """A module that sets theano.config.floatX when it is imported would change the precision of the check
    behind the config's back: the config's precision is restored, and a notice says so."""
    import theano

    if theano.config.floatX == spec.precision:
        return []
    theirs = theano.config.floatX
    theano.config.floatX = spec.precision
    site = definition_site(factory, root)
    file, line = site or (None, None)
    module = sys.modules.get(getattr(factory, "__module__", ""), None)
    try:
        lines = inspect.getsource(module).splitlines() if module is not None else []
    except (TypeError, OSError):
        lines = []
    line = next((n for n, text in enumerate(lines, 1) if re.search(r"floatX\s*=", text)), line)
    return [Notice(f"the module sets theano.config.floatX to {theirs!r} when it is imported; the check runs at "
                   f"{spec.precision}, the model's `precision` (set `precision: {theirs}` to check that)",
                   "precision", file, line)]


def import_limit(spec: ModelSpec) -> float:
    """Seconds the factory's module may take to import: a module that trains or downloads at import time
    is stopped early with a message that says so, not at the model's timeout."""
    return max(1.0, min(IMPORT_SECONDS, spec.timeout / 2))


def make_factory_inputs(spec: ModelSpec, config_file: str, sites: dict[int, CallSite]) -> dict[str, Any]:
    """The InputLayers `inputs:` asks for, by argument name; each located at its line in gradcheck.yml."""
    import theano
    import theano.tensor as T
    from lasagne.layers import InputLayer

    made = {}
    for name, given in spec.inputs.items():
        dtype = given.dtype or theano.config.floatX
        variable = T.TensorType(dtype, (False,) * len(given.shape))(name)
        layer = InputLayer(tuple(given.shape), input_var=variable, name=name)
        sites[id(layer)] = CallSite(config_file, spec.key_lines.get(f"inputs.{name}", spec.line))
        made[name] = layer
    return made


def call_factory(factory: Callable[..., Any], spec: ModelSpec, root: str, config_file: str,
                 made: dict[str, Any] | None = None) -> tuple[Any, int | None]:
    """The factory's return value and the line of the `return` that produced it (None when unknown)."""
    arguments = {**spec.kwargs, **(made or {})}
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        signature = None  # no signature available (builtins, C functions): just call it
    if signature is not None:
        try:
            signature.bind(**arguments)
        except TypeError as exc:
            raise kwargs_error(exc, signature, factory, spec, root, config_file) from None
    try:
        return call_noting_return(factory, arguments)
    except BaseException as exc:  # whatever the factory raises (even SystemExit) is the model's error
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise user_code_error(exc, root, f"building model {spec.name!r}",
                              fallback=(config_file, spec.key_lines.get("factory", spec.line))) from None


def kwargs_error(exc: TypeError, signature: inspect.Signature, factory: Callable[..., Any], spec: ModelSpec,
                 root: str, config_file: str) -> ModelLoadError:
    """The config error for `kwargs` (and `inputs`) that do not bind to the factory's signature: at the offending
    name for one the factory does not take (a misspelling comes first), at the model's entry for missing ones."""
    site = definition_site(factory, root)
    where = f" (defined at {site[0]}:{site[1]})" if site else ""
    given = "kwargs and inputs" if spec.inputs else "kwargs"
    takes_any = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    stray = [name for name in [*spec.kwargs, *spec.inputs] if name not in signature.parameters and not takes_any]
    unexpected = re.search(r"unexpected keyword argument '([^']+)'", str(exc))
    if stray or unexpected:
        name = stray[0] if stray else unexpected.group(1) if unexpected else ""
        line = spec.key_lines.get(f"kwargs.{name}", spec.key_lines.get(f"inputs.{name}", spec.line))
        message = with_hint(f"{given} do not fit factory {spec.factory!r}{where}: got an unexpected keyword "
                            f"argument {name!r}", did_you_mean(name, [p for p in signature.parameters if p != "self"]))
        accepted = [p.name for p in signature.parameters.values()
                    if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if accepted:
            message += f"; it accepts: {', '.join(accepted)}"
        return ModelLoadError(message, config_file, line, kind="config")
    names = set(spec.kwargs) | set(spec.inputs)
    needed = [p.name for p in signature.parameters.values() if p.default is p.empty and p.name not in names
              and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if not needed:  # something else (positional-only arguments, ...): Python's words
        return ModelLoadError(f"{given} do not fit factory {spec.factory!r}{where}: {exc}", config_file,
                              spec.key_lines.get("kwargs", spec.line), kind="config")
    variables = [name for name in needed if name.endswith("var") or name.endswith("vars")]
    layers = [name for name in needed if name not in variables]
    message = f"factory {spec.factory!r}{where} needs arguments that gradcheck.yml does not give: {', '.join(needed)}."
    if variables:
        message += (f" A Theano input variable such as {variables[0]!r} can be null (`kwargs: {{{variables[0]}: "
                    "null}`): an InputLayer given input_var=None makes its own.")
    if layers:
        message += (f" An argument that takes a layer goes in `inputs:` and gradcheck-ci makes the InputLayer, e.g. "
                    f"`inputs: {{{layers[0]}: {{shape: [null, null, 8]}}}}` (null sizes come from `data`; a mask: "
                    "`{shape: [null, null], mask: true}`); any other value goes in `kwargs:`")
    return ModelLoadError(message, config_file, spec.line, kind="config")


# ---------------------------------------------------------------- describing

def layer_labels(layers: list[Any]) -> dict[int, str]:
    """`name` where the user gave one, otherwise ClassName#k counted per class in graph order."""
    counts: dict[str, int] = {}
    labels: dict[int, str] = {}
    for layer in layers:
        cls = type(layer).__name__
        k = counts.get(cls, 0)
        counts[cls] = k + 1
        labels[id(layer)] = layer.name if getattr(layer, "name", None) else f"{cls}#{k}"
    return labels


def recurrent_mask_layers(layer: Any) -> list[Any]:
    """The mask InputLayers of a recurrent layer (Lasagne 0.1: the second incoming; later: an index)."""
    index = getattr(layer, "mask_incoming_index", None)
    input_layers = getattr(layer, "input_layers", None) or []
    if index is not None and index > 0:
        return [input_layers[index]]
    if type(layer).__module__.startswith("lasagne.layers.recurrent") and len(input_layers) >= 2:
        return [input_layers[1]]
    return []


def describe_inputs(layers: list[Any], labels: dict[int, str], sites: dict[int, CallSite],
                    declared_masks: set[int] | None = None) -> list[InputInfo]:
    from lasagne.layers import InputLayer

    masks = {id(m) for layer in layers for m in recurrent_mask_layers(layer)} | (declared_masks or set())
    inputs = []
    for layer in layers:
        if not isinstance(layer, InputLayer):
            continue
        ndim = len(layer.shape)
        if id(layer) in masks:
            kind = "mask"
        elif ndim == 3:
            kind = "sequence"
        elif ndim == 2:
            kind = "matrix"
        else:
            kind = "other"
        inputs.append(InputInfo(layer, kind, labels[id(layer)], sites.get(id(layer))))
    return inputs


def describe_params(layers: list[Any], labels: dict[int, str], sites: dict[int, CallSite]) -> list[ParamInfo]:
    import lasagne

    wanted = lasagne.layers.get_all_params(layers[-1], trainable=True)
    wanted_ids = {id(p) for p in wanted}
    owner: dict[int, tuple[Any, str]] = {}
    for layer in layers:
        for param in layer.get_params(trainable=True):
            if id(param) in wanted_ids and id(param) not in owner:
                owner[id(param)] = (layer, _param_name(layer, param))
    result: list[ParamInfo] = []
    used: set[str] = set()
    for param in wanted:
        layer, name = owner.get(id(param), (layers[-1], str(param.name or "param")))
        ident = f"{labels.get(id(layer), type(layer).__name__)}.{name}"
        base, n = ident, 1
        while ident in used:  # two parameters of one layer with one name: keep ids unique and stable
            n += 1
            ident = f"{base}~{n}"
        used.add(ident)
        result.append(ParamInfo(ident, param, layer, labels.get(id(layer), ""), sites.get(id(layer))))
    return result


def _param_name(layer: Any, param: Any) -> str:
    """The attribute that holds the parameter (W_in_to_hid, W_hid_to_ingate, ...), else its variable name."""
    for attr, value in vars(layer).items():
        if value is param and not attr.startswith("_"):
            return attr
    for attr, inner in vars(layer).items():  # parameters of inner layers, e.g. CustomRecurrentLayer's
        if hasattr(inner, "params") and not attr.startswith("_") and param in getattr(inner, "params", {}):
            return f"{attr}.{_param_name(inner, param)}"
    name = str(param.name or "param")
    prefix = f"{layer.name}." if getattr(layer, "name", None) else ""
    return name[len(prefix):] if prefix and name.startswith(prefix) else name


def select_params(all_params: list[ParamInfo], spec: ModelSpec, config_file: str) -> list[ParamInfo]:
    line = spec.key_lines.get("params", spec.line)
    selected: list[ParamInfo] = []
    for pattern in spec.params:
        matches = [p for p in all_params if fnmatch.fnmatchcase(p.id, pattern)]
        if not matches:
            available = ", ".join(p.id for p in all_params[:12]) + (" ..." if len(all_params) > 12 else "")
            raise ModelLoadError(f"params pattern {pattern!r} matches no trainable parameter of "
                                 f"{spec.name!r}; available: {available}", config_file, line, kind="config")
        selected.extend(p for p in matches if p not in selected)
    return [p for p in all_params if p in selected]  # graph order, whatever the pattern order


# ---------------------------------------------------------------- input shapes under `data`

def check_input_shapes(inputs: list[InputInfo], spec: ModelSpec, config_file: str) -> None:
    """Fail before compiling when `data` cannot shape an input."""
    if not inputs:
        raise ModelLoadError(f"model {spec.name!r} has no InputLayer: nothing to feed the synthetic data to",
                             config_file, spec.line, kind="data")
    for info in inputs:
        input_shape(info, spec.data, fallback=(config_file, spec.key_lines.get("data", spec.line)))


def fill_keys(info: InputInfo) -> list[str | None]:
    """The `data` key that fills each dimension of an input when its size is None (None: no key can)."""
    ndim = len(info.layer.shape)
    if info.kind == "mask" or (ndim == 2 and info.is_integer):  # a mask, or token ids (sequences, steps)
        return ["sequences", "steps"] if ndim == 2 else [None] * ndim
    known: dict[int, list[str | None]] = {1: ["sequences"], 2: ["sequences", "features"],
                                          3: ["sequences", "steps", "features"],
                                          4: ["sequences", "features", "steps", "steps"]}
    return known.get(ndim, ["sequences"] + [None] * (ndim - 1) if ndim else [])


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
    keys = fill_keys(info)
    for axis, size in enumerate(shape):
        if size is None:
            if keys[axis] is None:
                raise _shape_error(info, f"cannot fill dimension {axis} of a {ndim}-D input from `data` "
                                   "(it fills 1-D (sequences), 2-D (sequences, features), 3-D (sequences, "
                                   "steps, features) and 4-D (sequences, features, steps, steps) inputs; "
                                   "give the other sizes in the InputLayer's shape)", fallback)
            shape[axis] = getattr(data, str(keys[axis]))
        elif not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
            raise _shape_error(info, f"dimension {axis} has size {size!r}; sizes must be positive integers "
                               "(or None, filled from `data`)", fallback)
    return tuple(int(s) for s in shape)


def _shape_error(info: InputInfo, why: str, fallback: tuple[str, int | None] | None = None) -> ModelLoadError:
    site = info.site
    file, line = (site.file, site.line) if site else (fallback or (None, None))
    return ModelLoadError(f"input {info.label} with shape {tuple(info.layer.shape)}: {why}", file, line, kind="data")


def data_summary(model: BuiltModel, spec: ModelSpec) -> dict[str, Any]:
    """The ModelResult's `data`: the shape and dtype each input is checked at, by input label."""
    return {"shapes": {info.label: list(input_shape(info, spec.data)) for info in model.inputs},
            "dtypes": {info.label: info.dtype for info in model.inputs}}


def data_overrides(model: BuiltModel, spec: ModelSpec, config_file: str) -> list[Notice]:
    """A notice for every input whose fixed shape wins over a `data:` size the user wrote in gradcheck.yml."""
    notices = []
    for info in model.inputs:
        overridden = []
        for key, size in zip(fill_keys(info), info.layer.shape, strict=True):
            wanted = getattr(spec.data, key) if key else None
            written = key is not None and f"data.{key}" in spec.key_lines
            if written and size is not None and size != wanted and f"data.{key}: {wanted}" not in overridden:
                overridden.append(f"data.{key}: {wanted}")
        if not overridden:
            continue
        line = spec.key_lines[f"data.{overridden[0].split(':')[0][5:]}"]
        site = info.site
        notices.append(Notice(
            f"input {info.label} has the fixed shape {_shape_text(info.layer.shape)}, so it is checked at that size, "
            f"not at {', '.join(overridden)} ({config_file}:{line}); a None dimension in the InputLayer's shape "
            "takes its size from `data`", "data-override", site.file if site else config_file,
            site.line if site else line))
    return notices


def _shape_text(shape: Any) -> str:
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


# ---------------------------------------------------------------- integer inputs

def resolve_integer_ranges(inputs: list[InputInfo], layers: list[Any], spec: ModelSpec, config_file: str) -> None:
    """Give every integer input its range: `data.inputs`, else the EmbeddingLayer it feeds, else an error that
    says what to write. `data.inputs` names no input: a configuration error."""
    for name in spec.data.inputs:
        named = [info for info in inputs if name in info.names()]
        if named and not named[0].is_integer:
            raise ModelLoadError(f"data.inputs.{name}: input {named[0].label} holds {named[0].dtype} values; a range "
                                 "is for inputs of integers (T.imatrix, T.ivector...)", config_file,
                                 spec.key_lines.get(f"data.inputs.{name}", spec.line), kind="config")
        if not named:
            known = [n for info in inputs for n in info.names()]
            raise ModelLoadError(with_hint(f"data.inputs.{name}: model {spec.name!r} has no input called {name!r}",
                                           did_you_mean(name, known)) + f" (its inputs: {', '.join(known)})",
                                 config_file, spec.key_lines.get(f"data.inputs.{name}", spec.line), kind="config")
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
            f"input {info.label}{where} holds integers ({info.dtype}) and feeds no EmbeddingLayer, so gradcheck-ci "
            f"cannot tell which values are valid: give their range in the model's entry, e.g. "
            f"`data: {{inputs: {{{name}: {{low: 0, high: 10}}}}}}` (values are drawn from low <= value < high)",
            config_file, spec.line, kind="data")


def embedding_sizes(input_layer: Any, layers: list[Any]) -> list[int]:
    """input_size of every EmbeddingLayer the input reaches directly or through layers that only rearrange it."""
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
            if isinstance(consumer, EmbeddingLayer) or (hasattr(consumer, "input_size")
                                                        and hasattr(consumer, "output_size")):
                sizes.append(int(consumer.input_size))
            elif type(consumer).__name__ in _REARRANGING:
                frontier.append(consumer)
    return sizes


def _incoming(layer: Any) -> list[Any]:
    if hasattr(layer, "input_layers"):
        return list(layer.input_layers)
    incoming = getattr(layer, "input_layer", None)
    return [incoming] if incoming is not None else []
