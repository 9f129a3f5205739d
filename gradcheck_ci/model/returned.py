"""The output layer among what a factory returned.

Real factories rarely return just the output layer: they return `(l_in, l_out)`, `(train_fn, val_fn,
l_out)`, a dict of layers, or an object holding them (a `Model` class named as the factory). The
returned Lasagne layers are collected (from tuples, lists, dicts and the attributes of objects of
the repository's own classes, two levels deep); the output is the one whose graph holds all the
others. gradcheck.yml's `output:` picks it explicitly: an index, a dict key or attribute, or a
layer's `name`.

Problems with the choice are configuration errors at the `output:` line (or the model's `factory:`
line when there is none), listing the candidates and how to choose.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import ModelSpec
from ..core.errors import ModelLoadError
from ..core.suggest import did_you_mean, with_hint
from ..usercode.deferred import DeferredFunction
from ..usercode.sites import is_inside, is_library
from .factory import Factory

MAX_DEPTH = 2  # (train_fn, {"in": l_in, "out": l_out}) is found; deeper nesting is not searched
MAX_LISTED = 8  # candidates named in a message
MAX_MEMBERS = 1000  # items of one container searched for layers


@dataclass
class Returned:
    """One Lasagne layer found in the factory's return value."""

    # how to reach it: "[1]", "['out']", ".l_out", "[2]['out']"; "" for the returned value itself
    path: str
    layer: Any

    def describe(self, sites: dict[int, Any]) -> str:
        name = getattr(self.layer, "name", None)
        text = (
            (f"{self.path} " if self.path else "")
            + type(self.layer).__name__
            + (f" {name!r}" if name else "")
        )
        site = sites.get(id(self.layer))
        return text + (f" ({site.file}:{site.line})" if site else "")


def output_layer(
    value: Any,
    spec: ModelSpec,
    factory: Factory,
    root: str,
    config_file: str,
    return_line: int | None,
    sites: dict[int, Any],
) -> Any:
    """The output layer among what the factory returned (ModelLoadError when there is none, or no
    one)."""
    if spec.output is None:
        return _outermost_layer(value, spec, factory, root, config_file, return_line, sites)
    return _chosen(value, spec, root, config_file, sites)


def _outermost_layer(
    value: Any,
    spec: ModelSpec,
    factory: Factory,
    root: str,
    config_file: str,
    return_line: int | None,
    sites: dict[int, Any],
) -> Any:
    """Without `output:`: the returned value itself, else the one returned layer whose graph holds
    all the others."""
    from lasagne.layers import Layer

    if isinstance(value, Layer):
        return value
    found = returned_layers(value, root)
    if not found:
        raise _not_a_layer(value, spec, factory, config_file, return_line)
    outputs = outermost(found)
    if len(outputs) == 1:
        return outputs[0].layer
    listed = "; ".join(r.describe(sites) for r in outputs[:MAX_LISTED]) + (
        " ..." if len(outputs) > MAX_LISTED else ""
    )
    example = outputs[-1].path
    raise ModelLoadError(
        f"factory {spec.factory!r} returned {_a(value)} holding {len(outputs)} Lasagne layers, "
        f"none of whose graphs holds the others, so gradcheck-ci cannot tell which is the output: "
        f"{listed}. Choose it with `output:` in the model's entry "
        f"({_how_to_write(example, outputs[-1].layer)})",
        config_file,
        spec.key_lines.get("factory", spec.line),
        kind="config",
    )


def returned_layers(value: Any, root: str, path: str = "", depth: int = 0) -> list[Returned]:
    """Every Lasagne layer in `value` (each once, by its first path), searching containers and
    objects."""
    from lasagne.layers import Layer

    if isinstance(value, Layer):
        return [Returned(path, value)]
    if depth > MAX_DEPTH:
        return []
    found: list[Returned] = []
    for key, item in _members(value, root):
        for r in returned_layers(item, root, path + key, depth + 1):
            if not any(r.layer is f.layer for f in found):
                found.append(r)
    return found


def _members(value: Any, root: str) -> list[tuple[str, Any]]:
    """(path, item) of a container's first MAX_MEMBERS items (a factory may also return its data
    set)."""
    if isinstance(value, (tuple, list)):
        return [(f"[{i}]", item) for i, item in enumerate(value[:MAX_MEMBERS])]
    if isinstance(value, dict):
        return [(f"[{key!r}]", item) for key, item in itertools.islice(value.items(), MAX_MEMBERS)]
    if _users_object(value, root):
        return [
            (f".{name}", item) for name, item in vars(value).items() if not name.startswith("_")
        ][:MAX_MEMBERS]
    return []


def _users_object(value: Any, root: str) -> bool:
    """An instance of a class the repository defines (not a function, a module or a library's
    object)."""
    if (
        inspect.isroutine(value)
        or inspect.ismodule(value)
        or inspect.isclass(value)
        or not hasattr(value, "__dict__")
    ):
        return False
    try:
        path = inspect.getsourcefile(type(value))
    except (TypeError, OSError):
        return False
    return bool(path) and is_inside(path or "", root) and not is_library(path or "")


def outermost(found: list[Returned]) -> list[Returned]:
    """The returned layers that no other returned layer's graph contains (the output, when there is
    one)."""
    from lasagne.layers import get_all_layers

    inside: set[int] = set()
    for r in found:
        inside.update(id(layer) for layer in get_all_layers(r.layer) if layer is not r.layer)
    return [r for r in found if id(r.layer) not in inside]


# ---------------------------------------------------------------- `output:` given


def _chosen(value: Any, spec: ModelSpec, root: str, config_file: str, sites: dict[int, Any]) -> Any:
    from lasagne.layers import Layer

    choice = spec.output
    found = returned_layers(value, root)

    def fail(why: str, hint: str | None = None) -> ModelLoadError:
        listed = "; ".join(r.describe(sites) for r in found[:MAX_LISTED]) or "none"
        return ModelLoadError(
            with_hint(f"output: {choice!r} {why}", hint) + f" (the returned layers: {listed})",
            config_file,
            spec.key_lines.get("output", spec.line),
            kind="config",
        )

    if isinstance(choice, int):
        if not isinstance(value, (tuple, list)):
            raise fail(f"is an index, but the factory returned {_a(value)}, not a tuple or list")
        if choice >= len(value):
            raise fail(f"is out of range: the factory returned {len(value)} values")
        picked = value[choice]
    elif isinstance(value, dict) and choice in value:
        picked = value[choice]
    elif not isinstance(value, (dict, tuple, list, Layer)) and isinstance(
        getattr(value, str(choice), None), Layer
    ):
        picked = getattr(value, str(choice))
    else:  # a layer name, anywhere in the returned layers' graphs
        named = _named(found, str(choice))
        if len(named) > 1:
            raise fail(
                f"names {len(named)} different layers; give them distinct names or choose by index"
            )
        if not named:
            names = [str(n) for n in _names(value, found)]
            raise fail(
                "is neither a key of what the factory returned nor the name of one of its layers",
                _subscript_hint(str(choice), names) or did_you_mean(str(choice), names),
            )
        picked = named[0]
    if not isinstance(picked, Layer):
        raise fail(f"picks {_a(picked)}, not a Lasagne Layer")
    return picked


def _subscript_hint(choice: str, names: list[str]) -> str | None:
    """`output: net['prob']` (the Python that picks it): the key alone is what `output` takes."""
    written = re.fullmatch(
        r"\s*[A-Za-z_][\w.]*\s*\[\s*(?:'([^']*)'|\"([^\"]*)\"|(\d+))\s*\]\s*", choice
    )
    if written is None:
        return None
    key = next(group for group in written.groups() if group is not None)
    return f"write the key alone: `output: {key}`" if key in names or key.isdigit() else None


def _named(found: list[Returned], name: str) -> list[Any]:
    """The distinct layers called `name` in the graphs of the returned layers."""
    from lasagne.layers import get_all_layers

    named: list[Any] = []
    for r in found:
        for layer in get_all_layers(r.layer):
            if getattr(layer, "name", None) == name and not any(layer is n for n in named):
                named.append(layer)
    return named


_NOTHING = object()


def _names(value: Any, found: list[Returned]) -> list[Any]:
    """Keys and layer names `output:` could have meant."""
    from lasagne.layers import get_all_layers

    names: list[Any] = list(value) if isinstance(value, dict) else []
    for r in found:
        names.extend(
            layer.name for layer in get_all_layers(r.layer) if getattr(layer, "name", None)
        )
    return names


# ---------------------------------------------------------------- messages


def _a(value: Any) -> str:
    """What a value is, in the user's words (a factory's own theano.function is a stand-in while it
    runs: usercode/deferred.py)."""
    if value is None:
        return "None"
    kind = type(value)
    if isinstance(value, DeferredFunction) or (
        kind.__name__ == "Function" and kind.__module__.startswith("theano.")
    ):
        return "a compiled Theano function (theano.function)"
    return f"a {kind.__name__}"


def _how_to_write(path: str, layer: Any) -> str:
    if path.startswith("[") and path[1:-1].isdigit() and path.count("[") == 1:
        return f"e.g. `output: {path[1:-1]}`"
    if path.startswith("['") and path.count("[") == 1:
        return f"e.g. `output: {path[2:-2]}`"
    if path.startswith(".") and path.count(".") == 1 and "[" not in path:
        return f"e.g. `output: {path[1:]}`"
    name = getattr(layer, "name", None)
    if name:
        return f"e.g. `output: {name}`, its layer name"
    return "an index, a dict key, or a layer's `name` (give the output layer name='...')"


def _not_a_layer(
    value: Any,
    spec: ModelSpec,
    factory: Factory,
    config_file: str,
    return_line: int | None,
) -> ModelLoadError:
    file, line = factory.site_or(config_file, spec.key_lines.get("factory", spec.line))
    if return_line and file != config_file:
        line = return_line
    got = _a(value)
    if isinstance(value, (list, tuple, dict)):
        hint = " (it holds no Lasagne layer: return the output layer, or the layers with it)"
    elif value is None:
        hint = main_style_hint(factory.function) or " (is a `return` statement missing?)"
    else:
        hint = ""
    return ModelLoadError(
        f"factory {spec.factory!r} returned {got}, not a Lasagne Layer{hint}", file, line
    )


MAIN_STYLE = (
    "gradcheck-ci needs a function that returns the network: move the lines that build "
    "it into a function that returns the output layer, and call that from main() "
    "(docs/config.md, 'Scripts that build the network in main()')"
)


def builders_called(function: Callable[..., Any]) -> list[str]:
    """Functions of the same module that `function` calls and whose names say they build a
    network."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (TypeError, OSError, SyntaxError):
        return []
    module = inspect.getmodule(function)
    names = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id not in names
        ):
            called = getattr(module, node.func.id, None)
            if (
                inspect.isfunction(called)
                and called.__module__ == function.__module__
                and re.search(r"build|model|net|create|make", node.func.id, re.I)
            ):
                names.append(node.func.id)
    return names


def main_style_hint(factory: Callable[..., Any]) -> str:
    """For a script's main() named as the factory: what to write instead ('' for other
    functions)."""
    if not is_training_script(factory):
        return ""
    return (
        f": it looks like a script's main(), which builds the network and trains it; {MAIN_STYLE}"
    )


def is_training_script(factory: Callable[..., Any]) -> bool:
    """A function called main (or train) whose code compiles a training function or loops over
    epochs."""
    if getattr(factory, "__name__", "") not in ("main", "train", "run"):
        return False
    try:
        source = inspect.getsource(factory)
    except (TypeError, OSError, SyntaxError):
        return False
    return "theano.function" in source or "epoch" in source or "train_fn" in source


def refuse_training_script(factory: Factory, spec: ModelSpec, config_file: str) -> None:
    """A script's main() would train (or download) before it returns anything: say so before calling
    it."""
    function = factory.function
    if not is_training_script(function):
        return
    file, line = factory.site_or(config_file, spec.key_lines.get("factory", spec.line))
    builders = builders_called(function)
    target = spec.factory.rpartition(":")[0]
    if builders:
        named = " or ".join(f"{name}()" for name in builders)
        raise ModelLoadError(
            f"factory {spec.factory!r} is a script's {function.__name__}(): it "
            f"trains the network and returns nothing to check; it builds the "
            f"network with {named}: name that as the factory (`factory: "
            f"{target}:{builders[0]}`)",
            file,
            line,
        )
    raise ModelLoadError(
        f"factory {spec.factory!r} is a script's {function.__name__}(): it builds "
        f"the network inside and trains it, and returns no network to check; "
        f"{MAIN_STYLE}",
        file,
        line,
    )
