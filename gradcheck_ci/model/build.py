"""The model under check: build the Lasagne graph from its factory, and describe it (inputs,
parameters, labels, where each layer was constructed); select the parameters to check.

Runs inside a worker process after `compat.prepare()`. Errors are raised as `ModelLoadError`
carrying the file and line to blame: the user's code for things their code did, gradcheck.yml for
things the config did.
"""

from __future__ import annotations

import fnmatch
import inspect
import os
import re
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ..config import ModelSpec
from ..core.errors import ModelLoadError
from ..core.results import Notice
from ..core.suggest import did_you_mean, with_hint
from ..usercode import loader, python2
from ..usercode.blame import user_code_error
from ..usercode.deferred import deferred_notice, deferring_theano_functions
from ..usercode.importer import FACTORY, Member, import_function, is_layer
from ..usercode.sites import CallSite, call_noting_return, definition_site, recording_call_sites
from .built import BuiltModel, InputInfo, ParamInfo
from .data import check_input_shapes, resolve_integer_ranges
from .member import member_factory
from .returned import output_layer, refuse_training_script

# the longest a factory's module may take to import (at most half the model's timeout)
IMPORT_SECONDS = 60.0


# ---------------------------------------------------------------- building


def seed_everything(seed: int) -> None:
    """Seed the generators a factory may draw from: Lasagne's initialisers, numpy's and Python's
    global ones.

    Lasagne 0.1 initialises weights from `lasagne.random.get_rng()`, numpy's global generator unless
    set, so without this every run would check the model at different weights and report different
    numbers.
    """
    import random

    import lasagne

    random.seed(seed)
    np.random.seed(seed % 2**32)
    lasagne.random.set_rng(np.random.RandomState(seed % 2**32))


def build_model(
    spec: ModelSpec,
    root: str,
    config_file: str,
    progress: Callable[[str], None] = lambda message: None,
) -> BuiltModel:
    import lasagne

    root = os.path.realpath(root)
    progress("importing the model's module")
    seed_everything(spec.seed)  # a script's network is built while its module is imported
    # a script that parses its arguments sees none, not the worker's
    sys.argv = [spec.factory.rpartition(":")[0]]
    # The factory's own theano.function calls (training functions) compile only if something calls
    # them.
    with deferring_theano_functions(root) as deferred:
        factory = import_function(
            FACTORY,
            spec.factory,
            root,
            config_file,
            spec.key_lines.get("factory", spec.line),
            import_seconds=import_limit(spec),
        )
        if is_layer(factory):  # a script's network, built when its module was imported
            factory = module_network(factory, spec, config_file)
        elif isinstance(factory, Member):
            factory = member_factory(factory)
        notices = python2.notices(root) + loader.notices(root) + kept_precision(factory, spec, root)
        refuse_training_script(factory, spec, root, config_file)
        seed_everything(spec.seed)
        progress("calling the factory")
        with recording_call_sites(root) as sites:
            made = make_factory_inputs(spec, config_file, sites)
            value, return_line = call_factory(factory, spec, root, config_file, made)
    output = output_layer(value, spec, factory, root, config_file, return_line, sites)
    notices.extend(filter(None, [deferred_notice(deferred)]))
    layers = lasagne.layers.get_all_layers(output)
    labels = layer_labels(layers)
    masks = {id(made[name]) for name, given in spec.inputs.items() if given.mask}
    inputs = describe_inputs(layers, labels, sites, masks)
    unused = [name for name in made if not any(info.layer is made[name] for info in inputs)]
    if unused:
        raise ModelLoadError(
            f"the InputLayer made for `inputs: {unused[0]}` does not reach the "
            f"output layer {labels[id(output)]}: the factory did not use its "
            f"argument {unused[0]!r}",
            config_file,
            spec.key_lines.get(f"inputs.{unused[0]}", spec.line),
            kind="config",
        )
    all_params = describe_params(layers, labels, sites)
    if not all_params:
        output_site = sites.get(id(output))
        file, line = (
            (output_site.file, output_site.line)
            if output_site
            else definition_site(factory, root) or (config_file, spec.line)
        )
        raise ModelLoadError(
            f"model {spec.name!r} has no trainable parameters: nothing to check "
            f"(the layers {', '.join(labels[id(layer)] for layer in layers[:8])} "
            f"have none, or all are fixed "
            "with trainable=False)",
            file,
            line,
        )
    check_input_shapes(inputs, spec, config_file)
    resolve_integer_ranges(inputs, layers, spec, config_file)
    params = select_params(all_params, spec, config_file)
    # `/` kept as Python 2's, met while building
    notices += [n for n in python2.notices(root) if n not in notices]
    return BuiltModel(output, layers, labels, sites, inputs, params, all_params, notices)


def module_network(layer: Any, spec: ModelSpec, config_file: str) -> Callable[[], Any]:
    """A layer variable of a script, as a factory of no arguments (`kwargs` and `inputs` cannot
    reach it)."""
    given = "kwargs" if spec.kwargs else "inputs" if spec.inputs else None
    if given:
        raise ModelLoadError(
            f"factory {spec.factory!r} is a layer the module builds when it is "
            f"imported, not a function: it takes no `{given}` (name a function or "
            f"a class's method to pass "
            "arguments)",
            config_file,
            spec.key_lines.get(given, spec.line),
            kind="config",
        )

    def network() -> Any:
        return layer

    network.__name__ = spec.factory.rpartition(":")[2]
    return network


def kept_precision(factory: Callable[..., Any], spec: ModelSpec, root: str) -> list[Notice]:
    """A module that sets theano.config.floatX when it is imported would change the precision of the
    check behind the config's back: the config's precision is restored, and a notice says so."""
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
    return [
        Notice(
            f"the module sets theano.config.floatX to {theirs!r} when it is imported; the "
            f"check runs at {spec.precision}, the model's `precision` (set `precision: "
            f"{theirs}` to check that)",
            "precision",
            file,
            line,
        )
    ]


def import_limit(spec: ModelSpec) -> float:
    """Seconds the factory's module may take to import: a module that trains or downloads at import
    time is stopped early with a message that says so, not at the model's timeout."""
    return max(1.0, min(IMPORT_SECONDS, spec.timeout / 2))


def make_factory_inputs(
    spec: ModelSpec, config_file: str, sites: dict[int, CallSite]
) -> dict[str, Any]:
    """The InputLayers `inputs:` asks for, by argument name; each located at its line in
    gradcheck.yml."""
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


def call_factory(
    factory: Callable[..., Any],
    spec: ModelSpec,
    root: str,
    config_file: str,
    made: dict[str, Any] | None = None,
) -> tuple[Any, int | None]:
    """The factory's return value and the line of the `return` that produced it (None when
    unknown)."""
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
    except BaseException as exc:  # noqa: BLE001 - whatever the factory raises (even SystemExit) is the model's error
        # KeyboardInterrupt too: a worker runs in a session of its own, which no Ctrl-C reaches (the
        # CLI stops it with SIGTERM), so one here was raised by the factory itself.
        raise user_code_error(
            exc,
            root,
            f"building model {spec.name!r}",
            fallback=(config_file, spec.key_lines.get("factory", spec.line)),
        ) from None


def kwargs_error(
    exc: TypeError,
    signature: inspect.Signature,
    factory: Callable[..., Any],
    spec: ModelSpec,
    root: str,
    config_file: str,
) -> ModelLoadError:
    """The config error for `kwargs` (and `inputs`) that do not bind to the factory's signature: at
    the offending name for one the factory does not take (a misspelling comes first), at the model's
    entry for missing ones."""
    site = definition_site(factory, root)
    where = f" (defined at {site[0]}:{site[1]})" if site else ""
    given = "kwargs and inputs" if spec.inputs else "kwargs"
    takes_any = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    stray = [
        name
        for name in [*spec.kwargs, *spec.inputs]
        if name not in signature.parameters and not takes_any
    ]
    unexpected = re.search(r"unexpected keyword argument '([^']+)'", str(exc))
    if stray or unexpected:
        name = stray[0] if stray else unexpected.group(1) if unexpected else ""
        line = spec.key_lines.get(f"kwargs.{name}", spec.key_lines.get(f"inputs.{name}", spec.line))
        message = with_hint(
            f"{given} do not fit factory {spec.factory!r}{where}: got an "
            f"unexpected keyword argument {name!r}",
            did_you_mean(name, [p for p in signature.parameters if p != "self"]),
        )
        accepted = [
            p.name
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        if accepted:
            message += f"; it accepts: {', '.join(accepted)}"
        return ModelLoadError(message, config_file, line, kind="config")
    names = set(spec.kwargs) | set(spec.inputs)
    needed = [
        p.name
        for p in signature.parameters.values()
        if p.default is p.empty
        and p.name not in names
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if not needed:  # something else (positional-only arguments, ...): Python's words
        return ModelLoadError(
            f"{given} do not fit factory {spec.factory!r}{where}: {exc}",
            config_file,
            spec.key_lines.get("kwargs", spec.line),
            kind="config",
        )
    variables = [name for name in needed if name.endswith("var") or name.endswith("vars")]
    layers = [name for name in needed if name not in variables]
    message = (
        f"factory {spec.factory!r}{where} needs arguments that gradcheck.yml does not give: "
        f"{', '.join(needed)}."
    )
    if variables:
        message += (
            f" A Theano input variable such as {variables[0]!r} can be null (`kwargs: "
            f"{{{variables[0]}: "
            "null}`): an InputLayer given input_var=None makes its own."
        )
    if layers:
        message += (
            f" An argument that takes a layer goes in `inputs:` and gradcheck-ci makes the "
            f"InputLayer, e.g. `inputs: {{{layers[0]}: {{shape: [null, null, 8]}}}}` (null "
            f"sizes come from `data`; a mask: "
            "`{shape: [null, null], mask: true}`); any other value goes in `kwargs:`"
        )
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
    """The mask InputLayers of a recurrent layer (Lasagne 0.1: the second incoming; later: an
    index)."""
    index = getattr(layer, "mask_incoming_index", None)
    input_layers = getattr(layer, "input_layers", None) or []
    if index is not None and index > 0:
        return [input_layers[index]]
    if type(layer).__module__.startswith("lasagne.layers.recurrent") and len(input_layers) >= 2:
        return [input_layers[1]]
    return []


def describe_inputs(
    layers: list[Any],
    labels: dict[int, str],
    sites: dict[int, CallSite],
    declared_masks: set[int] | None = None,
) -> list[InputInfo]:
    from lasagne.layers import InputLayer

    masks = {id(m) for layer in layers for m in recurrent_mask_layers(layer)} | (
        declared_masks or set()
    )
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


def describe_params(
    layers: list[Any], labels: dict[int, str], sites: dict[int, CallSite]
) -> list[ParamInfo]:
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
        # two parameters of one layer with one name: keep ids unique and stable
        while ident in used:
            n += 1
            ident = f"{base}~{n}"
        used.add(ident)
        result.append(
            ParamInfo(ident, param, layer, labels.get(id(layer), ""), sites.get(id(layer)))
        )
    return result


def _param_name(layer: Any, param: Any) -> str:
    """The attribute that holds the parameter (W_in_to_hid, W_hid_to_ingate, ...), else its variable
    name."""
    for attr, value in vars(layer).items():
        if value is param and not attr.startswith("_"):
            return attr
    # parameters of inner layers, e.g. CustomRecurrentLayer's
    for attr, inner in vars(layer).items():
        if (
            hasattr(inner, "params")
            and not attr.startswith("_")
            and param in getattr(inner, "params", {})
        ):
            return f"{attr}.{_param_name(inner, param)}"
    name = str(param.name or "param")
    prefix = f"{layer.name}." if getattr(layer, "name", None) else ""
    return name[len(prefix) :] if prefix and name.startswith(prefix) else name


def select_params(
    all_params: list[ParamInfo], spec: ModelSpec, config_file: str
) -> list[ParamInfo]:
    line = spec.key_lines.get("params", spec.line)
    selected: list[ParamInfo] = []
    for pattern in spec.params:
        matches = [p for p in all_params if fnmatch.fnmatchcase(p.id, pattern)]
        if not matches:
            available = ", ".join(p.id for p in all_params[:12]) + (
                " ..." if len(all_params) > 12 else ""
            )
            raise ModelLoadError(
                f"params pattern {pattern!r} matches no trainable parameter of "
                f"{spec.name!r}; available: {available}",
                config_file,
                line,
                kind="config",
            )
        selected.extend(p for p in matches if p not in selected)
    return [p for p in all_params if p in selected]  # graph order, whatever the pattern order
