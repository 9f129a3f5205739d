"""Describe the built graph: a label for every layer, the InputLayers (sequence, matrix, mask) and
the trainable parameters, each located where the user's code constructed its layer; select the
parameters the spec's `params` asks for."""

from __future__ import annotations

import fnmatch
from typing import Any

from ..config import ModelSpec
from ..core.errors import ModelLoadError
from ..core.results import Notice
from ..usercode.sites import CallSite
from .built import InputInfo, ParamInfo


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
        # a sub-network's parameter (CustomRecurrentLayer's input_to_hidden.W) at the line that
        # built its own layer, when the user's code did
        site = sites.get(id(_inner_owner(layer, param))) or sites.get(id(layer))
        if not hasattr(param, "get_value"):
            raise ModelLoadError(
                f"trainable parameter {ident} is a {type(param).__name__}, not a shared variable: "
                "Lasagne's parameters are theano.shared variables (add_param with an initializer "
                "or a shared variable); training cannot update it, and the check cannot move it",
                site.file if site else None,
                site.line if site else None,
            )
        result.append(ParamInfo(ident, param, layer, labels.get(id(layer), ""), site))
    return result


def integer_params(params: list[ParamInfo]) -> tuple[list[ParamInfo], list[Notice]]:
    """The parameters a gradient can move (float dtypes), and a notice for each integer one: it has
    no gradient (Theano's is 0), and an update p - lr * g cannot be stored in it."""
    kept, notices = [], []
    for info in params:
        dtype = str(getattr(info.variable, "dtype", "float"))
        if not dtype.startswith(("int", "uint")):
            kept.append(info)
            continue
        notices.append(
            Notice(
                f"trainable parameter {info.id} holds {dtype}: it has no gradient and an update "
                "cannot be stored in it, so it is not checked; add it with trainable=False, or "
                "make it a float if training should change it",
                "integer-param",
                info.site.file if info.site else None,
                info.site.line if info.site else None,
            )
        )
    return kept, notices


def _inner_owner(layer: Any, param: Any) -> Any:
    """The layer of a sub-network held in `layer`'s attributes (CustomRecurrentLayer's
    input_to_hidden and hidden_to_hidden, with the layers below them) whose own parameters include
    `param`; `layer` itself when none does."""
    from lasagne.layers import Layer, get_all_layers

    for attr, inner in vars(layer).items():
        if attr.startswith("_") or inner is layer or not isinstance(inner, Layer):
            continue
        for sub in get_all_layers(inner):
            if any(p is param for p in getattr(sub, "params", {})):
                return sub
    return layer


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
