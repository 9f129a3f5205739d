"""What `factory:` names, made a function: a class's method or attribute (`factory:
model.py:Model.build`), or a layer a script builds when it is imported.

Research code builds its network in a class: `Model(n_hidden=...).build()`, or `Model(...).network`
set in __init__. The function this module makes takes the constructor's arguments and the method's,
as one signature (so `kwargs` is checked against both, and a misspelt name gets a did-you-mean),
makes the object with the constructor's share, and calls the method with its own share or reads the
attribute. A staticmethod or classmethod is called without making an object. A script's layer
becomes a function of no arguments that returns it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..config import ModelSpec
from ..core.errors import ModelLoadError
from ..usercode.importer import Member, ScriptLayer


def _parameters(function: Any, skip_first: bool) -> list[inspect.Parameter]:
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return []
    if skip_first and parameters:
        parameters = parameters[1:]
    return [p for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _takes_any(function: Any) -> bool:
    try:
        return any(p.kind == p.VAR_KEYWORD for p in inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False


def member_factory(member: Member) -> Callable[..., Any]:
    """A function of keyword arguments that returns what `member` gives (see the module's
    docstring)."""
    cls, name = member.cls, member.name
    raw = inspect.getattr_static(cls, name, None)
    static = isinstance(raw, (staticmethod, classmethod))
    method = inspect.isfunction(raw)
    constructor = cls.__dict__.get("__init__") or getattr(cls, "__init__")  # noqa: B009 - the class's own
    init = _parameters(constructor, skip_first=True) if constructor is not object.__init__ else []
    own = _parameters(getattr(cls, name), skip_first=method) if (method or static) else []
    if static:
        init = []
    names = {p.name for p in own}
    merged = own + [p for p in init if p.name not in names]
    merged.sort(key=lambda p: p.default is not p.empty)  # required first: a valid signature
    parameters = [p.replace(kind=p.KEYWORD_ONLY) for p in merged]
    # A method taking **kwargs (`build(self, **kwargs)`) takes every argument its class's __init__
    # does not.
    rest = method and _takes_any(getattr(cls, name))
    if rest or static and _takes_any(getattr(cls, name)):
        parameters.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD))
    constructor_names = {p.name for p in init}

    def factory(**arguments: Any) -> Any:
        mine = {
            k: v
            for k, v in arguments.items()
            if k in names or (rest and k not in constructor_names)
        }
        theirs = {k: v for k, v in arguments.items() if k not in mine}
        if static:
            return getattr(cls, name)(**mine)
        instance = cls(**theirs)
        value = getattr(instance, name)
        return value(**mine) if method else value

    factory.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    factory.__name__ = f"{cls.__name__}.{name}"
    factory.__qualname__ = factory.__name__
    factory.__module__ = cls.__module__
    factory.__doc__ = getattr(raw, "__doc__", None)
    return factory


def named_function(named: Any, spec: ModelSpec, config_file: str) -> Callable[..., Any]:
    """What `factory:` names, as a function to call: a function as it is, a class's member made one
    (member_factory), a script's layer returned by one (script_network)."""
    if isinstance(named, ScriptLayer):
        return script_network(named.network, spec, config_file)
    if isinstance(named, Member):
        return member_factory(named)
    return named


def script_network(layer: Any, spec: ModelSpec, config_file: str) -> Callable[[], Any]:
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
