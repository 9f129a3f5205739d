"""Call the factory: seeded, with the config's `kwargs` and the InputLayers its `inputs:` asks for,
each located at its line in gradcheck.yml; arguments that do not fit the factory's signature are a
config error that says what to write."""

from __future__ import annotations

import inspect
import math
import os
import re
import traceback
from typing import Any

import numpy as np

from ..config import ModelSpec
from ..core.errors import ModelLoadError, exception_chain
from ..core.suggest import did_you_mean, with_hint
from ..usercode import legacy
from ..usercode.blame import user_code_error
from ..usercode.sites import CallSite, call_noting_return, user_frame
from .factory import Factory


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


class Settings(dict[str, Any]):
    """A mapping of `kwargs` that is also an object with those attributes: research code takes its
    sizes as an argparse Namespace or a config object (`args.vocab_size`), others as a dict
    (`config['vocab_size']`); one YAML mapping serves both, and `vars()` of it too."""

    def __init__(self, items: dict[str, Any]) -> None:
        super().__init__(items)
        # attributes are the items (args.x, hasattr, vars(args)), unless a key would hide one of
        # dict's own methods (`values`, `items`): then __getattr__ reads the other keys
        if not any(hasattr(dict, key) for key in items):
            self.__dict__ = self

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except MissingSetting as exc:
            raise MissingSettingAttribute(name, exc.path) from None

    def __missing__(self, name: str) -> Any:
        raise MissingSetting(name, _PATHS.get(id(self), "kwargs"))


class MissingSetting(KeyError):
    """A key the factory read from a `kwargs` mapping that gradcheck.yml does not give."""

    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.name, self.path = name, path


class MissingSettingAttribute(AttributeError):
    """The same, read as an attribute (`args.n_in`): still an AttributeError for hasattr()."""

    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.name, self.path = name, path


# where in `kwargs` each Settings stands ("kwargs.hp"), by id: its attributes are its keys, so the
# path cannot be one (the Settings live as long as the worker: ids are not reused)
_PATHS: dict[int, str] = {}


def settings_object(value: Any, path: str = "kwargs") -> Any:
    """A `kwargs` value as the factory receives it: mappings (nested too) as Settings."""
    if isinstance(value, dict):
        made = Settings({k: settings_object(v, f"{path}.{k}") for k, v in value.items()})
        _PATHS[id(made)] = path
        _KEPT.append(made)
        return made
    if isinstance(value, list):
        return [settings_object(v, path) for v in value]
    return value


_KEPT: list[Settings] = []  # so that an id in _PATHS stays theirs


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
    factory: Factory,
    spec: ModelSpec,
    root: str,
    config_file: str,
    made: dict[str, Any] | None = None,
) -> tuple[Any, int | None]:
    """The factory's return value and the line of the `return` that produced it (None when
    unknown)."""
    arguments = {
        **{k: settings_object(v, f"kwargs.{k}") for k, v in spec.kwargs.items()},
        **(made or {}),
    }
    try:
        signature = inspect.signature(factory.function)
    except (TypeError, ValueError):
        signature = None  # no signature available (builtins, C functions): just call it
    if signature is not None:
        try:
            signature.bind(**arguments)
        except TypeError as exc:
            raise kwargs_error(exc, signature, factory, spec, config_file) from None
    # said beside the factory's TypeError, if it raises one
    quoted = quoted_numbers(spec, config_file)
    try:
        return call_noting_return(factory.function, arguments)
    except BaseException as exc:  # noqa: BLE001 - whatever the factory raises (even SystemExit) is the model's error
        # KeyboardInterrupt too: a worker runs in a session of its own, which no Ctrl-C reaches (the
        # CLI stops it with SIGTERM), so one here was raised by the factory itself.
        error = user_code_error(
            exc,
            root,
            f"building model {spec.name!r}",
            fallback=(config_file, spec.key_lines.get("factory", spec.line)),
        )
        cause = config_cause(exc, root, spec, config_file)
        if cause is not None:
            raise cause from None
        if isinstance(exc, TypeError):
            error.message += quoted
        raise error from None


def config_cause(
    exc: BaseException, root: str, spec: ModelSpec, config_file: str
) -> ModelLoadError | None:
    """The factory's error when gradcheck.yml's `kwargs` caused it, at their line: a key the code
    reads that a mapping does not give, a whole number written as a float where the code needs an
    integer."""
    site = user_frame(traceback.extract_tb(exc.__traceback__), os.path.realpath(root))
    used = f"the code at {site.file}:{site.line}" if site else "the factory"
    missing = next(
        (
            e
            for e in exception_chain(exc)
            if isinstance(e, (MissingSetting, MissingSettingAttribute))
        ),
        None,
    )
    if missing is not None:
        line = _line_of(spec, missing.path)
        return ModelLoadError(
            f"{'KeyError' if isinstance(missing, KeyError) else 'AttributeError'}: "
            f"{missing.name!r} (building model "
            f"{spec.name!r}): {used} reads {missing.name!r} from `{missing.path}`, "
            f"which {config_file} does not give; add `{missing.name}: ...` there",
            config_file,
            line,
            kind="config",
        )
    text = legacy.exception_text(exc)
    variables = [name for name in spec.inputs if name.endswith(("var", "vars"))]
    if (
        isinstance(exc, AttributeError)
        and "'InputLayer' object has no attribute" in text
        and (variables)
    ):
        name = variables[0]
        return ModelLoadError(
            f"AttributeError: {text.strip()} (building model {spec.name!r}, in {used}): `inputs:` "
            f"makes an InputLayer for {name}, but the code uses it as a Theano variable; leave "
            f"{name} out of `inputs:` (`kwargs: {{{name}: null}}`: an InputLayer given "
            "input_var=None makes its own)",
            config_file,
            _line_of(spec, f"inputs.{name}"),
            kind="config",
        )
    floats = [
        (name, value)
        for name, value in spec.kwargs.items()
        if isinstance(value, float) and value.is_integer()
    ]
    if isinstance(exc, TypeError) and floats and legacy.python3_division(exc):
        name, value = floats[0]
        return ModelLoadError(
            f"TypeError: {text.strip()} (building model {spec.name!r}, in "
            f"{used}): in kwargs, {name} is the float {value!r}, where the code needs an integer: "
            f"write {int(value)}",
            config_file,
            _line_of(spec, f"kwargs.{name}"),
            kind="config",
        )
    return None


def _line_of(spec: ModelSpec, path: str) -> int | None:
    """The line of a `kwargs` path in gradcheck.yml, else of the nearest key above it."""
    while path:
        if path in spec.key_lines:
            return spec.key_lines[path]
        path = path.rpartition(".")[0]
    return spec.line


def quoted_numbers(spec: ModelSpec, config_file: str) -> str:
    """For a TypeError of the factory: the `kwargs` that YAML read as strings although they spell
    numbers (`n_hid: "5"`), which the factory's arithmetic then refuses; '' when there are none."""
    quoted = []
    for name, value in spec.kwargs.items():
        if not isinstance(value, str):
            continue
        try:
            if not math.isfinite(float(value)):  # unquoted, YAML reads `nan` as a string too
                continue
        except ValueError:
            continue
        line = spec.key_lines.get(f"kwargs.{name}", spec.line)
        quoted.append(f"{name} is the string {value!r} ({config_file}:{line})")
    if not quoted:
        return ""
    return f"; in kwargs, {', '.join(quoted)}: without quotes, YAML reads a number"


def kwargs_error(
    exc: TypeError,
    signature: inspect.Signature,
    factory: Factory,
    spec: ModelSpec,
    config_file: str,
) -> ModelLoadError:
    """The config error for `kwargs` (and `inputs`) that do not bind to the factory's signature: at
    the offending name for one the factory does not take (a misspelling comes first), at the model's
    entry for missing ones."""
    site = factory.site
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
        f"factory {spec.factory!r}{where} needs arguments that {config_file} does not give: "
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
