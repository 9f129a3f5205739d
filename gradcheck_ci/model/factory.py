"""The factory gradcheck.yml names: its module imported (within build.factory_run), made a function
of keyword arguments (member.py), and located once at its `def`, where the messages about it point.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import ModelSpec
from ..core.results import Notice
from ..usercode.guard import time_limit
from ..usercode.importer import FACTORY, import_function
from ..usercode.sites import definition_site
from .member import named_function

# the longest a factory's module may take to import (at most half the model's timeout)
IMPORT_SECONDS = 60.0


@dataclass(frozen=True)
class Factory:
    """The function to call, and where the repository defines it (None without a `def` there: a
    class's member, a script's layer, a function of an installed package)."""

    function: Callable[..., Any]
    site: tuple[str, int] | None

    def site_or(self, file: str, line: int) -> tuple[str, int]:
        return self.site or (file, line)


def load_factory(spec: ModelSpec, root: str, config_file: str) -> Factory:
    """The factory, imported as import_factory does and made a function."""
    named = import_factory(spec, root, config_file)
    function = named_function(named, spec, config_file)
    return Factory(function, definition_site(function, root))


def import_factory(spec: ModelSpec, root: str, config_file: str) -> Any:
    """What gradcheck.yml names as the factory, its module imported: a module that trains or
    downloads at import time is stopped early (guard.TooSlow)."""
    seconds = import_limit(spec)
    with time_limit(seconds):
        return import_function(
            FACTORY, spec.factory, root, config_file, spec.key_lines.get("factory", spec.line)
        )


def import_limit(spec: ModelSpec) -> float:
    """Seconds the factory's module may take to import: a module that trains or downloads at import
    time is stopped early with a message that says so, not at the model's timeout."""
    return max(1.0, min(IMPORT_SECONDS, spec.timeout / 2))


def kept_precision(factory: Factory, spec: ModelSpec) -> list[Notice]:
    """A module that sets theano.config.floatX when it is imported would change the precision of the
    check behind the config's back: the config's precision is restored, and a notice says so."""
    import theano

    if theano.config.floatX == spec.precision:
        return []
    theirs = theano.config.floatX
    theano.config.floatX = spec.precision
    file, line = factory.site or (None, None)
    module = sys.modules.get(getattr(factory.function, "__module__", ""), None)
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
