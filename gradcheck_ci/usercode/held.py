"""Settings a model's code changes for the whole process, held while its module is imported and
its factory runs.

A training script sets `theano.config.floatX = 'float32'` (at import or in the function that builds
the network), a debugging one `theano.config.compute_test_value = 'raise'` or `optimizer = 'None'`,
and now and then `sys.setrecursionlimit(...)`. Once the factory has returned, they would act on the
check itself: layers built at the script's floatX and checked at the config's precision, every
compile of the check computing test values or unoptimised, Theano's own recursion cut short. So an
assignment to one of HELD_SETTINGS is recorded with its line and not made, and the recursion limit
is put back when the factory has returned.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .sites import CallSite, user_frame

# The Theano settings the model's code may not change for the check: the precision (the config's
# `precision` says it), and those that would stop or slow the check's compiles without changing the
# model's math: test values computed for every node, float64 refused, the graph optimiser or linker
# switched (optimizer='None' made a small check ten times slower), optimiser errors raised, node
# dumps in error messages. Set in THEANO_FLAGS, they apply.
HELD_SETTINGS = (
    "floatX",
    "compute_test_value",
    "warn_float64",
    "optimizer",
    "mode",
    "linker",
    "on_opt_error",
    "exception_verbosity",
)


@dataclass
class Held:
    """What the model's code tried to set: (setting, value, where: None for a line outside the
    repository), in order."""

    settings: list[tuple[str, str, CallSite | None]] = field(default_factory=list)

    def assigned(self, name: str) -> list[tuple[str, CallSite | None]]:
        return [(value, site) for setting, value, site in self.settings if setting == name]


class _HeldSetting:
    """Stands in for one of Theano's settings: reads the real one, records assignments."""

    def __init__(self, name: str, setting: Any, root: str, held: Held) -> None:
        self.name, self.setting, self.root, self.held = name, setting, root, held

    def __get__(self, config: Any, owner: Any = None) -> Any:
        return self.setting.__get__(config, owner)

    def __set__(self, config: Any, value: Any) -> None:
        site = user_frame(traceback.extract_stack()[:-1], self.root)
        self.held.settings.append((self.name, str(value), site))


@contextmanager
def holding_settings(root: str) -> Iterator[Held]:
    import theano

    held = Held()
    owner = type(theano.config)
    settings = {name: owner.__dict__[name] for name in HELD_SETTINGS if name in owner.__dict__}
    limit = sys.getrecursionlimit()
    for name, setting in settings.items():
        setattr(owner, name, _HeldSetting(name, setting, root, held))
    try:
        yield held
    finally:
        for name, setting in settings.items():
            setattr(owner, name, setting)
        sys.setrecursionlimit(limit)
