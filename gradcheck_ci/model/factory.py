"""The factory gradcheck.yml names: its module imported (within build.factory_run), made a function
of keyword arguments (member.py), and located once at its `def`, where the messages about it point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import ModelSpec
from ..config.keys import PRECISIONS
from ..core.results import Notice
from ..usercode.guard import time_limit
from ..usercode.held import Held
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


def held_notices(held: Held, factory: Factory, spec: ModelSpec) -> list[Notice]:
    """What the model's code tried to set in Theano's configuration and the check did not apply
    (usercode/held.py): the precision, then the others, each notice at the first such line."""
    return kept_precision(held, factory, spec) + kept_theano_settings(held, factory)


def kept_precision(held: Held, factory: Factory, spec: ModelSpec) -> list[Notice]:
    """A module or factory that sets theano.config.floatX would change the precision of the check
    behind the config's back: the assignment was not made, and a notice says so at its line."""
    theirs, site = next(
        ((v, s) for v, s in held.assigned("floatX") if v != spec.precision), (None, None)
    )
    if theirs is None:
        return []
    file, line = (site.file, site.line) if site else factory.site or (None, None)
    advice = (
        f"set `precision: {theirs}` to check that"
        if theirs in PRECISIONS
        else f"gradcheck-ci checks {' or '.join(PRECISIONS)}"
    )
    return [
        Notice(
            f"the model's code sets theano.config.floatX to {theirs!r}; the check runs at "
            f"{spec.precision}, the model's `precision`, and its layers are built at it ({advice})",
            "precision",
            file,
            line,
        )
    ]


def kept_theano_settings(held: Held, factory: Factory) -> list[Notice]:
    """One notice for the other Theano settings the model's code set: not applied to the check."""
    import theano

    changed = [
        (name, value, site)
        for name, value, site in held.settings
        if name != "floatX" and value != str(getattr(theano.config, name))
    ]
    if not changed:
        return []
    said = ", ".join(
        f"{name}={value!r}" + (f" ({site.file}:{site.line})" if site else "")
        for name, value, site in changed
    )
    first = changed[0][2]
    file, line = (first.file, first.line) if first else factory.site or (None, None)
    return [
        Notice(
            f"the model's code sets theano.config {said}; not applied: the check compiles with "
            "its own Theano settings (those in THEANO_FLAGS apply)",
            "theano-settings",
            file,
            line,
        )
    ]
