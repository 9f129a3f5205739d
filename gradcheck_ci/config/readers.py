"""Typed value readers: how the value of one key is read and checked.

A reader is `read(nodes, node, key) -> value`: `key` is the dotted name used in messages
("defaults.data.steps"), and a bad value raises `Bad` with the message the user sees. The key table
(keys.py) gives each key its reader; the functions taking options (`integer(minimum=1)`) make one.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Callable
from typing import Any

from yaml.nodes import Node, ScalarNode, SequenceNode

from ..core.causes import ALLOWABLE
from ..core.losses import BUILTIN_LOSSES
from ..core.suggest import did_you_mean, with_hint
from .nodes import TAG, Bad, Nodes, show
from .references import read_reference

Reader = Callable[[Nodes, Node, str], Any]

MAX_NAME_LENGTH = 100
_NAME_RE = re.compile(r"[A-Za-z0-9._-]+\Z")


def wrong(nodes: Nodes, node: Node, key: str, expected: str) -> Bad:
    """'key must be <expected>, got <what was written>', with a hint about quotes when they are the
    trouble."""
    value = nodes.scalar(node, key, quiet=True)
    hint = ""
    if (
        isinstance(value, str)
        and getattr(node, "style", None) in ("'", '"')
        and _looks_numeric(value)
        and ("integer" in expected or "number" in expected)  # not for `one of ...` choices
    ):
        hint = " (write it without quotes)"
    elif "string" in expected and isinstance(value, (bool, int, float)):
        hint = " (quote it to make it a string)"
    return Bad(f"{key} must be {expected}, got {nodes.given(node, key)}{hint}", node)


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def string(nodes: Nodes, node: Node, key: str, expected: str = "a non-empty string") -> str:
    value = nodes.scalar(node, key)
    if isinstance(value, str) and value:
        return value
    raise wrong(nodes, node, key, expected)


def integer(minimum: int, maximum: int | None = None, limit: int | None = None) -> Reader:
    """An integer >= minimum (and <= maximum, where what uses it has a limit it states; <= limit,
    a bound far beyond any real value, named only to a value beyond it); a boolean is not an
    integer here."""
    top = maximum if maximum is not None else limit

    def read(nodes: Nodes, node: Node, key: str) -> int:
        value = nodes.scalar(node, key)
        # booleans: no
        if type(value) is int and value >= minimum and (top is None or value <= top):
            return value
        beyond = type(value) is int and top is not None and value > top
        wanted = (
            f"an integer from {minimum} to {top:,}"
            if top is not None and (maximum is not None or beyond)
            else f"an integer >= {minimum}"
        )
        raise wrong(nodes, node, key, wanted)

    return read


def number(above_zero: bool) -> Reader:
    """A finite number (> 0, or >= 0), as a float; integers are accepted, booleans are not."""

    def read(nodes: Nodes, node: Node, key: str) -> float:
        value = nodes.scalar(node, key)
        expected = "a number > 0" if above_zero else "a number >= 0"
        if type(value) in (int, float):  # type(): booleans are not numbers here
            try:
                result = float(value)
            except OverflowError:  # an integer with hundreds of digits
                result = math.inf
            if not math.isfinite(result):
                expected = "a finite " + expected[2:]
            elif result > 0 or (result == 0 and not above_zero):
                return result
        raise wrong(nodes, node, key, expected)

    return read


def optional(reader: Reader) -> Reader:
    """An empty value reads as None (the engine's default); anything else goes to `reader`."""

    def read(nodes: Nodes, node: Node, key: str) -> Any:
        return None if nodes.is_null(node, key) else reader(nodes, node, key)

    return read


def choice(options: tuple[str, ...]) -> Reader:
    """One of `options`, with a did-you-mean for a near miss."""

    def read(nodes: Nodes, node: Node, key: str) -> str:
        value = nodes.scalar(node, key)
        if isinstance(value, str) and value in options:
            return value
        bad = wrong(nodes, node, key, "one of " + ", ".join(options))
        hint = did_you_mean(value, options) if isinstance(value, str) else None
        raise Bad(with_hint(bad.message, hint), node)

    return read


# platform/lasagne_stacks.py's CHOICES (this layer cannot import it)
LASAGNE_STACKS = ("0.1", "master", "auto")


def lasagne_stack(nodes: Nodes, node: Node, key: str) -> str:
    """ "0.1", master or auto; an unquoted 0.1 (a YAML number) is the release too."""
    value = nodes.scalar(node, key)
    if value == 0.1 and type(value) is float:
        return "0.1"
    chosen: str = choice(LASAGNE_STACKS)(nodes, node, key)
    return chosen


def boolean(nodes: Nodes, node: Node, key: str) -> bool:
    """true or false."""
    value = nodes.scalar(node, key)
    if isinstance(value, bool):
        return value
    raise wrong(nodes, node, key, "true or false")


def any_integer(nodes: Nodes, node: Node, key: str) -> int:
    """An integer, negative ones included; a boolean is not an integer here."""
    value = nodes.scalar(node, key)
    if type(value) is int:
        return value
    raise wrong(nodes, node, key, "an integer")


def output(nodes: Nodes, node: Node, key: str) -> int | str | None:
    """Which of the values a factory returns is the output layer: an index, a dict key or a layer
    name."""
    if nodes.is_null(node, key):
        return None
    value = nodes.scalar(node, key)
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, str) and value.strip():
        return value
    raise wrong(
        nodes,
        node,
        key,
        "an index >= 0 (of the tuple or list the factory returns), a dict key or a layer name",
    )


def argument_name(nodes: Nodes, node: Node, key: str) -> str:
    """A name in `inputs`: the factory's argument that receives the InputLayer."""
    value = nodes.scalar(node, key)
    if isinstance(value, str) and value.isidentifier() and not keyword.iskeyword(value):
        return value
    raise Bad(
        f"{key}: {show(node.value)} is not a Python argument name (the factory's argument "
        f"that "
        "receives the InputLayer)",
        node,
    )


def input_name(nodes: Nodes, node: Node, key: str) -> str:
    """A name in `data.inputs`: an input's argument name in `inputs`, its InputLayer's or variable's
    name, or its label (InputLayer#0)."""
    value = nodes.scalar(node, key)
    if isinstance(value, str) and value.strip() and "." not in value:
        return value
    raise Bad(
        f"{key}: {show(node.value)} is not an input name (an InputLayer's name, its input "
        "variable's name, an `inputs` argument name or a label such as InputLayer#0; no dots)",
        node,
    )


# one dimension of the synthetic data: numpy refuses far larger ones with an error of its own, and
# `memory` stops a worker long before one this large is filled
MAX_SIZE = 2**31 - 1


def shape(nodes: Nodes, node: Node, key: str) -> list[int | None]:
    """An InputLayer shape: a list of sizes >= 1, null where `data` fills the size."""
    expected = (
        "a list of sizes (integers >= 1, or null to fill from `data`), such as [null, null, 50]"
    )
    if not isinstance(node, SequenceNode):
        raise wrong(nodes, node, key, expected)
    nodes.check_tag(node, key, TAG + "seq")
    if not node.value:
        raise Bad(f"{key} is empty; an input has at least one dimension, e.g. [null, 50]", node)
    sizes: list[int | None] = []
    for i, item in enumerate(node.value):
        value = None if nodes.is_null(item, key) else nodes.scalar(item, key)
        if value is not None and not (type(value) is int and 1 <= value <= MAX_SIZE):
            sizes_allowed = (
                f"from 1 to {MAX_SIZE:,}" if type(value) is int and value > MAX_SIZE else ">= 1"
            )
            raise wrong(
                nodes,
                item,
                f"{key}[{i}]",
                f"an integer {sizes_allowed}, or null to fill it from `data`",
            )
        sizes.append(value)
    return sizes


def name(nodes: Nodes, node: Node, key: str) -> str:
    """A model name: it identifies the model in reports and in `--model NAME`."""
    rule = "letters, digits, '.', '_' and '-' (it names report files and ids)"
    text = string(nodes, node, key, f"a non-empty string of {rule}")
    if not _NAME_RE.match(text):
        raise Bad(f"name {show(text)} is not allowed: use only {rule}", node)
    if set(text) == {"."}:
        raise Bad(f"name {show(text)} is not allowed: it must not be only dots", node)
    if len(text) > MAX_NAME_LENGTH:
        raise Bad(f"name is longer than {MAX_NAME_LENGTH} characters", node)
    return text


def reference(nodes: Nodes, node: Node, key: str) -> str:
    """'path/to/file.py:function' or 'package.module:function' (a factory)."""
    text = string(
        nodes, node, key, "a string 'path/to/file.py:function' or 'package.module:function'"
    )
    return read_reference(text, nodes.root, key, node)


def loss(nodes: Nodes, node: Node, key: str) -> str | None:
    """A built-in loss name, a 'target:function' reference, or empty (None: chosen from the output
    layer)."""
    if nodes.is_null(node, key):
        return None
    expected = "a loss name (" + ", ".join(BUILTIN_LOSSES) + ") or 'module:function'"
    value = string(nodes, node, key, expected)
    if ":" in value:
        return read_reference(value, nodes.root, key, node)
    if value not in BUILTIN_LOSSES:
        hint = did_you_mean(value, BUILTIN_LOSSES) or (
            "use one of " + ", ".join(BUILTIN_LOSSES) + ", or 'path/to/file.py:function'"
        )
        raise Bad(with_hint(f"unknown {key} {show(value)}", hint), node)
    return value


def allowed_causes(nodes: Nodes, node: Node, key: str) -> list[str]:
    """Cause codes a model accepts (`allow:`): a list (or one string) of codes that have an
    ablation."""
    expected = "a list of cause codes such as [truncated-bptt, gradient-clipping]"
    items = [node] if isinstance(node, ScalarNode) and not nodes.is_null(node, key) else None
    if items is None:
        if nodes.is_null(node, key):
            return []
        if not isinstance(node, SequenceNode):
            raise wrong(nodes, node, key, expected)
        nodes.check_tag(node, key, TAG + "seq")
        items = list(node.value)
    codes = []
    for i, item in enumerate(items):
        where = key if isinstance(node, ScalarNode) else f"{key}[{i}]"
        code = string(nodes, item, where, "a cause code (a non-empty string)")
        if code not in ALLOWABLE:
            hint = did_you_mean(code, ALLOWABLE) or (
                "causes that can be allowed (they have an ablation): " + ", ".join(ALLOWABLE)
            )
            raise Bad(with_hint(f"{where}: {show(code)} cannot be allowed", hint), item)
        if code not in codes:
            codes.append(code)
    return codes


def params(nodes: Nodes, node: Node, key: str) -> list[str]:
    """Parameter ids or globs: a list of strings, or one string."""
    expected = "a list of parameter ids or globs such as ['*']"
    if isinstance(node, ScalarNode):
        return [string(nodes, node, key, expected)]  # a single pattern is accepted as is
    if not isinstance(node, SequenceNode):
        raise wrong(nodes, node, key, expected)
    nodes.check_tag(node, key, TAG + "seq")
    if not node.value:
        raise Bad(f"{key} is empty; use ['*'] to check every parameter", node)
    return [
        string(nodes, item, f"{key}[{i}]", "a non-empty string (a parameter id or glob)")
        for i, item in enumerate(node.value)
    ]
